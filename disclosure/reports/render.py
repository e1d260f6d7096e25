"""Report outputs: CSV, server-rendered SVG bar charts, and PDFs (PDF/A-3b) through the static-only fetcher.

Every piece of text that reaches SVG or HTML goes through escaping (markupsafe, Jinja autoescape); the PDF
fetcher refuses anything but our own static files and data: URLs, so hostile text cannot pull in a local file.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Sequence
from typing import Any

from flask import render_template
from markupsafe import Markup, escape
from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.pdf import StaticOnlyFetcher, render_pdf
from disclosure.policy.vocabulary import Category, TargetKind
from disclosure.presentation import document_kind, event_sentence
from disclosure.reports.transparency import Cell, TransparencyReport, band, public_rows, shown, shown_share
from disclosure.review.summary import period_in_words

PDF_VARIANT = "pdf/a-3b"
#: Characters of a chart label per line (11 px DejaVu Sans in the 230 px label column).
CHART_LABEL_CHARS = 34


def transparency_csv(report: TransparencyReport) -> bytes:
    """The published report as CSV: section, figure, value (suppression and bands applied)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["section", "figure", "value"])
    for section, label, value in public_rows(report):
        # A leading = + - @ would make a spreadsheet run the cell as a formula.
        writer.writerow([_inert(section), _inert(label), _inert(value)])
    return buffer.getvalue().encode("utf-8")


def _inert(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def chart_label_lines(label: str, width: int = CHART_LABEL_CHARS) -> list[str]:
    """A chart label broken into lines at spaces (a word longer than a line is cut into pieces): never shortened."""
    return textwrap.wrap(label, width, break_long_words=True, break_on_hyphens=False) or [""]


def bar_chart(
    cells: Sequence[Cell],
    suppress_below: int | None = None,
    width: int = 560,
    label_width: int = 230,
    label_chars: int = CHART_LABEL_CHARS,
) -> Markup:
    """A horizontal bar chart as inline SVG, with presentation attributes only (no style, no script).

    Labels are written out in full, on as many lines as they need (a row grows with its label). With
    `suppress_below`, suppressed counts draw no bar and read "< N", as in the published report.
    """
    line, pad, gap = 13, 5, 4
    bar_space = width - label_width - 60
    counts = [c.count if suppress_below is None or c.count >= suppress_below else 0 for c in cells]
    top = max(counts, default=0) or 1
    labels = [chart_label_lines(cell.label, label_chars) for cell in cells]
    heights = [line * len(lines) + pad for lines in labels]
    height = max(sum(heights), line + pad)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="bar chart">'
    ]
    y = 0
    for cell, count, lines, row in zip(cells, counts, labels, heights, strict=True):
        length = round(bar_space * count / top)
        value = str(cell.count) if suppress_below is None else shown(cell.count, suppress_below)
        spans = "".join(
            f'<tspan x="0" y="{y + line * (index + 1)}">{escape(text)}</tspan>' for index, text in enumerate(lines)
        )
        parts.append(f'<text font-size="11" fill="#1f2933">{spans}</text>')
        parts.append(
            f'<rect x="{label_width}" y="{y + gap // 2}" width="{length}" height="{line + pad - gap}" '
            f'fill="#2f5d8a"><title>{escape(cell.label)}: {escape(value)}</title></rect>'
        )
        parts.append(
            f'<text x="{label_width + length + 4}" y="{y + line}" font-size="11" fill="#1f2933">{escape(value)}</text>'
        )
        y += row
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text and attribute above is escaped


def pdf_from_html(html: str, fetcher: StaticOnlyFetcher | None = None) -> bytes:
    """A report's HTML (transparency_html, dossier_html) as PDF/A-3b. Reads nothing from the database, so a job
    renders it holding no transaction."""
    return render_pdf(html, fetcher or StaticOnlyFetcher(), pdf_variant=PDF_VARIANT)


def transparency_html(report: TransparencyReport, organisation: str) -> str:
    below = report.suppress_below
    # Side by side on the page: half the width, the labels on narrower lines (still in full).
    charts = {
        s.key: bar_chart(s.cells, below, width=330, label_width=165, label_chars=25)
        for s in report.sections
        if s.key in ("process", "outcome")
    }
    return render_template(
        "reports/transparency_pdf.html",
        report=report,
        rows=public_rows(report),
        charts=charts,
        organisation=organisation,
        generated_at=utcnow(),
        shown=shown,
        shown_share=shown_share,
        band=band,
    )


def transparency_pdf(report: TransparencyReport, organisation: str, fetcher: StaticOnlyFetcher | None = None) -> bytes:
    return pdf_from_html(transparency_html(report, organisation), fetcher)


def breakable(text: str, every: int = 40, limit: int = 4000) -> str:
    """Long unbroken runs get zero-width spaces, so the PDF can wrap them (CSS break-all is very slow there)."""
    text = text if len(text) <= limit else text[:limit] + "\u2026"
    words = []
    for word in text.split(" "):
        words.append(
            "\u200b".join(word[i : i + every] for i in range(0, len(word), every)) if len(word) > every else word
        )
    return " ".join(words)


def timeline_of(case: Case) -> list[dict[str, Any]]:
    """Every audit event about the case, oldest first: who did what, as a sentence, and the raw body's fields for
    the appendix."""
    rows = list(
        db.session.execute(
            select(AuditEvent).where(AuditEvent.subject == case.subject).order_by(AuditEvent.seq)
        ).scalars()
    )
    ids = {row.actor_id for row in rows if row.actor_id is not None}
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}
    timeline = []
    for row in rows:
        body = json.loads(bytes(row.body))
        actor = body.get("actor") or {}
        timeline.append(
            {
                "seq": row.seq,
                "ts": row.ts,
                "action": row.action,
                "actor": actor.get("email") or actor.get("name") or "system",
                "who": (names.get(row.actor_id) if row.actor_id is not None else None)
                or actor.get("name")
                or actor.get("email")
                or "The system",
                "sentence": event_sentence(row.action, body.get("data")),
                "outcome": body.get("outcome"),
                "data": breakable(json.dumps(body.get("data") or {}, sort_keys=True, ensure_ascii=False), every=20),
            }
        )
    return timeline


def _label(enum: Any, value: str) -> str:
    try:
        return str(enum(value).label)
    except ValueError:
        return value


def _decision_rows(decision: Any) -> dict[str, Any]:
    """A decision's checklist, grounds and reasons in words, as the reviewer saw them (its engine snapshot)."""
    from disclosure.review.service import REJECTION_REASONS

    items = {item["id"]: item["label"] for item in decision.engine.get("checklist", [])}
    return {
        "decision": decision,
        "checklist": [
            (items.get(item, item), answer.answer.label, answer.note) for item, answer in decision.checklist.items()
        ],
        "grounds": [
            (_label(Category, category), [g.label for g in citation.grounds], citation.reason)
            for category, citation in decision.grounds.items()
        ],
        "scope": [
            (
                _label(TargetKind, e.kind),
                e.value,
                [_label(Category, c) for c in e.categories],
                period_in_words(e.start, e.end),
            )
            for e in decision.scope or ()
        ],
        "reasons": [REJECTION_REASONS.get(code, code) for code in decision.reason_codes],
    }


def dossier_context(case: Case) -> dict[str, Any]:
    from disclosure.production.models import Bundle, ProductionRecord
    from disclosure.review.models import Decision, Review

    reviews = list(db.session.execute(select(Review).where(Review.case_id == case.id).order_by(Review.id)).scalars())
    decisions = list(
        db.session.execute(select(Decision).where(Decision.case_id == case.id).order_by(Decision.id)).scalars()
    )
    records = list(
        db.session.execute(
            select(ProductionRecord).where(ProductionRecord.case_id == case.id).order_by(ProductionRecord.id)
        ).scalars()
    )
    bundles = list(db.session.execute(select(Bundle).where(Bundle.case_id == case.id).order_by(Bundle.id)).scalars())

    return {
        "case": case,
        "particulars": case.further_particulars,
        "reviews": reviews,
        "decisions": [_decision_rows(d) for d in decisions],
        "records": records,
        "bundles": bundles,
        "timeline": timeline_of(case),
        "generated_at": utcnow(),
        "category_label": lambda value: _label(Category, value),
        "document_kind": document_kind,
    }


def dossier_html(case: Case) -> str:
    return render_template("reports/dossier_pdf.html", **dossier_context(case))


def dossier_pdf(case: Case, fetcher: StaticOnlyFetcher | None = None) -> bytes:
    return pdf_from_html(dossier_html(case), fetcher)
