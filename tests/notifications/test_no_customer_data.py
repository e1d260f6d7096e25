"""No email and no notification carries customer data: a case's target identifiers (in any spelling), the
officer's details and what its documents say never appear, whatever kind of notice went out."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.cases.models import Case, CaseTarget
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.notifications import service
from disclosure.notifications.models import Delivery, NotificationKind
from disclosure.services import SystemActor
from tests.documents import pdf
from tests.factories import make_user
from tests.notifications.conftest import SmtpServer, body
from tests.notifications.steps import notifications, workers_drain
from tests.production.helpers import approved_case

TARGETS = [
    {"kind": "email", "value": "Zeta.Suspect@Example.NET", "from": "2026-01-01", "to": "2026-06-30"},
    {"kind": "username", "value": "zeta_handle_77", "from": "2026-01-01", "to": "2026-06-30"},
    {"kind": "ip", "value": "203.0.113.77", "from": "2026-01-01", "to": "2026-06-30"},
    {"kind": "domain", "value": "zeta-shop.example", "from": "2026-01-01", "to": "2026-06-30"},
]
OFFICER = {
    "name": "SA Quentin Zebulon",
    "email": "qzebulon@agency.example.gov",
    "phone": "+1 415 555 0199",
    "badge": "Z-9",
}
#: Also kept out: the case's internal notes and its documents' names.
NOTES, DOCUMENT = "Zeta notes on the suspect", "zeta-warrant-scan.pdf"


def test_no_message_body_contains_a_target_identifier(mail_app, smtp_server: SmtpServer):
    with mail_app.app_context():
        make_user("auditor")
        digest_reader = make_user("reviewer")
        service.set_preferences(
            db.session.get_one(User, digest_reader.id), {NotificationKind.ASSIGNED: Delivery.DIGEST}, None
        )
        db.session.commit()
        make_user("producer")
        # Every immediate kind the case can cause: an emergency, an assignment, a decision, ready to produce.
        reference = approved_case(targets=TARGETS, officer=OFFICER, emergency=True)
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        intake = db.session.get_one(User, case.created_by_id)
        cases.update_case(intake, case, cases.CaseChanges(summary=NOTES), None, None)
        cases.add_document(intake, case, "correspondence", pdf(), DOCUMENT, None)
        assigner = db.session.get_one(User, make_user("reviewer").id)
        cases.assign(assigner, case, db.session.get_one(User, digest_reader.id), None, None)
        db.session.commit()
        # Every reminder: due soon, overdue, the gag order ending and ended; and the digest.
        order_ends = case.gag_order.expires_on
        due = case.due_at
        for now in (due - timedelta(hours=12), due + timedelta(hours=1)):
            service.send_due(SystemActor("test"), now)
            db.session.commit()
        for days in (-20, -3, 1):
            service.send_due(SystemActor("test"), datetime.combine(order_ends, time(12), UTC) + timedelta(days=days))
            db.session.commit()
        assert service.make_digests(SystemActor("test"), utcnow() + timedelta(days=1)) == 1
        db.session.commit()
        workers_drain(mail_app)

        identifiers = set()
        for target in db.session.execute(select(CaseTarget).where(CaseTarget.case_id == case.id)).scalars():
            identifiers |= {target.value, target.normalized, target.value.lower()}
        identifiers |= {
            "zeta.suspect",
            "zeta_handle_77",
            "203.0.113.77",
            "zeta-shop",
            "Zebulon",
            "qzebulon",
            "555 0199",
        }
        identifiers |= {NOTES, DOCUMENT, "zeta"}

        received = smtp_server.inbox.messages()
        kinds = {m["Subject"].split(": ", 1)[-1] for m in received}
        assert {
            "An emergency request arrived",
            "A decision was recorded on a case you logged",
            "A response is due soon",
            "A response is overdue",
            "A non-disclosure order is ending",
            "A non-disclosure order has ended",
        } <= kinds, kinds
        assert any("daily digest" in m["Subject"] for m in received)
        assert len(received) >= 10
        for message in received:
            whole = message.as_string().lower()
            for identifier in identifiers:
                assert identifier.lower() not in whole, (identifier, message["Subject"])
            assert reference in body(message) or "digest" in message["Subject"]
        for notification in notifications():
            for identifier in identifiers:
                assert identifier.lower() not in notification.summary.lower()
