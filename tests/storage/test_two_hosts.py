"""Two app hosts, one PostgreSQL: with the database blob backend, what one stores the other serves.

Host A is this test's app; host B is another process (tests/storage/second_host.py) with its own instance folder,
the keys shared through DISCLOSURE_KEYS_DIR and the backend chosen by DISCLOSURE_BLOB_BACKEND, as an operator sets
them. A document uploaded on A downloads byte-identical on B, one uploaded on B downloads on A, and a bundle built
on A (the job's service function) is fetched from B. Neither host keeps any of it in its own folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.cases.models import Case, Document
from disclosure.extensions import db
from disclosure.production.models import Bundle, ProductionRecord
from disclosure.storage.store import store_for_app
from tests.conftest import sign_in
from tests.documents import pdf
from tests.factories import make_case, make_user
from tests.storage.test_crash import PROJECT
from tests.storage.test_reconcile import build_bundle, files_in, producing_case

pytestmark = pytest.mark.backends("postgresql")


def test_upload_on_one_host_download_on_the_other_and_bundles_too(
    app: Flask, client: FlaskClient, tmp_path: Path, backend: str
) -> None:
    app.config["BLOB_BACKEND"] = "database"
    host_a = Path(app.instance_path)
    warrant = pdf(pages=3)
    with app.app_context():
        person = make_user("intake", "producer")
        person_b = make_user("intake", "producer")  # a second-factor code is accepted once: one person per host
        reference = make_case(logged_by=person).reference
        actor = db.session.get(User, person.id)
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        document = cases.add_document(actor, case, "legal_process", warrant, "warrant.pdf", None)
        db.session.commit()
        document_url = f"/cases/{reference}/documents/{document.id}"
        db.session.remove()
    production_reference, producer = producing_case(app)
    public_id = build_bundle(app, production_reference, producer).removesuffix(".zip")
    with app.app_context():
        bundle = db.session.execute(select(Bundle).where(Bundle.public_id == public_id)).scalar_one()
        bundle_sha256, bundle_size = bundle.sha256, bundle.size
        assert bundle.blob_name is not None
        db.session.remove()

    assert sign_in(client, person.email, person.password, person.totp_secret).status_code == 302

    host_b = tmp_path / "host-b"
    out = tmp_path / "fetched-on-b"
    out.mkdir()
    settings = {
        "TESTING": True,
        "INSTANCE_PATH": str(host_b),
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],  # several hosts share it (sessions, second-factor secrets)
        "PASSWORD_HASHER": app.config["PASSWORD_HASHER"],
        "AUDIT_CHECKPOINT_DIR": str(host_b / "checkpoints"),
    }
    given = tmp_path / "host-b.json"
    given.write_text(
        json.dumps(
            {
                "settings": settings,
                "email": person_b.email,
                "password": person_b.password,
                "totp": person_b.totp_secret,
                "downloads": {"document": document_url, "bundle": f"/bundles/{public_id}"},
                "upload_to": reference,
                "upload": "a letter uploaded on host B",
            }
        )
    )
    environment = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "DISCLOSURE_KEYS_DIR": app.config["KEYS_DIR"],
        "DISCLOSURE_BLOB_BACKEND": "database",
    }
    child = subprocess.run(
        [sys.executable, "-m", "tests.storage.second_host", str(given), str(out)],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    seen = json.loads(child.stdout.strip().splitlines()[-1])

    assert seen["keys_dir"] == app.config["KEYS_DIR"] and seen["backend"] == "database"
    assert seen["signed_in"] == 302
    assert seen["document"] == 200
    assert (out / "document").read_bytes() == warrant
    assert seen["bundle"] == 200
    fetched = (out / "bundle").read_bytes()
    assert len(fetched) == bundle_size and hashlib.sha256(fetched).hexdigest() == bundle_sha256

    # And back: host B's upload downloads on host A.
    downloaded = client.get(f"/cases/{reference}/documents/{seen['uploaded']}")
    assert downloaded.status_code == 200
    assert downloaded.get_data() == b"a letter uploaded on host B"
    with app.app_context():
        named = set(db.session.execute(select(Document.blob_name)).scalars())
        named |= set(db.session.execute(select(ProductionRecord.blob_name)).scalars())
        named |= set(db.session.execute(select(Bundle.blob_name)).scalars())
        stored = set(store_for_app(app.config, app.instance_path).names())
        db.session.remove()
    assert len(named) == 4 and stored == named  # two documents, the production record and the bundle

    # Nothing of it lives in either host's folders: the blobs and the bundle are rows.
    assert files_in(host_a / "blobs") == [] and files_in(host_a / "bundles") == []
    assert not (host_b / "blobs").exists() or files_in(host_b / "blobs") == []
    assert not (host_b / "bundles").exists() or files_in(host_b / "bundles") == []
