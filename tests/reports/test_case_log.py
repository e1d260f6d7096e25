"""The case log state: the fold from case events, the projection written beside each event, its check against
the signed bodies (`flask report check`), and the database's refusal to change it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from disclosure.audit.service import checkpoint_now
from disclosure.cases import service as cases
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.reports.case_log import LogState, advance, check
from disclosure.reports.models import CaseLogState
from disclosure.services import SystemActor
from tests.reports.helpers import Staff, build

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_the_fold_follows_a_case_from_intake_to_disclosure():
    created = advance(None, "case.create", T0, {"request": {"non_disclosure_order": None}})
    assert created == LogState()
    reviewed = advance(created, "case.transition", T0, {"from": "received", "to": "in_review"})
    approved = advance(reviewed, "case.transition", T0 + timedelta(days=2), {"from": "in_review", "to": "approved"})
    produced = advance(approved, "production.record_added", T0, {"category": "subscriber_basic"})
    content = advance(produced, "production.record_added", T0, {"category": "stored_content"})
    more = advance(content, "production.record_added", T0, {"category": "account_records"})
    disclosed = advance(more, "case.transition", T0 + timedelta(days=5), {"from": "producing", "to": "disclosed"})
    assert (produced.produced, produced.content_produced) == (True, False)
    assert more.content_produced  # once content, always content
    assert disclosed.state == "disclosed" and disclosed.previous_state == "producing"
    assert disclosed.decided_at == T0 + timedelta(days=2) and disclosed.disclosed_at == T0 + timedelta(days=5)
    reopened = advance(disclosed, "case.transition", T0 + timedelta(days=9), {"from": "disclosed", "to": "approved"})
    assert reopened.decided_at == T0 + timedelta(days=2)  # the first decision counts


def test_finding_no_records_is_the_decision_time_and_not_a_production():
    created = advance(None, "case.create", T0, {"request": {"non_disclosure_order": None}})
    reviewed = advance(
        created, "case.transition", T0, {"action": "start_review", "from": "received", "to": "in_review"}
    )
    found = {"action": "no_records", "from": "in_review", "to": "closed", "outcome": "no_records"}
    closed = advance(reviewed, "case.transition", T0 + timedelta(days=3), found)
    assert closed is not None
    assert (closed.state, closed.previous_state, closed.decided_at) == ("closed", "in_review", T0 + timedelta(days=3))
    assert not closed.produced and closed.disclosed_at is None
    # Closing after an approval is not a decision of its own: the approval's time stands.
    approved = advance(reviewed, "case.transition", T0, {"action": "approve", "from": "in_review", "to": "approved"})
    later = advance(
        approved, "case.transition", T0 + timedelta(days=9), {"action": "close", "from": "approved", "to": "closed"}
    )
    assert later is not None and later.decided_at == T0


def test_the_fold_reads_gag_orders_at_intake_and_later():
    indefinite = {"request": {"non_disclosure_order": {"basis": "2705(b)", "until": None}}}
    dated = {"request": {"non_disclosure_order": {"basis": "2705(b)", "until": "2027-01-01"}}}
    assert advance(None, "case.create", T0, indefinite).indefinite_ndo
    assert not advance(None, "case.create", T0, dated).indefinite_ndo
    state = advance(None, "case.create", T0, {"request": {}})
    state = advance(state, "ndo.set", T0, {"expires_on": "indefinite"})
    assert state.indefinite_ndo
    state = advance(state, "ndo.renew", T0, {"diff": {"expires_on": {"from": "indefinite", "to": "2027-06-30"}}})
    assert not state.indefinite_ndo


def test_events_before_the_case_was_created_are_not_counted():
    assert advance(None, "case.transition", T0, {"from": "received", "to": "in_review"}) is None
    assert advance(None, "production.record_added", T0, {"category": "stored_content"}) is None


@pytest.fixture
def worked(app):
    """Cases driven through the services: the projection writes the rows as the events are appended."""
    with app.app_context():
        staff = Staff()
        disclosed = build(staff, "content").reference
        rejected = build(staff, "rejected_closed").reference
        gagged = build(staff, "received")
        order = cases.set_gag_order(
            staff.user(staff.intake), db.session.get(Case, gagged.id), "2705(b)", date(2026, 1, 1), None, None
        )
        cases.renew_gag_order(staff.user(staff.intake), order, date(2027, 1, 1), None)
        db.session.commit()
        return {"disclosed": disclosed, "rejected": rejected, "gagged": gagged.reference}


def rows_of(reference: str) -> list[CaseLogState]:
    statement = sa.select(CaseLogState).where(CaseLogState.reference == reference).order_by(CaseLogState.seq)
    return list(db.session.execute(statement).scalars())


def test_services_write_the_state_beside_each_case_event(app, worked):
    with app.app_context():
        disclosed = rows_of(worked["disclosed"])
        assert disclosed[0].state == "received" and disclosed[-1].state == "disclosed"
        assert disclosed[-1].content_produced and disclosed[-1].decided_at and disclosed[-1].disclosed_at
        rejected = rows_of(worked["rejected"])[-1]
        assert (rejected.state, rejected.previous_state, rejected.produced) == ("closed", "rejected", False)
        gagged = [row.indefinite_ndo for row in rows_of(worked["gagged"])]
        assert gagged == [False, True, False]  # none at intake, set without an end, renewed with one
        checked, mismatch = check(db.session.connection())
        assert mismatch is None and checked == db.session.query(CaseLogState).count() > 10


def run_check(app, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["report", "check", *args])
    return result.exit_code, result.output


def tamper(app, backend: str, sql: str, **params: object) -> None:
    """Raw SQL with the append-only triggers out of the way, as a database administrator could."""
    with app.app_context(), db.engine.begin() as connection:
        if backend == "postgresql":
            connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(sa.text("DROP TRIGGER IF EXISTS case_log_state_no_update"))
            connection.execute(sa.text("DROP TRIGGER IF EXISTS case_log_state_no_delete"))
        connection.execute(sa.text(sql), params)


def last_seq(app, reference: str) -> int:
    with app.app_context():
        return rows_of(reference)[-1].seq


def test_check_passes_on_an_untouched_log(app, worked):
    code, output = run_check(app)
    assert code == 0 and "consistent:" in output and "rows match the audit log" in output


def test_check_names_an_edited_state(app, backend, worked):
    seq = last_seq(app, worked["rejected"])
    tamper(app, backend, "UPDATE case_log_state SET previous_state = 'approved' WHERE seq = :seq", seq=seq)
    code, output = run_check(app)
    assert code == 1
    assert f"MISMATCH at seq {seq}" in output and "previous_state is 'approved', the log says 'rejected'" in output


def test_check_names_a_deleted_state(app, backend, worked):
    seq = last_seq(app, worked["disclosed"])
    tamper(app, backend, "DELETE FROM case_log_state WHERE seq = :seq", seq=seq)
    code, output = run_check(app)
    assert code == 1 and f"MISMATCH at seq {seq}: no stored state for {worked['disclosed']}" in output


def test_check_names_a_state_no_event_explains(app, backend, worked):
    with app.app_context():
        signed_in = db.session.execute(
            sa.text("SELECT min(seq) FROM audit_event WHERE action LIKE 'user.%'")
        ).scalar_one()
    tamper(
        app,
        backend,
        "INSERT INTO case_log_state (seq, reference, state, produced, content_produced, indefinite_ndo) "
        "VALUES (:seq, 'DR-2026-99999', 'disclosed', true, true, false)",
        seq=signed_in,
    )
    code, output = run_check(app)
    assert code == 1 and f"MISMATCH at seq {signed_in}: a stored state that no case event explains" in output


def test_check_up_to_a_checkpoint_ignores_later_rows(app, backend, worked):
    with app.app_context():
        pinned = checkpoint_now(SystemActor("tests"), "report")
        db.session.commit()
        pinned_id = pinned.id
        later = build(Staff(), "rejected").reference
    seq = last_seq(app, later)
    tamper(app, backend, "UPDATE case_log_state SET state = 'approved' WHERE seq = :seq", seq=seq)
    assert run_check(app, "--checkpoint", str(pinned_id))[0] == 0
    assert run_check(app)[0] == 1


def test_check_refuses_an_unknown_checkpoint(app):
    code, output = run_check(app, "--checkpoint", "999")
    assert code == 2 and "--checkpoint: there is no audit checkpoint 999" in output


@pytest.mark.parametrize("sql", ["UPDATE case_log_state SET state = 'closed'", "DELETE FROM case_log_state"])
def test_the_database_refuses_changes(app, worked, sql):
    with app.app_context():
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(sa.text(sql))
        db.session.rollback()
