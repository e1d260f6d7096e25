"""The buttons that ask for a report PDF: a CSRF token and a nonce, so that the same form sent twice (a double
click, a retried request) asks for one PDF; the report's also names the period and checkpoint the page showed."""

from __future__ import annotations

import secrets

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired, Regexp


class PreparePdfForm(FlaskForm):
    """Prepare a case's dossier (PDF)."""

    #: One per page load.
    nonce = HiddenField(default=lambda: secrets.token_hex(16))


class PrepareReportPdfForm(PreparePdfForm):
    """Prepare the transparency report (PDF) for the period, at the checkpoint the page was computed at."""

    start = HiddenField(validators=[DataRequired(message="Give the first day of the period.")])
    end = HiddenField(validators=[DataRequired(message="Give the last day of the period.")])
    checkpoint = HiddenField(
        validators=[
            DataRequired(message="Name the audit checkpoint."),
            Regexp(r"^[0-9]{1,9}$", message="not a checkpoint number"),
        ]
    )
