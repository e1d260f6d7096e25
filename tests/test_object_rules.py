"""The object rules in permissions.py, by enumeration: four eyes, distinct approvers, producing within scope.

They are pure predicates, so every combination that matters is tried; the services and templates ask them and
never re-derive them (tests/cases/test_lifecycle.py proves the services do).
"""

from __future__ import annotations

import itertools

import pytest

from disclosure.permissions import (
    GRANTS,
    OPERATOR_GRANTS,
    Permission,
    Role,
    approvals_complete,
    may_add_approval,
    may_review,
    within_scope,
)

PEOPLE = [None, 1, 2, 3]


@pytest.mark.parametrize(("actor", "logger"), list(itertools.product(PEOPLE, PEOPLE)))
def test_the_person_who_logged_a_case_never_reviews_it(actor: int | None, logger: int | None) -> None:
    assert may_review(actor, logger) is (actor is not None and actor != logger)


@pytest.mark.parametrize("approvers", [[], [1], [2], [1, 2], [2, 3]])
@pytest.mark.parametrize("actor", PEOPLE)
def test_a_reviewer_approves_a_case_only_once(approvers: list[int], actor: int | None) -> None:
    assert may_add_approval(actor, approvers) is (actor is not None and actor not in approvers)


@pytest.mark.parametrize(
    ("approvers", "required", "complete"),
    [
        ([], 1, False),
        ([1], 1, True),
        ([1], 2, False),
        ([1, 1], 2, False),  # the same reviewer twice is one approval
        ([1, 2], 2, True),
        ([1, 2, 3], 2, True),
    ],
)
def test_two_approvals_means_two_different_reviewers(approvers: list[int], required: int, complete: bool) -> None:
    assert approvals_complete(approvers, required) is complete


SCOPE = [
    (("email", "a@example.net"), ["subscriber_basic", "stored_content"]),
    (("ip", "192.0.2.1"), ["account_records"]),
]


@pytest.mark.parametrize(
    ("target", "category", "allowed"),
    [
        (("email", "a@example.net"), "stored_content", True),
        (("email", "a@example.net"), "subscriber_basic", True),
        (("email", "a@example.net"), "account_records", False),  # approved for the other target only
        (("ip", "192.0.2.1"), "account_records", True),
        (("ip", "192.0.2.1"), "stored_content", False),
        (("email", "b@example.net"), "stored_content", False),  # not a target of the approval
        (("username", "a@example.net"), "stored_content", False),  # same value, other kind
    ],
)
def test_a_producer_attaches_only_what_the_approval_covers(
    target: tuple[str, str], category: str, allowed: bool
) -> None:
    assert within_scope(SCOPE, target, category) is allowed
    assert within_scope([], target, category) is False


def test_an_operator_holds_no_permission_that_moves_a_case_toward_disclosure() -> None:
    person_only = {
        Permission.CASE_CREATE,
        Permission.CASE_EDIT,
        Permission.CASE_ASSIGN,
        Permission.CASE_CLOSE,
        Permission.DOCUMENT_UPLOAD,
        Permission.REVIEW_DECIDE,
        Permission.PRODUCTION_MANAGE,
        Permission.BUNDLE_DOWNLOAD,
    }
    assert not OPERATOR_GRANTS & person_only
    # Nothing an operator holds is beyond what some role grants a person.
    assert frozenset().union(*GRANTS.values()) >= OPERATOR_GRANTS
    assert Permission.STORAGE_MAINTAIN in GRANTS[Role.ADMIN]
