"""The workflow through the services: every (state, action) pair tried once, then random staff (hypothesis).

The enumeration builds one case per reachable state and tries every action on it inside a savepoint: the
workflow table alone decides whether the case moves, and a move writes exactly one audit event. The random
machine checks what sequences must keep: nothing reaches production unless a reviewer approved it, a decision
never changes, every transition writes exactly one audit event, and the audit chain verifies at the end.
"""

from __future__ import annotations

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
from disclosure.workflow import Action, IllegalTransition, State, Track, transition
from tests.factories import MadeUser, make_case, make_user
from tests.review.helpers import decide_in_full

ROLES = ["intake", "reviewer", "reviewer", "producer", "auditor"]
PRODUCED = {State.PRODUCING.value, State.DISCLOSED.value}
#: How the services bring a case of each track into each state it can reach (decisions as outcomes).
PATHS: dict[Track, dict[State, tuple[Action | str, ...]]] = {
    Track.DISCLOSURE: {
        State.RECEIVED: (),
        State.IN_REVIEW: (Action.START_REVIEW,),
        State.NEEDS_INFO: (Action.START_REVIEW, "needs_info"),
        State.APPROVED: (Action.START_REVIEW, "approved"),
        State.REJECTED: (Action.START_REVIEW, "rejected"),
        State.PRODUCING: (Action.START_REVIEW, "approved", Action.START_PRODUCTION),
        State.DISCLOSED: (Action.START_REVIEW, "approved", Action.START_PRODUCTION, Action.MARK_DISCLOSED),
        State.CLOSED: (Action.START_REVIEW, "approved", Action.START_PRODUCTION, Action.MARK_DISCLOSED, Action.CLOSE),
        State.WITHDRAWN: (Action.WITHDRAW,),
    },
    Track.PRESERVATION: {
        State.RECEIVED: (),
        State.PRESERVED: (Action.PRESERVE,),
        State.EXPIRED: (Action.PRESERVE, Action.EXPIRE),
        State.WITHDRAWN: (Action.WITHDRAW,),
    },
}
DECISIONS = {
    Action.APPROVE: "approved",
    Action.REJECT: "rejected",
    Action.REQUEST_INFO: "needs_info",
    Action.NO_RECORDS: "no_records",
}
#: Every refusal a service gives is a ValueError: its domain errors (not permitted, four eyes, stale) and
#: IllegalTransition alike.
REFUSED = ValueError


def transitions() -> int:
    return db.session.execute(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "case.transition")
    ).scalar_one()


def attempt(actor: User, case: Case, step: Action | str) -> None:
    """One step as staff take it: a decision on the review page's service, any other action by apply_action."""
    if step is Action.CORRECT_FACTS:
        # Taken by correcting a fact, never as a bare step: a decided case goes back to review; an undecided one
        # keeps its state (no move); a produced one refuses.
        before = case.status
        changes = cases.CaseChanges(docket=(case.docket or "") + "-corrected")
        cases.update_case(actor, case, changes, case.version_id, None, reason="The order's docket, as printed.")
        if case.status is before:
            raise IllegalTransition("a correction of an undecided case moves nothing")
        return
    outcome = DECISIONS.get(step) if isinstance(step, Action) else step
    if outcome is not None and review.open_review(case) is not None:
        decide_in_full(actor, case, outcome)
    else:
        # With no review to decide, the case service is the only way left, and it must refuse a decision itself.
        cases.apply_action(actor, case, Action(step), case.version_id, None)


def test_every_state_and_action_through_the_services(app):
    with app.app_context():
        logger = make_user("intake")
        staff = db.session.get(User, make_user("intake", "reviewer", "producer").id)
        tried = 0
        for track, paths in PATHS.items():
            process = "preservation_request" if track is Track.PRESERVATION else "search_warrant"
            categories = ["account_records"] if track is Track.PRESERVATION else ["stored_content"]
            for state, path in paths.items():
                case = db.session.get(Case, make_case(logger, process_type=process, categories=categories).id)
                for step in path:
                    attempt(staff, case, step)
                db.session.commit()
                assert (case.track, case.status) == (track, state)
                for action in Action:
                    try:
                        expected: State | None = transition(state, action, track)
                    except IllegalTransition:
                        expected = None
                    before = transitions()
                    savepoint = db.session.begin_nested()
                    try:
                        attempt(staff, case, action)
                        moved_to: State | None = case.status
                    except REFUSED:
                        moved_to = None
                    events = transitions() - before
                    savepoint.rollback()
                    assert (moved_to, events) == (expected, 0 if expected is None else 1), (track, state, action)
                    assert case.status is state
                    tried += 1
        assert tried == sum(len(paths) for paths in PATHS.values()) * len(Action)
        assert {state for paths in PATHS.values() for state in paths} == set(State)


def test_random_staff_cannot_break_the_workflow(app):
    with app.app_context():
        made: list[MadeUser] = [make_user(role) for role in ROLES]
        staff = [user.id for user in made]

    class Workflow(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.context = app.app_context()
            self.context.push()
            self.cases: list[int] = []
            self.decisions: dict[int, tuple[object, ...]] = {}

        def teardown(self) -> None:
            db.session.remove()
            self.context.pop()

        @rule(process=st.sampled_from(["search_warrant", "subpoena", "search_warrant", "preservation_request"]))
        def log(self, process: str) -> None:
            categories = ["subscriber_basic"] if process == "subpoena" else ["stored_content"]
            if process == "preservation_request":
                categories = ["account_records"]
            # Logged by the intake member: four eyes still holds (intake cannot review), without a new user per case.
            case = make_case(made[0], process_type=process, categories=categories, non_disclosure_order=None)
            self.cases.append(case.id)

        @precondition(lambda self: self.cases)
        @rule(data=st.data(), action=st.sampled_from(list(Action)), who=st.sampled_from(range(len(ROLES))))
        def act(self, data: st.DataObject, action: Action, who: int) -> None:
            case = db.session.get(Case, data.draw(st.sampled_from(self.cases)))
            before = transitions()
            try:
                cases.apply_action(db.session.get(User, staff[who]), case, action, case.version_id, None)
                db.session.commit()
                assert transitions() == before + 1
            except REFUSED:
                db.session.rollback()
                assert transitions() == before

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
            before = transitions()
            try:
                decide_in_full(actor, case, outcome)
                db.session.commit()
                assert transitions() == before + 1
            except REFUSED:
                db.session.rollback()
                assert transitions() == before

        @invariant()
        def nothing_produced_without_an_approval(self) -> None:
            # One query per step, not one per produced case: the log grows across examples.
            approved = select(Decision.id).where(Decision.case_id == Case.id, Decision.outcome == "approved")
            unapproved = db.session.execute(
                select(Case.id, Case.state).where(Case.state.in_(PRODUCED), ~approved.exists())
            ).all()
            assert unapproved == []

        @invariant()
        def decisions_never_change(self) -> None:
            for row in db.session.execute(select(Decision.__table__)).all():
                assert self.decisions.setdefault(row.id, tuple(row)) == tuple(row)

    Workflow.TestCase.settings = settings(
        max_examples=6,
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
