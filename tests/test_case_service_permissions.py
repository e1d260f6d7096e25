"""Every service that changes a case, its review or its production calls `require`: the view's decorator is the
first gate, never the only one. Each is called by an actor whose roles lack the permission (an auditor, who may read
everything and change nothing) and by a command-line operator, and must refuse with nothing written to the log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.cases.models import Case, Document
from disclosure.extensions import db
from disclosure.production import bundles
from disclosure.production import service as production
from disclosure.production.models import Bundle, RecipientCertificate
from disclosure.review import letters
from disclosure.review import service as review
from disclosure.services import NotPermitted, SystemActor
from disclosure.workflow import Action
from tests.factories import PASSWORD, make_case, make_user
from tests.production.helpers import approved_case, rsa_certificate

Call = Callable[[Any, dict[str, Any]], object]


def _prepare() -> dict[str, Any]:
    """One case of each kind a service acts on, committed."""
    reference = approved_case()
    approved = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
    received = make_case()
    order = received.gag_order  # the example request carries a non-disclosure order
    assert order is not None
    document = Document(
        case_id=received.id,
        kind="correspondence",
        filename="a.pdf",
        content_type="application/pdf",
        size=1,
        sha256="0" * 64,
        blob_name="x",
        uploaded_by_id=received.created_by_id,
    )
    db.session.add(document)
    certificate = RecipientCertificate(
        agency_id=approved.agency_id,
        label="FBI",
        pem=rsa_certificate()[0].decode(),
        fingerprint="f" * 64,
        subject="CN=FBI",
        not_after=approved.received_at.replace(year=2030),
        added_by_id=approved.created_by_id,
    )
    db.session.add(certificate)
    db.session.commit()
    in_review = make_case()
    reviewer = db.session.get(User, make_user("reviewer").id)
    cases.apply_action(reviewer, in_review, Action.START_REVIEW, None, None)
    db.session.commit()
    return {
        "received": received,
        "approved": approved,
        "in_review": in_review,
        "review": review.open_review(in_review),
        "order": order,
        "document": document,
        "certificate": certificate,
        "bundle": Bundle(case=approved, public_id="b" * 32, kind="production"),
        "reviewer": reviewer,
    }


CALLS: dict[str, Call] = {
    "log a request": lambda a, o: cases.log_request(a, review.request_of(o["received"])),
    "edit a case": lambda a, o: cases.update_case(a, o["received"], cases.CaseChanges(summary="x"), None, None),
    "start a review": lambda a, o: cases.apply_action(a, o["received"], Action.START_REVIEW, None, None),
    "withdraw a case": lambda a, o: cases.apply_action(a, o["received"], Action.WITHDRAW, None, None),
    "assign a case": lambda a, o: cases.assign(a, o["received"], o["reviewer"], None, None),
    "upload a document": lambda a, o: cases.add_document(a, o["received"], "correspondence", b"%PDF", "a.pdf", None),
    "download a document": lambda a, o: cases.record_download(a, o["document"], None),
    "set a gag order": lambda a, o: cases.set_gag_order(a, o["in_review"], "2705(b)", date(2026, 1, 1), None, None),
    "renew a gag order": lambda a, o: cases.renew_gag_order(a, o["order"], None, None),
    "record the customer notified": lambda a, o: cases.record_customer_notified(a, o["order"], date(2030, 1, 1), None),
    "save a worksheet": lambda a, o: review.save_worksheet(a, o["review"], {}, {}, "", None, None),
    "decide": lambda a, o: review.decide(a, o["review"], "needs_info", password=PASSWORD, ip=None, text="more"),
    "write a decision letter": lambda a, o: letters.create_letter(a, review.decisions_of(o["approved"])[-1], None),
    "add a record": lambda a, o: production.add_record(
        a, o["approved"], o["approved"].targets[0].value, "subscriber_basic", [b"x"], "x.txt", None
    ),
    "add a certificate": lambda a, o: production.add_recipient_certificate(
        a, o["approved"].agency, "FBI", rsa_certificate()[0], None
    ),
    "revoke a certificate": lambda a, o: production.revoke_recipient_certificate(a, o["certificate"], None),
    "build a bundle": lambda a, o: bundles.build_case_bundle(a, o["approved"], [], True, None),
    "mark a bundle delivered": lambda a, o: production.mark_delivered(
        a, o["bundle"], None, production.Delivery("portal", date.today(), "SA J. Doe")
    ),
    "download a bundle": lambda a, o: production.record_download(a, o["bundle"], None),
    "purge expired bundles": lambda a, o: production.purge_expired(a),
}
#: Reading is what an auditor does; a download is recorded, but changes nothing.
READER_MAY = {"download a document"}
#: What an operator may do from the command line without naming a person.
OPERATOR_MAY = {"add a certificate", "revoke a certificate", "purge expired bundles"}


def _log_size() -> int:
    return int(db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


@pytest.mark.parametrize("what", sorted(set(CALLS) - READER_MAY))
def test_a_reader_cannot_change_anything_through_a_service(app, what: str) -> None:
    with app.app_context():
        objects = _prepare()
        auditor = db.session.get(User, make_user("auditor").id)
        before = _log_size()
        with pytest.raises(NotPermitted):
            CALLS[what](auditor, objects)
        db.session.rollback()
        assert _log_size() == before


@pytest.mark.parametrize("what", sorted(set(CALLS) - OPERATOR_MAY))
def test_an_operator_cannot_act_on_a_case_without_naming_a_person(app, what: str) -> None:
    with app.app_context():
        objects = _prepare()
        before = _log_size()
        with pytest.raises(NotPermitted, match="--as EMAIL"):
            CALLS[what](SystemActor("flask something"), objects)
        db.session.rollback()
        assert _log_size() == before
