"""The review form: one row per checklist element, per requested category and per target, named by WTForms.

The rows follow the evaluation's checklist, the case's categories and the case's targets in order; each row
carries its key (element id, category, target) in a hidden field, and `rows_match` refuses a posted form whose
rows are not the ones the page was built for. Field names (`checklist-0-answer`, `grounds-1-grounds`,
`scope-0-categories`, …) are WTForms' own, so the view and the template never spell them.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from disclosure.cases.forms import MultiCheckboxField
from disclosure.cases.models import Case
from disclosure.policy.findings import Evaluation
from disclosure.policy.model import Policy
from disclosure.review.models import Answer, Outcome, Review
from disclosure.review.scope import ScopeEntry
from disclosure.review.service import REJECTION_REASONS

#: What the reviewer picks, worded as the action (the decision itself shows Outcome.label).
OUTCOME_CHOICES = [
    SelectChoice(Outcome.APPROVED.value, "Approve (possibly narrowed)"),
    SelectChoice(Outcome.REJECTED.value, "Reject"),
    SelectChoice(Outcome.NEEDS_INFO.value, "Ask the requester for more"),
    SelectChoice(Outcome.NO_RECORDS.value, "No records held: no account or data for the identifiers"),
]


class AnswerForm(Form):
    """One checklist element: yes, no or not applicable, with a note."""

    item = HiddenField()
    answer = RadioField(
        "Confirmed?",
        choices=[SelectChoice(a.value, a.label) for a in Answer],
        validators=[Optional()],
        description="Yes once you have checked the element on the document; an approval needs Yes, or Not "
        "applicable with a note, for every element.",
    )
    note = StringField(
        "Note",
        validators=[Optional(), Length(max=2000)],
        description="What you checked, or why the element does not apply (required then).",
    )


class CitationForm(Form):
    """The grounds cited for one requested category (choices: the grounds the policy lets it cite)."""

    category = HiddenField()
    grounds = MultiCheckboxField(
        "Grounds",
        choices=[],
        description="Only the grounds the policy lets this kind of data rest on are offered; an approved category "
        "needs at least one.",
    )
    reason = StringField(
        "Written reason",
        validators=[Optional(), Length(max=2000)],
        description="Why the ground applies to this request; required for a ground that asks for one, such as "
        "“Legitimate interests”.",
    )


class ScopeRowForm(Form):
    """One target: the categories approved for it (choices: every requested category) and an optional period."""

    kind = HiddenField()
    value = HiddenField()
    categories = MultiCheckboxField(
        "Categories",
        choices=[],
        description="Tick the data to produce for this target; a requested category left unticked is refused, and "
        "the letter says so.",
    )
    start = StringField(
        "From",
        validators=[Optional(), Length(max=40)],
        description="To narrow the period, its first day; leave empty to keep the start of the period requested.",
    )
    end = StringField(
        "To",
        validators=[Optional(), Length(max=40)],
        description="To narrow the period, its last day; leave empty to keep the end of the period requested.",
    )


class ReviewForm(FlaskForm):
    version = HiddenField()
    #: The case's version when the page was drawn: a decision is refused if its facts changed since.
    case_version = HiddenField()
    checklist = FieldList(
        FormField(AnswerForm),
        description="What the policy asks you to confirm for this kind of process, each against the document "
        "itself; your answers are recorded with the decision.",
    )
    grounds = FieldList(
        FormField(CitationForm),
        description="Cite the policy ground for each category you would approve. “Legitimate interests” is broader "
        "than the law's provider-protection exception: citing it needs a written reason.",
    )
    counsel_note = TextAreaField(
        "Counsel's decision (escalation)",
        validators=[Optional(), Length(max=4000)],
        description="Record who in counsel decided, and what, before approving it.",
    )
    outcome = RadioField(
        "Outcome",
        choices=OUTCOME_CHOICES,
        validators=[Optional()],
        description="Every outcome writes a letter to the requester; an approval opens production for the scope "
        "below, and “No records held” closes the case.",
    )
    scope = FieldList(
        FormField(ScopeRowForm),
        description="Only when approving: what may be produced, never wider than requested. A box appears only "
        "where the policy lets the data be approved.",
    )
    reason = MultiCheckboxField(
        "If rejecting: reasons",
        choices=[SelectChoice(code, label) for code, label in REJECTION_REASONS.items()],
        description="At least one when rejecting; each reason ticked is printed in the letter.",
    )
    text = TextAreaField(
        "Internal reasons (stay on file; never in the letter)",
        validators=[Optional(), Length(max=5000)],
        description="Your reasons for the file: kept with the decision, shown to colleagues and auditors, never "
        "sent to the requester.",
    )
    requester_message = TextAreaField(
        "Message to the requester (goes in the letter)",
        validators=[Optional(), Length(max=5000)],
        description="Printed in the letter as written, so write it for the requester: what is missing or unclear "
        "when asking for more (required then), anything else they should know otherwise. The letter already lists "
        "what is produced, what is refused and why.",
    )
    searched = TextAreaField(
        "If no records are held: what was searched",
        validators=[Optional(), Length(max=2000)],
        description="Required for “No records held”: the systems searched and for which identifiers, e.g. "
        "“Searched mail, hosting and billing systems for both addresses; no account.” It stays on file; the letter "
        "says only that we searched for the identifiers named, over the period named, and hold nothing responsive.",
    )
    password = PasswordField(
        "Your password, to confirm the decision",
        description="Deciding needs your password again. The decision, the checklist, the grounds and this policy "
        "version are recorded and cannot be changed.",
    )
    save = SubmitField("Save worksheet")
    decide = SubmitField("Record decision")
    preview = SubmitField("Preview the letter")

    def fit(self, case: Case, policy: Policy) -> None:
        """Give each row its choices (call before validating)."""
        by_value = {c.value: c for c in case.categories}
        for entry in self.grounds:
            category = by_value.get(entry.form.category.data or "")
            entry.form.grounds.choices = (
                [SelectChoice(g.value, policy.grounds[g].label) for g in policy.citable_grounds(category)]
                if category is not None
                else []
            )
        for row in self.scope:
            row.form.categories.choices = [SelectChoice(c.value, c.label) for c in case.categories]

    def rows_match(self, evaluation: Evaluation, case: Case) -> bool:
        """True if the posted rows are this review's: same elements, categories and targets, in order."""
        return (
            [e.form.item.data for e in self.checklist] == [item.id for item in evaluation.checklist]
            and [e.form.category.data for e in self.grounds] == [c.value for c in case.categories]
            and [(r.form.kind.data, r.form.value.data) for r in self.scope] == [(t.kind, t.value) for t in case.targets]
        )

    def worksheet(self) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, Any]]]:
        """The checklist answers and the cited grounds, as review.service.save_worksheet takes them."""
        answers = {
            e.form.item.data: {"answer": e.form.answer.data or "", "note": e.form.note.data or ""}
            for e in self.checklist
        }
        cited = {
            e.form.category.data: {"grounds": list(e.form.grounds.data or []), "reason": e.form.reason.data or ""}
            for e in self.grounds
        }
        return answers, cited

    def decision_text(self) -> str:
        """The text `decide()` records for the chosen outcome: what was searched, or the reasons or message."""
        chosen = self.searched if self.outcome.data == Outcome.NO_RECORDS.value else self.text
        return chosen.data or ""

    def place_refusal(self, argument: str | None, message: str) -> bool:
        """Show a refusal of `decide(argument=…)` beside the field it came from; False if it has none."""
        fields = {
            "outcome": self.outcome,
            "message": self.requester_message,
            "text": self.searched if self.outcome.data == Outcome.NO_RECORDS.value else self.text,
        }
        field = fields.get(argument or "")
        if field is None:
            return False
        field.errors = [*field.errors, message]
        return True

    def scope_entries(self) -> list[ScopeEntry]:
        return [
            ScopeEntry(
                r.form.kind.data,
                r.form.value.data,
                tuple(r.form.categories.data or []),
                (r.form.start.data or "").strip() or None,
                (r.form.end.data or "").strip() or None,
            )
            for r in self.scope
        ]


def marked(field: Any, **attrs: Any) -> dict[str, Any]:
    """A field's HTML attributes, with aria-invalid when it carries an error (shown beside it)."""
    return {**attrs, "aria-invalid": "true"} if field.errors else attrs


def stored_review_form(review: Review, evaluation: Evaluation) -> ReviewForm:
    """The form as the review stands (what a GET shows): the saved worksheet, no scope chosen yet."""
    case = review.case
    answers, cited = review.checklist, review.grounds
    data = {
        "version": str(review.version_id),
        "case_version": str(case.version_id),
        "checklist": [
            {
                "item": item.id,
                "answer": answer.answer.value if (answer := answers.get(item.id)) else None,
                "note": answer.note if answer else "",
            }
            for item in evaluation.checklist
        ],
        "grounds": [
            {
                "category": category.value,
                "grounds": [g.value for g in citation.grounds] if (citation := cited.get(category.value)) else [],
                "reason": citation.reason if citation else "",
            }
            for category in case.categories
        ],
        "counsel_note": review.counsel_note,
        "scope": [{"kind": t.kind, "value": t.value, "categories": [], "start": "", "end": ""} for t in case.targets],
    }
    return ReviewForm(formdata=None, data=data)


class PolicyUploadForm(FlaskForm):
    file = FileField(
        "Policy file (TOML)",
        description="It is checked on upload and installed once a second administrator approves; reviews started "
        "after that use it.",
    )
    submit = SubmitField("Upload new version")
