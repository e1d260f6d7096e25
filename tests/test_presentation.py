"""Events as sentences: what the case page's timeline and the dossier say instead of action codes (issue 16: the
timeline showed `case.transition` and state ids)."""

from __future__ import annotations

import pytest

from disclosure.audit.actions import AuditAction
from disclosure.presentation import SENTENCES, event_sentence


def test_a_transition_names_the_step_and_the_states_in_words():
    sentence = event_sentence("case.transition", {"action": "start_review", "from": "received", "to": "in_review"})
    assert sentence == "Start review (received → in review)"


def test_a_correction_names_the_fields_and_its_reason():
    data = {"diff": {"valid_until": {"from": "2026-11-16", "to": "2026-11-30"}}, "reason": "As the order says."}
    assert event_sentence("case.update", data) == "Corrected when the process expires. Reason: As the order says."


def test_an_unknown_or_malformed_event_is_named_without_its_code():
    assert event_sentence("something.new", {}) == "An event (its details are in the audit log)"
    assert event_sentence("ndo.set", None).startswith("Recorded a non-disclosure order")


@pytest.mark.parametrize(
    "action",
    [
        a.value
        for a in AuditAction
        if a.value.split(".")[0] in {"case", "document", "ndo", "review", "letter", "production", "bundle"}
    ],
)
def test_every_case_event_has_a_sentence_without_ids(action):
    assert action in SENTENCES, f"{action} has no sentence for the case timeline"
    sentence = event_sentence(action, {})
    assert "_" not in sentence and "." not in sentence.rstrip(".")
