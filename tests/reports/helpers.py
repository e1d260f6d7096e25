"""Drive cases through the real services (intake, review, production, delivery) for the report tests."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.production import service as production
from disclosure.production.models import Bundle
from disclosure.workflow import Action
from tests.factories import MadeUser, make_case, make_user
from tests.review.helpers import decide_in_full


class Staff:
    """One intake officer, a reviewer and a producer, made once per test."""

    def __init__(self) -> None:
        self.intake = make_user("intake")
        self.reviewer = make_user("reviewer")
        self.producer = make_user("producer")

    def user(self, made: MadeUser) -> User:
        return db.session.get(User, made.id)

    def log(self, **overrides: Any) -> Case:
        overrides.setdefault("non_disclosure_order", None)
        return make_case(logged_by=self.intake, **overrides)

    def act(self, case: Case, action: Action, who: MadeUser | None = None) -> None:
        cases.apply_action(self.user(who or self.reviewer), db.session.get(Case, case.id), action, None, None)
        db.session.commit()

    def decide(self, case: Case, outcome: str) -> None:
        case = db.session.get(Case, case.id)
        decide_in_full(self.user(self.reviewer), case, outcome)
        db.session.commit()

    def produce(self, case: Case, category: str) -> None:
        case = db.session.get(Case, case.id)
        production.add_record(
            self.user(self.producer), case, case.targets[0].value, category, [b"responsive"], f"{category}.txt", None
        )
        db.session.commit()

    def deliver(self, case: Case) -> None:
        case = db.session.get(Case, case.id)
        bundle = Bundle(
            public_id=secrets.token_hex(16),
            kind="production",
            case_id=case.id,
            filename="b.zip",
            sha256="0" * 64,
            size=1,
            file_count=1,
            checkpoint_size=1,
            built_by_id=self.producer.id,
            expires_at=utcnow() + timedelta(days=30),
        )
        db.session.add(bundle)
        db.session.flush()
        production.mark_delivered(
            self.user(self.producer), bundle, None, production.Delivery("portal", utcnow().date(), "SA J. Doe, FBI")
        )
        db.session.commit()

    def close(self, case: Case) -> None:
        self.act(case, Action.CLOSE, self.producer)


def build(staff: Staff, scenario: str, **overrides: Any) -> Case:
    """A case taken to the end state `scenario` names, through the services."""
    categories = overrides.pop("categories", ["subscriber_basic", "stored_content"])
    case = staff.log(categories=categories, **overrides)
    if scenario == "received":
        return case
    if scenario == "withdrawn":
        staff.act(case, Action.WITHDRAW, staff.intake)
        return case
    staff.act(case, Action.START_REVIEW)
    if scenario == "in_review":
        return case
    if scenario == "no_records":
        staff.decide(case, "no_records")
        return case
    if scenario.startswith("rejected"):
        staff.decide(case, "rejected")
        if scenario == "rejected_closed":
            staff.close(case)
        return case
    staff.decide(case, "approved")
    if scenario == "approved":
        return case
    if scenario == "no_data":
        staff.close(case)
        return case
    category = "stored_content" if "content" in scenario and "non" not in scenario else "subscriber_basic"
    staff.produce(case, category)
    if scenario == "producing":
        return case
    staff.deliver(case)
    if scenario.endswith("_closed"):
        staff.close(case)
    return case
