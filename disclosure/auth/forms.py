"""Forms for signing in, the second factor, passwords and user administration."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import Email, InputRequired, Length, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from disclosure.auth.passwords import MAX_LENGTH, MIN_LENGTH
from disclosure.permissions import Role
from disclosure.timezones import zone_names

ROLE_CHOICES = [SelectChoice(role.value, role.label) for role in Role]
#: What each role may do (README, Roles), beside the role boxes.
ROLES_HELP = (
    "Intake logs requests and keeps the agency directory; a reviewer decides cases they did not log; a producer adds "
    "records to approved cases and delivers bundles; an auditor reads every case and the audit log and prepares "
    "reports; an administrator manages users, keys and the policy, and never also reviews or produces. Reviewer, "
    "producer and administrator need a second factor, and granting one waits for a second administrator."
)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SignInForm(FlaskForm):
    email = EmailField(
        "Email address", validators=[InputRequired(), Length(max=254)], render_kw={"autocomplete": "username"}
    )
    # No length rule here: an over-long password must fail like any wrong one, not with its own message.
    password = PasswordField(
        "Password", validators=[InputRequired(), Length(max=4096)], render_kw={"autocomplete": "current-password"}
    )
    next = HiddenField()
    submit = SubmitField("Sign in")


class SecondFactorForm(FlaskForm):
    code = StringField(
        "Six-digit code from your authenticator app",
        validators=[
            InputRequired(),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="Enter the six digits shown in your app."),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField("Continue")


class AccountSettingsForm(FlaskForm):
    time_zone = SelectField(
        "Your time zone",
        description="Pages show every time in this zone; point at a time to see it in UTC. Letters, dossiers and "
        "reports keep UTC, so that they read the same to everyone.",
        validators=[InputRequired("Choose a time zone.")],
    )
    submit = SubmitField("Save settings")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.time_zone.choices = [SelectChoice(name, name.replace("_", " ")) for name in zone_names()]


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[InputRequired(), Length(max=4096)],
        render_kw={"autocomplete": "current-password"},
        description="The one you signed in with: it shows the change is yours.",
    )
    new_password = PasswordField(
        "New password",
        validators=[
            InputRequired(),
            Length(min=MIN_LENGTH, max=MAX_LENGTH, message=f"Use {MIN_LENGTH} to {MAX_LENGTH} characters."),
        ],
        description=f"{MIN_LENGTH} to {MAX_LENGTH} characters. A passphrase of several unrelated words works well.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "New password again", validators=[InputRequired()], render_kw={"autocomplete": "new-password"}
    )
    submit = SubmitField("Change password")

    def validate_confirm(self, field: PasswordField) -> None:
        from wtforms.validators import ValidationError

        if field.data != self.new_password.data:
            raise ValidationError("The two new passwords differ; type the same password twice.")


class UserCreateForm(FlaskForm):
    email = EmailField(
        "Email address",
        validators=[InputRequired(), Email(check_deliverability=False), Length(max=254)],
        description="The person's work address: they sign in with it, and notifications are sent to it.",
    )
    name = StringField(
        "Full name",
        validators=[InputRequired(), Length(max=200)],
        description="As colleagues know them; it names them on cases, comments, decisions and the audit log.",
    )
    roles = MultiCheckboxField(
        "Roles",
        choices=ROLE_CHOICES,
        validators=[InputRequired("Choose at least one role.")],
        description=ROLES_HELP,
    )
    password = PasswordField(
        "Temporary password",
        validators=[InputRequired(), Length(min=MIN_LENGTH, max=MAX_LENGTH)],
        description="Give it to the person by another channel; they must change it when they first sign in.",
    )
    submit = SubmitField("Create user")


class UserRolesForm(FlaskForm):
    roles = MultiCheckboxField(
        "Roles",
        choices=ROLE_CHOICES,
        validators=[InputRequired("Choose at least one role.")],
        description=ROLES_HELP,
    )
    submit = SubmitField("Save roles")


class TemporaryPasswordForm(FlaskForm):
    password = PasswordField(
        "Temporary password",
        validators=[InputRequired(), Length(min=MIN_LENGTH, max=MAX_LENGTH)],
        description="The user must change it at their next sign-in. All their sessions end now.",
    )
    submit = SubmitField("Reset password")


class ConfirmForm(FlaskForm):
    """A button that changes state: a POST with its CSRF token and nothing else."""

    submit = SubmitField("Confirm")
