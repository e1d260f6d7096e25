"""The web report defaults to "now" (issue 16, observed on main: it showed the last signed checkpoint's figures, so a
rejection made after it read as 0 rejected until someone signed a new one)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from disclosure.audit.models import AuditCheckpoint
from disclosure.audit.service import checkpoint_now
from disclosure.extensions import db
from disclosure.services import SystemActor
from tests.reports.helpers import Staff, build


def _text(page: str) -> str:
    """The page's words without its tags (times are <time> elements, in the reader's zone: UTC here)."""
    return re.sub(r"<[^>]+>", "", page)


def _checkpoints() -> int:
    return int(db.session.execute(select(func.count()).select_from(AuditCheckpoint)).scalar_one())


def _rejected(html: str) -> int:
    found = re.search(r'cell=outcome\.rejected[^"]*">(\d+)</a>', html)
    assert found, html[-3000:]
    return int(found[1])


def test_the_report_opened_without_a_checkpoint_shows_the_figures_as_of_now(app, client, login_as):
    with app.app_context():
        staff = Staff()
        build(staff, "in_review")
        old = checkpoint_now(SystemActor("tests"), "report")
        db.session.commit()
        old_id = old.id
        build(staff, "rejected")  # after the last checkpoint
        before = _checkpoints()
    login_as("auditor")
    page = client.get("/reports/transparency?from=2026-01-01&to=2026-12-31").get_data(as_text=True)
    assert _rejected(page) == 1
    with app.app_context():
        assert _checkpoints() == before + 1
        latest = db.session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())).scalars().first()
        said = f"Figures as of checkpoint {latest.size:,} signed {latest.created_at.strftime('%Y-%m-%d %H:%M')} UTC"
    assert said in _text(page)
    # Opened again with nothing new in the log, it signs nothing more.
    again = client.get("/reports/transparency?from=2026-01-01&to=2026-12-31").get_data(as_text=True)
    assert _rejected(again) == 1 and said in _text(again)
    with app.app_context():
        assert _checkpoints() == before + 1
    # Pinned to the old checkpoint, it shows that checkpoint's figures and says so.
    pinned = client.get(f"/reports/transparency?from=2026-01-01&to=2026-12-31&checkpoint={old_id}")
    html = pinned.get_data(as_text=True)
    assert _rejected(html) == 0 and "an earlier checkpoint you chose" in html and "Show the figures as of now" in html
