"""Response letters as the requester reads them (issue 16, observed on main): the period in words instead of "as
requested – as requested", a letterhead from settings, the refused categories named with a plain reason, and the
reviewer's message kept apart from the internal reasons, which never reach the letter; a preview before deciding."""

from __future__ import annotations

import io

from pypdf import PdfReader
from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.cases.models import Case, Document
from disclosure.extensions import db
from disclosure.review import letters
from disclosure.review.models import Decision
from disclosure.review.summary import period_in_words
from tests.factories import PASSWORD
from tests.reports.pdf_samples import INTERNAL, MESSAGE, letter_cases
from tests.review.helpers import case_in_review, checklist_ids, confirm_all, post_decision, review_form

#: The smallest valid PNG (1×1, grey).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a49444154789c63680000008200817761ce5a0000000049454e44ae426082"
)


def text_of(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def test_the_period_is_said_in_words():
    assert period_in_words("2026-01-01", "2026-06-30") == "1 January 2026 to 30 June 2026"
    assert period_in_words("2026-03-01", None) == "from 1 March 2026"
    assert period_in_words(None, "2026-06-30") == "up to 30 June 2026"
    assert period_in_words(None, None) == "the whole period the process covers"


def test_an_approval_letter_says_the_period_in_words_and_names_what_it_refuses(app):
    with app.app_context():
        decision = letter_cases()["approved"]
        text = text_of(letters.letter_pdf(db.session.get(Decision, decision.id)))
    assert "as requested" not in text
    assert "1 January 2026 to 30 June 2026" in text and "from 1 March 2026" in text
    assert "Data we will not produce" in text
    assert "Stored content" in text and "On review, we did not find that your process supports" in text
    assert "Real-time content" in text and "This kind of legal process cannot compel this data." in text
    for internal_id in ("exceeds_process", "no_policy_ground", "stored_content", "realtime_content", "search_warrant"):
        assert internal_id not in text


def test_every_letter_carries_the_message_and_never_the_internal_reasons(app):
    with app.app_context():
        for outcome, decision in letter_cases().items():
            stored = db.session.get(Decision, decision.id)
            assert stored.text != "" and stored.requester_message == MESSAGE
            text = text_of(letters.letter_pdf(stored))
            assert MESSAGE in text, outcome
            assert "quashed" not in text and "Okafor" not in text and INTERNAL not in text, outcome
            assert "Searched mail" not in text, outcome


def test_the_letterhead_comes_from_the_settings_with_the_logo_from_the_instance_folder(app):
    logo = f"{app.instance_path}/letterhead/logo.png"
    import os

    os.makedirs(os.path.dirname(logo), exist_ok=True)
    with open(logo, "wb") as handle:
        handle.write(PNG)
    app.config.update(
        LETTERHEAD_NAME="Northwind Hosting GmbH",
        LETTERHEAD_ADDRESS="Rechtsabteilung | Musterstraße 1 | 10115 Berlin",
        LETTERHEAD_EMAIL="legal@northwind.example",
        LETTERHEAD_PHONE="+49 30 1234567",
        LETTERHEAD_LOGO="letterhead/logo.png",
    )
    with app.app_context():
        decision = db.session.get(Decision, letter_cases()["rejected"].id)
        pdf = letters.letter_pdf(decision)
        text = text_of(pdf)
        for expected in ("Northwind Hosting GmbH", "Rechtsabteilung", "Musterstraße 1", "10115 Berlin"):
            assert expected in text
        assert "legal@northwind.example" in text and "+49 30 1234567" in text
        assert len(PdfReader(io.BytesIO(pdf)).pages[0].images) == 1
        # A logo outside the instance folder is never read: the letter goes without it.
        app.config["LETTERHEAD_LOGO"] = "/etc/hostname"
        assert len(PdfReader(io.BytesIO(letters.letter_pdf(decision))).pages[0].images) == 0
        app.config["LETTERHEAD_LOGO"] = "../../../../etc/passwd"
        assert letters.letterhead().logo is None


def _approve_form(client, app, reference, **fields):
    items = confirm_all(checklist_ids(app, reference))
    return review_form(
        client,
        reference,
        outcome="approved",
        password=PASSWORD,
        checks=items,
        grounds={"subscriber_basic": "law_requires"},
        scope={0: ["subscriber_basic"]},
        **fields,
    )


def test_the_review_form_keeps_the_message_apart_from_the_internal_reasons(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    page = client.get(f"/cases/{reference}/review").get_data(as_text=True)
    assert "Message to the requester (goes in the letter)" in page and "never in the letter" in page
    data = _approve_form(client, app, reference, decide="1", text=INTERNAL, requester_message=MESSAGE)
    assert client.post(f"/cases/{reference}/review", data=data).status_code == 302
    with app.app_context():
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        decision = db.session.execute(select(Decision).where(Decision.case_id == case.id)).scalar_one()
        assert decision.text == INTERNAL and decision.requester_message == MESSAGE
        letter = db.session.execute(select(Document).where(Document.kind == "response_letter")).scalar_one()
        letter_id = letter.id
    text = text_of(client.get(f"/cases/{reference}/documents/{letter_id}").get_data())
    assert MESSAGE in text and "quashed" not in text
    assert "Stored content" in text and "Data we will not produce" in text


def test_asking_for_more_needs_a_message_for_the_requester(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    refused = post_decision(client, reference, outcome="needs_info", text="Internal only.")
    assert refused.status_code == 400
    assert "Write the message to the requester" in refused.get_data(as_text=True)


def test_the_letter_is_previewed_without_recording_anything(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
        events = db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    data = _approve_form(client, app, reference, preview="1", text=INTERNAL, requester_message=MESSAGE)
    response = client.post(f"/cases/{reference}/review/letter-preview", data=data)
    assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
    assert response.headers["Content-Security-Policy"].startswith("sandbox;")
    html = response.get_data(as_text=True)
    assert "Preview: nothing has been recorded" in html
    assert MESSAGE in html and "quashed" not in html
    assert "1 January 2026 to 30 June 2026" in html and "Data we will not produce" in html
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == events
        assert db.session.execute(select(func.count()).select_from(Decision)).scalar_one() == 0
        assert db.session.execute(select(func.count()).select_from(Document)).scalar_one() == 0
    # The page offers the preview beside "Record decision".
    page = client.get(f"/cases/{reference}/review").get_data(as_text=True)
    assert f'formaction="/cases/{reference}/review/letter-preview"' in page
