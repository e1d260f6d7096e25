"""The form a second administrator fills in to approve or refuse a pending change: their own password again."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import InputRequired, Length

from disclosure.auth.passwords import MAX_LENGTH


class DecideChangeForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[InputRequired(), Length(max=MAX_LENGTH)],
        description="Your own password again: the approval or refusal is recorded in your name, and nobody decides "
        "a change they asked for.",
    )
    submit = SubmitField("Confirm")
