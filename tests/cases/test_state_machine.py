"""Random staff doing random things to cases (hypothesis): the workflow's promises hold whatever they do.

Invariants: nothing reaches production unless a reviewer approved it; a decision never changes; every
transition writes exactly one audit event; the audit chain verifies at the end.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.review import service as review
from disclosure.review.models import Decision
from disclosure.workflow import Action, IllegalTransition, State
from tests.factories import make_case, make_user
from tests.review.helpers import decide_in_full

ROLES = ["intake", "reviewer", "reviewer", "producer", "auditor"]
PRODUCED = {State.PRODUCING.value, State.DISCLOSED.value}


def test_random_staff_cannot_break_the_workflow(app):
    with app.app_context():
        staff = [make_user(role).id for role in ROLES]

    class Workflow(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.context = app.app_context()
            self.context.push()
            self.cases: list[int] = []
            self.decisions: dict[int, tuple[str, str]] = {}

        def teardown(self) -> None:
            db.session.remove()
            self.context.pop()

        def transitions(self) -> int:
            return db.session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "case.transition")
            ).scalar_one()

        @rule(process=st.sampled_from(["search_warrant", "subpoena", "search_warrant", "preservation_request"]))
        def log(self, process: str) -> None:
            categories = ["subscriber_basic"] if process == "subpoena" else ["stored_content"]
            if process == "preservation_request":
                categories = ["account_records"]
            self.cases.append(make_case(process_type=process, categories=categories, non_disclosure_order=None).id)

        @precondition(lambda self: self.cases)
        @rule(data=st.data(), action=st.sampled_from(list(Action)), who=st.sampled_from(range(len(ROLES))))
        def act(self, data: st.DataObject, action: Action, who: int) -> None:
            case = db.session.get(Case, data.draw(st.sampled_from(self.cases)))
            before = self.transitions()
            try:
                cases.apply_action(db.session.get(User, staff[who]), case, action, case.version_id, None)
                db.session.commit()
                assert self.transitions() == before + 1
            except (cases.CaseError, IllegalTransition):
                db.session.rollback()
                assert self.transitions() == before

        @rule()
        def the_usual_path(self) -> None:
            """One case the way it should go (logged, reviewed, approved, produced), beside the random ones."""
            self.log("search_warrant")
            case = db.session.get(Case, self.cases[-1])
            reviewer, producer = db.session.get(User, staff[1]), db.session.get(User, staff[3])
            cases.apply_action(reviewer, case, Action.START_REVIEW, None, None)
            decide_in_full(reviewer, case, "approved", ("stored_content",))
            cases.apply_action(producer, case, Action.START_PRODUCTION, None, None)
            db.session.commit()

        @precondition(lambda self: self.cases)
        @rule(data=st.data(), who=st.sampled_from([1, 2]))
        def start_review(self, data: st.DataObject, who: int) -> None:
            """Reviewers pick up work often, so that random runs reach decisions and production."""
            self.act(data, Action.START_REVIEW, who)

        @precondition(lambda self: self.cases)
        @rule(data=st.data(), who=st.sampled_from([3, 3, 0, 4]))
        def produce(self, data: st.DataObject, who: int) -> None:
            self.act(data, Action.START_PRODUCTION, who)

        @precondition(lambda self: self.cases)
        @rule(
            data=st.data(),
            outcome=st.sampled_from(["approved", "approved", "rejected", "needs_info"]),
            who=st.sampled_from([1, 2, 1, 2, 0, 3, 4]),
        )
        def decide(self, data: st.DataObject, outcome: str, who: int) -> None:
            case = db.session.get(Case, data.draw(st.sampled_from(self.cases)))
            current = review.open_review(case)
            if current is None:
                return
            actor = db.session.get(User, staff[who])
            before = self.transitions()
            try:
                decide_in_full(actor, case, outcome)
                db.session.commit()
                assert self.transitions() == before + 1
            except (cases.CaseError, ValueError):
                db.session.rollback()
                assert self.transitions() == before

        @invariant()
        def nothing_produced_without_an_approval(self) -> None:
            for case_id, state in db.session.execute(select(Case.id, Case.state).where(Case.state.in_(PRODUCED))):
                outcomes = db.session.execute(select(Decision.outcome).where(Decision.case_id == case_id)).scalars()
                assert "approved" in list(outcomes), (case_id, state)

        @invariant()
        def decisions_never_change(self) -> None:
            for row in db.session.execute(select(Decision)).scalars():
                fingerprint = (row.outcome, json.dumps([row.scope_json, row.engine_json, row.decided_by_id]))
                assert self.decisions.setdefault(row.id, fingerprint) == fingerprint

    Workflow.TestCase.settings = settings(
        max_examples=15,
        stateful_step_count=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    Workflow.TestCase().runTest()

    with app.app_context():  # the machine did reach decisions, so the invariants were really exercised
        assert db.session.execute(select(func.count()).select_from(Decision)).scalar_one() > 0
        assert (
            db.session.execute(select(func.count()).select_from(Case).where(Case.state.in_(PRODUCED))).scalar_one() > 0
        )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and result.output.startswith("intact:"), result.output
