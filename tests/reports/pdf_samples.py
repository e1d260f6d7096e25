"""Every PDF the app writes, built from real cases through the services, for the layout and letter tests.

`letter_cases` decides one case per outcome (an approval narrowed to part of what was asked, so that the letter has
refused categories to name); `every_pdf` renders each letter, the transparency report and a dossier as the app does.
"""

from __future__ import annotations

import html
import io
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.review import service as review
from disclosure.review.models import Decision
from disclosure.review.scope import ScopeEntry
from tests.factories import PASSWORD, MadeUser, make_case, make_user

#: The reviewer's internal reason: it stays on file and must never reach the requester.
INTERNAL = "Internal: the officer's last warrant was quashed; counsel M. Okafor thinks this one is weak too."
#: The reviewer's words for the requester.
MESSAGE = "Please send the signed warrant; the copy we received is unsigned."
TARGETS = [
    {"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"},
    {"kind": "username", "value": "a-rather-long-username-for-a-customer-account-2026", "from": "2026-03-01"},
]


def _decide(actor: User, case: Case, outcome: str, **fields: Any) -> Decision:
    current = review.open_review(case)
    evaluation = review.evaluation_for(current)
    categories = fields.pop("categories", tuple(c.value for c in case.categories))
    review.save_worksheet(
        actor,
        current,
        {item.id: {"answer": "yes"} for item in evaluation.checklist},
        {c: {"grounds": ["legal_process" if "content" in c else "law_requires"]} for c in categories},
        "",
        None,
        None,
    )
    scope = [ScopeEntry(t.kind, t.value, categories, None, None) for t in case.targets]
    result = review.decide(actor, current, outcome, password=PASSWORD, ip=None, scope=scope, **fields)
    assert isinstance(result, Decision)
    return result


def letter_cases(reviewer: MadeUser | None = None) -> dict[str, Decision]:
    """One decided case per outcome, committed (in an app context); the decisions by outcome name.

    "approved": a search warrant for subscriber data, stored content and real-time content, approved for
    subscriber data only (stored content refused by the reviewer; real-time content exceeds a warrant).
    """
    from disclosure.cases import service as cases
    from disclosure.workflow import Action

    made = reviewer or make_user("reviewer")
    actor = db.session.get(User, made.id)
    outcomes: dict[str, dict[str, Any]] = {
        "approved": {"categories": ("subscriber_basic",), "text": INTERNAL},
        "rejected": {"reason_codes": ["overbroad", "no_identifier"], "text": INTERNAL},
        "needs_info": {"text": INTERNAL},
        "no_records": {"text": "Searched mail, hosting and billing systems for both identifiers; no account."},
    }
    decisions = {}
    for outcome, fields in outcomes.items():
        case = make_case(
            targets=TARGETS,
            categories=["subscriber_basic", "stored_content", "realtime_content"]
            if outcome == "approved"
            else ["subscriber_basic", "stored_content"],
        )
        cases.apply_action(actor, db.session.get(Case, case.id), Action.START_REVIEW, None, None)
        db.session.commit()
        decisions[outcome] = _decide(actor, db.session.get(Case, case.id), outcome, requester_message=MESSAGE, **fields)
        db.session.commit()
    return decisions


MM = 72 / 25.4


@dataclass(frozen=True)
class Word:
    page: int
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Page:
    width: float
    height: float


def words_of(pdf: bytes) -> tuple[list[Page], list[Word]]:
    """Every word's box on its page (points from the top left), as poppler's pdftotext -bbox places it; it reads
    the glyph widths, which pypdf's text visitor does not give."""
    done = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True)
    pages: list[Page] = []
    words: list[Word] = []
    for chunk in done.stdout.decode("utf-8").split("<page ")[1:]:
        size = re.match(r'width="([\d.]+)" height="([\d.]+)"', chunk)
        assert size is not None
        pages.append(Page(float(size[1]), float(size[2])))
        for x0, y0, x1, y1, text in re.findall(
            r'<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">([^<]*)</word>', chunk
        ):
            words.append(Word(len(pages), html.unescape(text), float(x0), float(y0), float(x1), float(y1)))
    return pages, words


def overflowing(pdf: bytes, side_margin_mm: float, edge_mm: float = 8.0) -> list[str]:
    """Words placed outside the page's media box minus its side margins (left and right), or within `edge_mm` of
    its top or bottom edge (the running footer sits in the bottom margin, so the body margins do not apply there).
    pypdf's media box is the reference; every page must have one of A4's size."""
    reader = PdfReader(io.BytesIO(pdf))
    pages, words = words_of(pdf)
    assert len(pages) == len(reader.pages)
    problems = []
    for word in words:
        box = reader.pages[word.page - 1].mediabox
        width, height = float(box.width), float(box.height)
        left, right = side_margin_mm * MM - 0.5, width - side_margin_mm * MM + 0.5
        top, bottom = edge_mm * MM, height - edge_mm * MM
        if word.x0 < left or word.x1 > right or word.y0 < top or word.y1 > bottom:
            problems.append(f"page {word.page}: {word.text!r} at x {word.x0:.0f}–{word.x1:.0f}, y {word.y0:.0f}")
    return problems


def first_page_png(pdf: bytes, folder: Path) -> bytes:
    """Page 1 rendered by poppler at 60 dpi, as the brief's reviewers looked at it."""
    source = folder / "document.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(source), str(folder / "page")], check=True
    )
    (png,) = folder.glob("page*.png")
    return png.read_bytes()


def every_pdf(app: Any) -> dict[str, tuple[bytes, float]]:
    """Each PDF the app writes, with its side margin in mm: a letter per outcome, the transparency report, and the
    dossier of the approved case (in an app context; commits what it builds)."""
    from datetime import date

    from disclosure.audit.service import checkpoint_now
    from disclosure.clock import utcnow
    from disclosure.reports import render
    from disclosure.reports import service as reports
    from disclosure.review import letters
    from disclosure.services import SystemActor
    from tests.reports.helpers import Staff, build

    documents: dict[str, tuple[bytes, float]] = {}
    decisions = letter_cases()
    for outcome, decision in decisions.items():
        documents[f"letter-{outcome}"] = (letters.letter_pdf(db.session.get(Decision, decision.id)), 20)
    staff = Staff()
    for scenario in ("rejected", "no_records", "content", "noncontent", "withdrawn", "approved"):
        build(staff, scenario)
    for process in ("subpoena", "court_order_2703d", "eu_production_order", "pen_trap_order"):
        build(staff, "received", process_type=process, categories=["subscriber_basic"])
    checkpoint = checkpoint_now(SystemActor("tests"), "report")
    db.session.commit()
    today = utcnow().date()
    report = reports.transparency_report(date(today.year - 1, 1, 1), today, checkpoint)
    documents["transparency"] = (render.transparency_pdf(report, "Example Hosting Ltd"), 16)
    case = db.session.get(Case, decisions["approved"].case_id)
    documents["dossier"] = (render.dossier_pdf(case), 16)
    return documents
