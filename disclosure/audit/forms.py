"""The audit log's filter form (GET, no state change)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from disclosure.audit.actions import AuditAction


class AuditFilterForm(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no types
    actor = StringField("Actor (email or user id)", validators=[Optional(), Length(max=254)])
    action = SelectField(
        "Action",
        choices=[SelectChoice("", "Any action")] + [SelectChoice(a.value) for a in AuditAction],
        validators=[Optional()],
    )
    subject = StringField("Subject", validators=[Optional(), Length(max=120)], description="e.g. user:3")
    start = DateField("From", validators=[Optional()])
    end = DateField("To", validators=[Optional()])

    def validate_end(self, field: DateField) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The end date is before the start date.")
