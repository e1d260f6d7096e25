"""Steps of a review driven through the real pages, for the review tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.workflow import Action
from tests.conftest import csrf_from
from tests.factories import PASSWORD, MadeUser, make_case, make_user

_NOW = utcnow()
#: An interception order still running today (one whose period has ended collects nothing more).
WIRETAP = {
    "process_type": "wiretap_order",
    "categories": ["realtime_content"],
    "received_at": (_NOW - timedelta(days=2)).isoformat(),
    "issued_on": (_NOW - timedelta(days=3)).date().isoformat(),
    "valid_until": (_NOW + timedelta(days=20)).date().isoformat(),
    "targets": [
        {
            "kind": "email",
            "value": "user@example.net",
            "from": (_NOW - timedelta(days=2)).date().isoformat(),
            "to": (_NOW + timedelta(days=20)).date().isoformat(),
        }
    ],
}


def case_in_review(reviewer: MadeUser | None = None, **overrides: Any) -> str:
    """A case logged by someone else and put in review by a reviewer (in an app context)."""
    case = make_case(**overrides)
    starter = db.session.get(User, (reviewer or make_user("reviewer")).id)
    if case.state == "needs_info":  # logged without targets, it waited for the requester, who has now answered
        answerer = db.session.get(User, make_user("intake").id)
        cases.apply_action(answerer, db.session.get(Case, case.id), Action.REQUESTER_ANSWERED, None, None)
    else:
        cases.apply_action(starter, db.session.get(Case, case.id), Action.START_REVIEW, None, None)
    db.session.commit()
    return case.reference


def review_form(
    client: FlaskClient,
    reference: str,
    *,
    checks: dict[str, str] | None = None,
    grounds: dict[str, str | list[str]] | None = None,
    reasons: dict[str, str] | None = None,
    scope: dict[int, list[str]] | None = None,
    dates: dict[int, tuple[str, str]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The review page's form as a browser would send it: its hidden row keys and the current version, with
    checklist answers by element id, grounds and written reasons by category, and scope categories and
    periods by target row; `fields` adds or overrides anything else by its name (outcome, reason, text, …)."""
    import re

    page = client.get(f"/cases/{reference}/review").get_data(as_text=True)
    hidden = dict(re.findall(r'<input id="([\w-]+)" name="[\w-]+" type="hidden" value="([^"]*)"', page))
    data: dict[str, Any] = {"csrf_token": csrf_from(page)}
    data.update({name: value for name, value in hidden.items() if name != "csrf_token"})
    rows = {value: name.rsplit("-", 1)[0] for name, value in hidden.items() if re.fullmatch(r"\w+-\d+-\w+", name)}
    for item, answer in (checks or {}).items():
        data[f"{rows[item]}-answer"] = answer
    for category, chosen in (grounds or {}).items():
        data[f"{rows[category]}-grounds"] = chosen
    for category, reason in (reasons or {}).items():
        data[f"{rows[category]}-reason"] = reason
    for index, categories in (scope or {}).items():
        data[f"scope-{index}-categories"] = categories
    for index, (start, end) in (dates or {}).items():
        data[f"scope-{index}-start"], data[f"scope-{index}-end"] = start, end
    data.update(fields)
    return data


def confirm_all(items: list[str]) -> dict[str, str]:
    return {item: "yes" for item in items}


def checklist_ids(app: Any, reference: str) -> list[str]:
    from sqlalchemy import select

    from disclosure.review.service import evaluation_for, open_review

    with app.app_context():
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        return [item.id for item in evaluation_for(open_review(case)).checklist]


def post_decision(client: FlaskClient, reference: str, **fields: Any) -> Any:
    """Send the review form with "Record decision", the reviewer's password unless another is given."""
    fields.setdefault("password", PASSWORD)
    return client.post(f"/cases/{reference}/review", data=review_form(client, reference, decide="1", **fields))


def decide_in_full(
    actor: User, case: Case, outcome: str = "approved", categories: tuple[str, ...] | None = None
) -> Any:
    """Confirm every checklist element, cite the usual ground for each category, and decide for every target
    (the categories given, or all requested). Raises what the review service raises; the caller commits."""
    from disclosure.review import service as review

    current = review.open_review(case)
    chosen = categories or tuple(c.value for c in case.categories)
    evaluation = review.evaluation_for(current)
    review.save_worksheet(
        actor,
        current,
        {item.id: {"answer": "yes"} for item in evaluation.checklist},
        {c: {"grounds": ["legal_process" if "content" in c else "law_requires"]} for c in chosen},
        "",
        None,
        None,
    )
    scope = [review.ScopeEntry(t.kind, t.value, chosen, None, None) for t in case.targets]
    return review.decide(
        actor,
        current,
        outcome,
        password=PASSWORD,
        ip=None,
        scope=scope,
        reason_codes=["overbroad"],
        text="Reasons given.",
        requester_message="Please send the signed page of the warrant.",
    )
