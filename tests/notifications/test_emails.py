"""Email notifications read from a real SMTP server: who is told of what, in words that carry no customer data,
with the deadline in the reader's time zone and a link; a relay that is down is tried again and never holds up the
action that caused the email; each person's choice of immediate or daily digest is kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.jobs.models import Job, JobState
from disclosure.notifications import service
from disclosure.notifications.models import Delivery, MessageState, NotificationKind
from disclosure.services import NotPermitted, SystemActor
from disclosure.timezones import text as time_text
from tests.factories import make_case, make_user
from tests.notifications.conftest import EXTERNAL_URL, SmtpServer, body
from tests.notifications.steps import messages, notifications, run_worker, workers_drain

EMERGENCY = {"emergency": True}


def case_named(reference: str) -> Case:
    return db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()


def test_an_emergency_emails_every_active_reviewer_at_once(mail_app, smtp_server: SmtpServer):
    with mail_app.app_context():
        paris = make_user("reviewer")
        db.session.get_one(User, paris.id).time_zone = "Europe/Paris"
        db.session.commit()
        tokyo = make_user("reviewer")
        db.session.get_one(User, tokyo.id).time_zone = "Asia/Tokyo"
        db.session.commit()
        away = make_user("reviewer", active=False)
        producer = make_user("producer")
        intake = make_user("intake")
        case = make_case(intake, **EMERGENCY)
        reference, due = case.reference, case.due_at
        assert workers_drain(mail_app) == 2  # one job per email

        inbox = smtp_server.inbox
        assert {m["X-Envelope-To"] for m in inbox.messages()} == {paris.email, tokyo.email}
        assert inbox.to(away.email) == [] and inbox.to(producer.email) == [] and inbox.to(intake.email) == []
        for reader, zone_name in ((paris, "Europe/Paris"), (tokyo, "Asia/Tokyo")):
            (message,) = inbox.to(reader.email)
            text = body(message)
            assert message["Subject"] == f"[Disclosure] {reference}: An emergency request arrived"
            assert message["From"] == "Disclosure <disclosure@legal.example.net>"
            assert f"Emergency request {reference} (Search warrant) needs a reviewer now." in text
            assert f"Deadline: {time_text(due, zone_name)} (your time zone, {zone_name})" in text
            assert f"Open it: {EXTERNAL_URL}/cases/{reference}" in text
        sent = messages()
        assert {(m.delivery, m.attempts) for m in sent} == {(MessageState.SENT.value, 1)}
        assert all(m.result.startswith("250 ") and m.sent_at is not None for m in sent)
        assert {m.kind for m in sent} == {NotificationKind.EMERGENCY_RECEIVED.value}
        assert all(m.case_id == case_named(reference).id for m in sent)


def test_without_the_app_address_the_email_says_there_is_no_link(mail_app, smtp_server: SmtpServer):
    mail_app.config["EXTERNAL_URL"] = None
    with mail_app.app_context():
        reviewer = make_user("reviewer")
        reference = make_case(**EMERGENCY).reference
        run_worker()
        text = body(smtp_server.inbox.to(reviewer.email)[0])
        assert "http" not in text
        assert "No link: the address of Disclosure is not configured" in text
        assert "DISCLOSURE_EXTERNAL_URL" in text and f"find case {reference}" in text


def test_an_action_rolled_back_tells_nobody(mail_app, smtp_server: SmtpServer):
    with mail_app.app_context():
        make_user("reviewer")
        intake = db.session.get_one(User, make_user("intake").id)
        from disclosure.policy.request import parse_request
        from tests.factories import request_document

        cases.log_request(intake, parse_request(request_document(emergency=True), now=utcnow()))
        db.session.rollback()
        assert notifications() == [] and messages() == []
        assert db.session.execute(select(Job)).first() is None
        run_worker()
        assert smtp_server.inbox.messages() == []


def test_each_event_reaches_the_people_it_concerns(mail_app, smtp_server: SmtpServer):
    """Assigned to you; decision recorded (to the case's logger); ready to produce (to producers); the requester
    answered (to the assigned reviewer); a change awaiting a second administrator; the log failing verification
    (administrators and auditors). Nobody is told of their own act."""
    from tests.production.helpers import approved_case

    with mail_app.app_context():
        producer = make_user("producer")
        auditor = make_user("auditor")
        admin, second_admin = make_user("admin"), make_user("admin")
        intake = make_user("intake")
        reviewer, other_reviewer = make_user("reviewer"), make_user("reviewer")

        case = make_case(intake)
        cases.assign(
            db.session.get_one(User, reviewer.id), case, db.session.get_one(User, other_reviewer.id), None, None
        )
        cases.assign(db.session.get_one(User, reviewer.id), case, db.session.get_one(User, reviewer.id), None, None)
        db.session.commit()
        assert [(n.recipient_id, n.kind) for n in notifications(case_id=case.id)] == [
            (other_reviewer.id, "assigned")  # claiming a case oneself tells nobody
        ]

        reference = approved_case()
        approved = case_named(reference)
        kinds = {(n.recipient_id, n.kind) for n in notifications(case_id=approved.id)}
        assert (approved.created_by_id, "decision_recorded") in kinds
        assert (producer.id, "ready_to_produce") in kinds
        assert approved.decided_by_id not in {user for user, _ in kinds}

        waiting = make_case(intake, targets=[])  # logged without targets: waits for the requester
        cases.assign(db.session.get_one(User, intake.id), waiting, db.session.get_one(User, reviewer.id), None, None)
        db.session.commit()
        from disclosure.workflow import Action

        cases.apply_action(
            db.session.get_one(User, intake.id), case_named(waiting.reference), Action.REQUESTER_ANSWERED, None, None
        )
        db.session.commit()
        answered = [n for n in notifications(case_id=waiting.id) if n.kind == "needs_info_answered"]
        assert [n.recipient_id for n in answered] == [reviewer.id]

        from disclosure.auth import pending

        target = db.session.get_one(User, make_user("intake").id)
        pending.change_roles(db.session.get_one(User, admin.id), target, ["intake", "reviewer"], None)
        db.session.commit()
        awaiting = notifications(kind="change_awaiting")
        assert [n.recipient_id for n in awaiting] == [second_admin.id]
        assert awaiting[0].subject.startswith("change:")

        record(SystemActor("flask audit verify"), AuditAction.AUDIT_VERIFIED, "audit", {"size": 9}, outcome="failure")
        db.session.commit()
        alerted = {n.recipient_id for n in notifications(kind="integrity_alert")}
        assert alerted == {auditor.id, admin.id, second_admin.id}

        workers_drain(mail_app)
        inbox = smtp_server.inbox
        assert [m["Subject"] for m in inbox.to(other_reviewer.email)] == [
            f"[Disclosure] {case.reference}: A case was assigned to you"
        ]
        (change_mail,) = [m for m in inbox.to(second_admin.email) if "change" in m["Subject"]]
        assert f"Open it: {EXTERNAL_URL}/admin/changes" in body(change_mail)
        (alert,) = [m for m in inbox.to(auditor.email) if "audit log" in m["Subject"]]
        assert "FAILED verification" in body(alert) and f"{EXTERNAL_URL}/audit/checkpoint" in body(alert)
        assert all(m.status is MessageState.SENT for m in messages())


def test_a_relay_that_is_down_is_tried_again_and_the_action_still_succeeded(mail_app, smtp_server: SmtpServer):
    smtp_server.stop()  # the relay is down when the emergency arrives
    with mail_app.app_context():
        reviewer = make_user("reviewer")
        reference = make_case(**EMERGENCY).reference
        assert case_named(reference).emergency  # the case was logged all the same

        run_worker()
        (message,) = messages()
        assert (message.delivery, message.attempts) == (MessageState.QUEUED.value, 1)
        assert "could not reach 127.0.0.1" in message.result
        job = db.session.execute(select(Job).where(Job.kind == "notifications.send")).scalar_one()
        assert job.status is JobState.QUEUED and job.attempts == 1
        assert job.run_after > utcnow() + timedelta(seconds=20)  # the job system's backoff: 30 s

        smtp_server.start()
        assert run_worker() == 0  # not before its time
        job.run_after = utcnow()
        db.session.commit()
        assert run_worker() == 1
        (message,) = messages()
        assert (message.delivery, message.attempts) == (MessageState.SENT.value, 2)
        assert message.result.startswith("250 ")
        assert [m["X-Envelope-To"] for m in smtp_server.inbox.messages()] == [reviewer.email]


def test_a_relay_that_stays_down_fails_the_email_after_its_attempts_and_says_why(mail_app, smtp_server: SmtpServer):
    smtp_server.stop()
    with mail_app.app_context():
        make_user("reviewer")
        make_case(**EMERGENCY)
        job = db.session.execute(select(Job).where(Job.kind == "notifications.send")).scalar_one()
        for _ in range(job.max_attempts):
            db.session.expire_all()
            job.run_after = utcnow()
            db.session.commit()
            run_worker()
        db.session.expire_all()
        assert job.status is JobState.FAILED
        (message,) = messages()
        assert (message.delivery, message.attempts) == (MessageState.FAILED.value, job.max_attempts)


def test_a_digest_preference_is_kept_and_a_day_comes_in_one_email(mail_app, smtp_server: SmtpServer):
    with mail_app.app_context():
        reviewer = make_user("reviewer")
        user = db.session.get_one(User, reviewer.id)
        user.time_zone = "America/New_York"
        service.set_preferences(user, {NotificationKind.ASSIGNED: Delivery.DIGEST}, None)
        db.session.commit()
        assigner = db.session.get_one(User, make_user("reviewer").id)
        references = []
        for _ in range(3):
            case = make_case()
            cases.assign(assigner, case, db.session.get_one(User, reviewer.id), None, None)
            db.session.commit()
            references.append(case.reference)
        emergency = make_case(**EMERGENCY).reference  # always at once, whatever else is chosen
        workers_drain(mail_app)
        assert [m["Subject"] for m in smtp_server.inbox.to(reviewer.email)] == [
            f"[Disclosure] {emergency}: An emergency request arrived"
        ]
        waiting = [n for n in notifications(recipient_id=reviewer.id) if n.kind == "assigned"]
        assert len(waiting) == 3 and {n.delivery for n in waiting} == {"digest"}
        assert all(n.message_id is None for n in waiting)

        assert service.make_digests(SystemActor("test")) == 0  # the day is not over where they are
        db.session.commit()
        tomorrow = utcnow() + timedelta(days=1)
        assert service.make_digests(SystemActor("test"), tomorrow) == 1
        assert service.make_digests(SystemActor("test"), tomorrow) == 0  # once a day, however often it runs
        db.session.commit()
        workers_drain(mail_app)
        digests = [m for m in smtp_server.inbox.to(reviewer.email) if "digest" in m["Subject"]]
        assert len(digests) == 1
        day = tomorrow.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")).date() - timedelta(days=1)
        assert digests[0]["Subject"] == f"[Disclosure] Your daily digest for {day.isoformat()}: 3 notifications"
        text = body(digests[0])
        assert all(f"{EXTERNAL_URL}/cases/{reference}" in text for reference in references)
        assert text.count("was assigned to you") == 3
        assert {n.message_id for n in notifications(recipient_id=reviewer.id, kind="assigned")} == {messages()[-1].id}


def test_emergencies_and_integrity_alerts_cannot_be_put_off(mail_app):
    with mail_app.app_context():
        user = db.session.get_one(User, make_user("auditor").id)
        for kind in (NotificationKind.EMERGENCY_RECEIVED, NotificationKind.INTEGRITY_ALERT):
            with pytest.raises(service.NotificationError, match="always emailed at once"):
                service.set_preferences(user, {kind: Delivery.DIGEST}, None)
            db.session.rollback()
        with pytest.raises(NotPermitted):
            service.set_preferences(SystemActor("cli"), {NotificationKind.ASSIGNED: Delivery.DIGEST}, None)


def test_without_a_relay_and_outside_development_no_email_is_queued(app):
    with app.app_context():
        reviewer = make_user("reviewer")
        make_case(**EMERGENCY)
        (notice,) = notifications()
        assert notice.recipient_id == reviewer.id and notice.message_id is None
        assert messages() == [] and db.session.execute(select(Job)).first() is None


def test_development_without_a_relay_prints_the_email(app, capsys):
    app.config["DEV_MODE"] = True
    with app.app_context():
        reviewer = make_user("reviewer")
        reference = make_case(**EMERGENCY).reference
        run_worker()
        printed = capsys.readouterr().out
        assert f"To: {reviewer.email}" in printed and reference in printed
        assert "(development: printed, not sent)" in printed
        (message,) = messages()
        assert message.delivery == "sent" and "printed to the console" in message.result
