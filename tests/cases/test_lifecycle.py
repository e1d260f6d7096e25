"""The mover: the only code that changes a case's state, with its permission, four eyes and one audit event.

Each test states what an auditor would notice: a state set anywhere else, a move by someone the rules exclude,
a move that leaves no event (or two), a record credited to someone who did not add it.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases.lifecycle import move
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.production.service import add_record
from disclosure.services import NotPermitted, SystemActor
from disclosure.workflow import Action, State
from tests.factories import make_case, make_user
from tests.production.helpers import approved_case

PACKAGE = Path(__file__).resolve().parents[2] / "disclosure"
MOVER = PACKAGE / "cases" / "lifecycle.py"


def _state_assignments(path: Path) -> list[int]:
    """Lines of `<anything>.state = …` (plain, augmented or annotated assignment, tuple targets included)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        flat = [el for t in targets for el in (t.elts if isinstance(t, ast.Tuple) else [t])]
        if any(isinstance(t, ast.Attribute) and t.attr == "state" for t in flat):
            lines.append(node.lineno)
    return lines


def test_only_the_mover_sets_a_cases_state() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != MOVER and (lines := _state_assignments(path))
    }
    assert offenders == {}, f"case.state is set outside disclosure/cases/lifecycle.py: {offenders}"
    assert _state_assignments(MOVER), "the mover itself must set the state"


def _log_size() -> int:
    return int(db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def test_a_move_writes_exactly_one_transition_event(app) -> None:
    with app.app_context():
        case = make_case()
        reviewer = db.session.get(User, make_user("reviewer").id)
        before = _log_size()
        assert move(reviewer, case, Action.START_REVIEW, ip="192.0.2.9", reason="  urgent  ") is State.IN_REVIEW
        db.session.commit()
        rows = db.session.execute(select(AuditEvent).where(AuditEvent.seq > before)).scalars().all()
        assert [row.action for row in rows] == ["case.transition"]
        body = json.loads(rows[0].body)
        data = body["data"]
        # Entering review opens a review round (the review package's entry step), named in the same one event.
        assert data.pop("review") > 0 and len(data.pop("policy_sha256")) == 64
        assert data == {"action": "start_review", "from": "received", "to": "in_review", "note": "urgent"}
        assert body["actor"]["id"] == reviewer.id and body["ip"] == "192.0.2.9"


@pytest.mark.parametrize("who", ["logger", "intake", "auditor", "operator"])
def test_a_move_the_rules_exclude_changes_nothing(app, who: str) -> None:
    with app.app_context():
        logger = make_user("intake", "reviewer")
        case = make_case(logged_by=logger)
        actor = {
            "logger": lambda: db.session.get(User, logger.id),  # holds review:decide, but logged the case
            "intake": lambda: db.session.get(User, make_user("intake").id),
            "auditor": lambda: db.session.get(User, make_user("auditor").id),
            "operator": lambda: SystemActor("flask something"),
        }[who]()
        before = _log_size()
        with pytest.raises(NotPermitted):
            move(actor, case, Action.START_REVIEW, ip=None)
        db.session.rollback()
        assert case.status is State.RECEIVED
        assert _log_size() == before


def test_a_record_from_the_command_line_needs_a_named_producer(app) -> None:
    """Before: an operator's record was credited to the case's decider, who never added it."""
    with app.app_context():
        case = db.session.execute(select(Case).where(Case.reference == approved_case())).scalar_one()
        before = _log_size()
        with pytest.raises(NotPermitted, match="--as EMAIL"):
            operator = SystemActor("flask production add")
            add_record(operator, case, case.targets[0].value, "subscriber_basic", [b"x"], "x.txt", None)
        db.session.rollback()
        assert _log_size() == before
