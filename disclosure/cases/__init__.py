"""Intake and the case life cycle: cases, targets, documents, non-disclosure orders, queues."""
