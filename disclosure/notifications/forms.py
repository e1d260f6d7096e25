"""The forms of the notification pages: a button (a CSRF token and nothing else), and the settings, one choice per
kind that may wait for a digest."""

from __future__ import annotations

from collections.abc import Mapping

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, SubmitField
from wtforms.validators import InputRequired

from disclosure.notifications.models import Delivery, NotificationKind


class ButtonForm(FlaskForm):
    """Mark read, mark all read: a CSRF token and nothing else."""


class PreferencesForm(FlaskForm):
    submit = SubmitField("Save settings")


def preferences_form(current: Mapping[NotificationKind, Delivery]) -> FlaskForm:
    """A form with one radio choice (at once, or in the daily digest) per kind a person may choose for."""

    class Form(PreferencesForm):
        pass

    for kind in NotificationKind:
        if kind.always_immediate:
            continue
        setattr(
            Form,
            kind.value,
            RadioField(
                kind.label,
                choices=[SelectChoice(delivery.value, delivery.label) for delivery in Delivery],
                default=current[kind].value,
                validators=[InputRequired("Choose how to receive it.")],
            ),
        )
    return Form()
