"""Notifications and reminders: what people are told of, in the app and by email (issue 19).

Immediate notices are derived from the audit log's events (every action writes one): `service` collects the
events of a transaction and, at its commit, `rules` says who is told of what; the notification rows land in that
same transaction, so an action rolled back tells nobody. Deadline reminders come from a periodic scan. A unique
key per event, threshold and recipient means nobody is told twice, however many workers scan at once. Each email
is a background job (`mail`), retried with backoff; sending never holds up the action that caused it.
"""
