"""The case log state: what the audit log says each case looked like after each event that touched it.

One row per case event the transparency report depends on (intake, transitions, production records, gag
orders), written by the audit log's projection (disclosure.reports.case_log) in the same transaction as the
event, with the event's seq as its key. A report "as of checkpoint N" reads each case's latest row with
seq <= N: integer and short-string columns, no JSON to parse, so a report over a million cases is one grouped
query. The rows are derived data: `flask report check` recomputes them from the signed event bodies and names
the first that differs, and the database refuses UPDATE and DELETE on them as on the log itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from disclosure.audit.ddl import protect
from disclosure.extensions import db


class CaseLogState(db.Model):  # type: ignore[name-defined]
    __tablename__ = "case_log_state"
    __table_args__ = (Index("ix_case_log_state_reference_seq", "reference", "seq"),)

    #: The audit event this row was derived from. Not a foreign key: the row is derived data that
    #: `flask report check` proves against its event, and a key would put this table in the way of the log's own
    #: refusals (PostgreSQL checks a key before the TRUNCATE trigger runs).
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    reference: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(30))
    previous_state: Mapped[str | None] = mapped_column(String(30), default=None)
    produced: Mapped[bool] = mapped_column(default=False)
    content_produced: Mapped[bool] = mapped_column(default=False)
    indefinite_ndo: Mapped[bool] = mapped_column(default=False)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    disclosed_at: Mapped[datetime | None] = mapped_column(default=None)


protect(CaseLogState)
