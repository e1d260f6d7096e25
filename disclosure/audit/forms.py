"""The audit log's filter form (GET, no state change)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from disclosure.audit.actions import AuditAction
from disclosure.routing import date_in_range


class AuditFilterForm(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no types
    actor = StringField("Actor (email or user id)", validators=[Optional(), Length(max=254)])
    action = SelectField(
        "Action",
        choices=[SelectChoice("", "Any action")] + [SelectChoice(a.value) for a in AuditAction],
        validators=[Optional()],
    )
    subject = StringField("Subject", validators=[Optional(), Length(max=120)], description="e.g. user:3")
    start = DateField("From", validators=[Optional(), date_in_range])
    end = DateField("To", validators=[Optional(), date_in_range])

    def validate_end(self, field: DateField) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The end date is before the start date.")
