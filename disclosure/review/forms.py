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
    answer = RadioField("Confirmed?", choices=[SelectChoice(a.value, a.label) for a in Answer], validators=[Optional()])
    note = StringField("Note", validators=[Optional(), Length(max=2000)])


class CitationForm(Form):
    """The grounds cited for one requested category (choices: the grounds the policy lets it cite)."""

    category = HiddenField()
    grounds = MultiCheckboxField("Grounds", choices=[])
    reason = StringField("Written reason", validators=[Optional(), Length(max=2000)])


class ScopeRowForm(Form):
    """One target: the categories approved for it (choices: every requested category) and an optional period."""

    kind = HiddenField()
    value = HiddenField()
    categories = MultiCheckboxField("Categories", choices=[])
    start = StringField("From", validators=[Optional(), Length(max=40)])
    end = StringField("To", validators=[Optional(), Length(max=40)])


class ReviewForm(FlaskForm):
    version = HiddenField()
    #: The case's version when the page was drawn: a decision is refused if its facts changed since.
    case_version = HiddenField()
    checklist = FieldList(FormField(AnswerForm))
    grounds = FieldList(FormField(CitationForm))
    counsel_note = TextAreaField("Counsel's decision (escalation)", validators=[Optional(), Length(max=4000)])
    outcome = RadioField("Outcome", choices=OUTCOME_CHOICES, validators=[Optional()])
    scope = FieldList(FormField(ScopeRowForm))
    reason = MultiCheckboxField(
        "If rejecting: reasons", choices=[SelectChoice(code, label) for code, label in REJECTION_REASONS.items()]
    )
    text = TextAreaField(
        "Internal reasons (stay on file; never in the letter)", validators=[Optional(), Length(max=5000)]
    )
    requester_message = TextAreaField(
        "Message to the requester (goes in the letter)", validators=[Optional(), Length(max=5000)]
    )
    searched = TextAreaField("If no records are held: what was searched", validators=[Optional(), Length(max=2000)])
    password = PasswordField("Your password, to confirm the decision")
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
    file = FileField("Policy file (TOML)")
    submit = SubmitField("Upload new version")
