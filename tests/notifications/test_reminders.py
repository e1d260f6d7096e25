"""Deadline reminders from the periodic scan: each threshold is reminded of exactly once, however many workers scan
at the same moment (on PostgreSQL they really do run side by side), and each reminder's email arrives once.

Time is moved by the scan's explicit `now` (the same argument `flask notifications send-due --now` passes), so the
workers racing in threads all see the same moment."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select

from disclosure.audit.service import checkpoint_file_name, checkpoint_now
from disclosure.auth import pending
from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.cases.models import Case, NonDisclosureOrder
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.notifications import rules, service
from disclosure.notifications.models import NotificationKind
from disclosure.services import SystemActor
from disclosure.workflow import Action
from tests.factories import make_case, make_user
from tests.notifications.conftest import SmtpServer, body
from tests.notifications.steps import at_once, notifications, workers_drain

SCANNER = SystemActor("test scan")


def scan(now: datetime) -> int:
    result = service.send_due(SCANNER, now)
    db.session.commit()
    return result.created


def two_workers_scan(app, now: datetime) -> int:
    """Two workers run the reminder scan at the same instant; returns how many notifications they created in all."""
    return sum(at_once(app, lambda: scan(now), lambda: scan(now)))


def subjects(inbox, address: str, word: str) -> list[str]:
    return [m["Subject"] for m in inbox.to(address) if word in m["Subject"]]


def test_due_in_3_days_in_1_day_and_overdue_are_each_sent_once_with_two_workers(mail_app, smtp_server: SmtpServer):
    with mail_app.app_context():
        intake, reviewer = make_user("intake"), make_user("reviewer")
        case = make_case(intake)
        cases.assign(db.session.get_one(User, reviewer.id), case, db.session.get_one(User, reviewer.id), None, None)
        db.session.commit()
        reference, due = case.reference, case.due_at
        steps = [
            (due - timedelta(days=4), 0),  # further away than every threshold
            (due - timedelta(days=2, hours=12), 2),  # due in 3 days: the reviewer and the person who logged it
            (due - timedelta(days=2), 0),  # still the 3-day threshold: nothing new
            (due - timedelta(hours=20), 2),  # due in 1 day
            (due - timedelta(hours=1), 0),
            (due + timedelta(hours=1), 2),  # overdue
            (due + timedelta(days=2), 0),
        ]
        for now, created in steps:
            assert two_workers_scan(mail_app, now) == created, now
            workers_drain(mail_app)  # two workers send what was queued

        inbox = smtp_server.inbox
        for person in (intake, reviewer):
            due_soon = [m for m in inbox.to(person.email) if "due soon" in m["Subject"]]
            overdue = [m for m in inbox.to(person.email) if "overdue" in m["Subject"]]
            assert [m["Subject"] for m in due_soon] == [f"[Disclosure] {reference}: A response is due soon"] * 2
            assert "due within 3 days" in body(due_soon[0]) and "due within 1 day." in body(due_soon[1])
            assert len(overdue) == 1 and f"The response to {reference} (Search warrant) is overdue." in body(overdue[0])
        reminders = [n for n in notifications(case_id=case.id) if n.kind in {"due_soon", "overdue"}]
        assert sorted((n.recipient_id, n.threshold) for n in reminders) == sorted(
            (person.id, threshold) for person in (intake, reviewer) for threshold in ("3d", "1d", "overdue")
        )


def test_a_deadline_that_moves_is_reminded_of_again(mail_app):
    with mail_app.app_context():
        case = make_case()
        due = case.due_at
        assert scan(due - timedelta(hours=12)) == 1
        stored = db.session.get_one(Case, case.id)
        stored.due_at = due + timedelta(days=10)
        db.session.commit()
        assert scan(due - timedelta(hours=12)) == 0  # no longer due soon
        assert scan(stored.due_at - timedelta(hours=12)) == 1  # the new date's own reminder


def test_a_closed_or_withdrawn_case_is_not_reminded_of(mail_app):
    with mail_app.app_context():
        intake = make_user("intake")
        case = make_case(intake)
        cases.apply_action(db.session.get_one(User, intake.id), case, Action.WITHDRAW, None, None)
        db.session.commit()
        assert scan(case.due_at + timedelta(hours=1)) == 0


def _noon(day) -> datetime:  # type: ignore[no-untyped-def]
    return datetime.combine(day, time(12, 0), tzinfo=UTC)


def test_a_gag_order_ending_in_30_and_7_days_and_ended(mail_app, smtp_server: SmtpServer):
    with mail_app.app_context():
        intake = make_user("intake")
        case = make_case(intake, non_disclosure_order={"basis": "18 USC 2705(b)", "until": "2027-05-01"})
        order = db.session.execute(select(NonDisclosureOrder).where(NonDisclosureOrder.case_id == case.id)).scalar_one()
        ends = order.expires_on
        assert two_workers_scan(mail_app, _noon(ends - timedelta(days=40))) == 0
        assert two_workers_scan(mail_app, _noon(ends - timedelta(days=25))) == 1
        assert two_workers_scan(mail_app, _noon(ends - timedelta(days=20))) == 0
        assert two_workers_scan(mail_app, _noon(ends - timedelta(days=5))) == 1
        assert two_workers_scan(mail_app, _noon(ends)) == 0  # its last day: not ended yet
        assert two_workers_scan(mail_app, _noon(ends + timedelta(days=1))) == 1
        assert two_workers_scan(mail_app, _noon(ends + timedelta(days=3))) == 0
        workers_drain(mail_app)
        inbox = smtp_server.inbox
        assert sorted(subjects(inbox, intake.email, "non-disclosure")) == [
            f"[Disclosure] {case.reference}: A non-disclosure order has ended",
            f"[Disclosure] {case.reference}: A non-disclosure order is ending",
            f"[Disclosure] {case.reference}: A non-disclosure order is ending",
        ]
        texts = [body(m) for m in inbox.to(intake.email) if "non-disclosure" in m["Subject"]]
        for words in ("ends within 30 days", "ends within 7 days", "the customer may now be told"):
            assert sum(words in text for text in texts) == 1, words


def test_a_notified_customer_ends_the_gag_order_reminders(mail_app):
    with mail_app.app_context():
        intake = make_user("intake")
        case = make_case(intake, non_disclosure_order={"basis": "18 USC 2705(b)", "until": "2027-05-01"})
        order = db.session.execute(select(NonDisclosureOrder).where(NonDisclosureOrder.case_id == case.id)).scalar_one()
        order.customer_notified_at, order.customer_notified_by_id = utcnow(), intake.id
        db.session.commit()
        assert scan(_noon(order.expires_on + timedelta(days=1))) == 0


def test_a_preservation_lapsing_in_7_days_and_in_1_day(mail_app, smtp_server: SmtpServer):
    with mail_app.app_context():
        intake = make_user("intake")
        case = make_case(
            intake, process_type="preservation_request", categories=["account_records"], non_disclosure_order=None
        )
        cases.apply_action(db.session.get_one(User, intake.id), case, Action.PRESERVE, None, None)
        db.session.commit()
        ends = rules.preservation_end(db.session.get_one(Case, case.id))
        assert ends is not None
        preserved_on = utcnow().date()
        assert ends.date() == preserved_on + timedelta(days=90)  # 2703(f): 90 days (the case's zone is UTC)
        assert two_workers_scan(mail_app, ends - timedelta(days=10)) == 0
        assert two_workers_scan(mail_app, ends - timedelta(days=6)) == 1
        assert two_workers_scan(mail_app, ends - timedelta(days=3)) == 0
        assert two_workers_scan(mail_app, ends - timedelta(hours=12)) == 1
        assert two_workers_scan(mail_app, ends - timedelta(hours=2)) == 0
        workers_drain(mail_app)
        texts = [body(m) for m in smtp_server.inbox.to(intake.email) if "preservation" in m["Subject"]]
        assert len(texts) == 2
        for words in ("lapses within 7 days unless it is renewed", "lapses within 1 day unless"):
            assert sum(words in text for text in texts) == 1, words

        cases.apply_action(
            db.session.get_one(User, intake.id),
            db.session.get_one(Case, case.id),
            Action.RENEW_PRESERVATION,
            None,
            None,
        )
        db.session.commit()
        renewed = rules.preservation_end(db.session.get_one(Case, case.id))
        assert renewed == ends + timedelta(days=90)  # one 90-day renewal
        assert scan(renewed - timedelta(days=6)) == 1  # the renewed end is a new deadline


def test_a_change_waiting_a_day_is_brought_up_once_to_the_other_administrators(mail_app, smtp_server: SmtpServer):
    with mail_app.app_context():
        asking, other, third = make_user("admin"), make_user("admin"), make_user("admin")
        target = db.session.get_one(User, make_user("intake").id)
        change = pending.change_roles(db.session.get_one(User, asking.id), target, ["intake", "reviewer"], None)
        db.session.commit()
        assert change is not None
        asked = change.requested_at
        assert {n.recipient_id for n in notifications(kind="change_awaiting")} == {other.id, third.id}
        assert two_workers_scan(mail_app, asked + timedelta(hours=23)) == 0
        assert two_workers_scan(mail_app, asked + timedelta(hours=25)) == 2
        assert two_workers_scan(mail_app, asked + timedelta(hours=49)) == 0
        workers_drain(mail_app)
        assert smtp_server.inbox.to(asking.email) == []
        texts = [body(m) for m in smtp_server.inbox.to(other.email)]
        assert len(texts) == 2 and sum("still waits for a second administrator: grant roles" in t for t in texts) == 1


def test_a_missing_checkpoint_file_alerts_administrators_and_auditors_once(mail_app, smtp_server: SmtpServer):
    with mail_app.app_context():
        admin, auditor, reviewer = make_user("admin"), make_user("auditor"), make_user("reviewer")
        checkpoint = checkpoint_now(SystemActor("test"), "manual")
        db.session.commit()
        folder = Path(mail_app.config["AUDIT_CHECKPOINT_DIR"])
        file = folder / checkpoint_file_name(checkpoint.size)
        assert file.is_file()
        assert two_workers_scan(mail_app, utcnow() + timedelta(minutes=20)) == 0
        file.unlink()
        assert two_workers_scan(mail_app, utcnow() + timedelta(minutes=5)) == 0  # written after its commit: a lag
        assert two_workers_scan(mail_app, utcnow() + timedelta(minutes=20)) == 2
        assert two_workers_scan(mail_app, utcnow() + timedelta(minutes=40)) == 0
        alerts = notifications(kind=NotificationKind.INTEGRITY_ALERT.value)
        assert {n.recipient_id for n in alerts} == {admin.id, auditor.id} and reviewer.id not in {
            n.recipient_id for n in alerts
        }
        assert f"checkpoint of size {checkpoint.size} is missing" in alerts[0].summary
        workers_drain(mail_app)
        assert len(smtp_server.inbox.to(admin.email)) == 1 and len(smtp_server.inbox.to(auditor.email)) == 1


def test_flask_notifications_send_due_runs_the_same_scan(mail_app):
    with mail_app.app_context():
        case = make_case()
        due = case.due_at
    runner = mail_app.test_cli_runner()
    moment = (due - timedelta(hours=12)).isoformat()
    first = runner.invoke(args=["notifications", "send-due", "--now", moment])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "1 new reminder(s); 1 deadline(s) have crossed a threshold"
    again = runner.invoke(args=["notifications", "send-due", "--now", moment])
    assert again.output.strip() == "0 new reminder(s); 1 deadline(s) have crossed a threshold"
    bad = runner.invoke(args=["notifications", "send-due", "--now", "tomorrow"])
    assert bad.exit_code == 2 and "is not a date and time" in bad.output
