"""Approved cases and recipient certificates for production tests, made through the real services."""

from __future__ import annotations

import datetime as dt
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.extensions import db
from tests.factories import PASSWORD, make_user
from tests.review.helpers import case_in_review, decide_in_full


def approved_case(categories: tuple[str, ...] = ("subscriber_basic", "stored_content"), **overrides: object) -> str:
    """A warrant case approved for `categories` of its one target (call inside an app context)."""
    reviewer = make_user("reviewer")
    reference = case_in_review(reviewer, **overrides)
    case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
    decide_in_full(db.session.get(User, reviewer.id), case, "approved", categories)
    db.session.commit()
    return reference


def rsa_certificate(common_name: str = "FBI Evidence Unit", days: int = 365) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) of a self-signed RSA-2048 recipient certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def build_through_the_page(app, client, reference: str, **fields: str):  # type: ignore[no-untyped-def]
    """Ask for the bundle on the production page, run the job the way the worker does, and return the job's page."""
    from disclosure.jobs import worker
    from tests.conftest import csrf_from

    page = client.get(f"/cases/{reference}/production").get_data(as_text=True)
    nonce = re.search(r'name="nonce" type="hidden" value="([0-9a-f]+)"', page)
    # The producer's password again (step-up), unless the test gives its own.
    data = {"csrf_token": csrf_from(page), "nonce": nonce.group(1) if nonce else "", "password": PASSWORD, **fields}
    response = client.post(f"/cases/{reference}/production/bundles", data=data)
    assert response.status_code == 302 and "/jobs/" in response.location, response.get_data(as_text=True)[-2000:]
    with app.app_context():
        worker.work("test-worker", once=True, periodic=False, heartbeat_every=0.05)
    return client.get(response.location)
