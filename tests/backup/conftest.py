"""Helpers for the backup tests: seeded data, a second empty instance to restore into, the commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from sqlalchemy import select

from disclosure import create_app
from disclosure.extensions import db
from tests.conftest import POSTGRES_ADMIN_URL, POSTGRES_TEST_DB, base_settings, require_postgres
from tests.documents import pdf
from tests.factories import make_case, make_user

PASSPHRASE = "correct horse battery staple, twice over"


def flask(app: Flask, *args: str, input: str | None = None) -> Result:
    with app.app_context():
        db.session.remove()  # no test transaction may hold a lock the command needs
    return app.test_cli_runner().invoke(args=list(args), input=input)


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class Seeded:
    #: Case reference -> the plaintext of each document uploaded to it, in upload order.
    documents: dict[str, list[bytes]]


def seed(app: Flask, cases: int = 2, tag: str = "") -> Seeded:
    """Cases logged and documents uploaded through the services, as intake would."""
    from disclosure.auth.models import User
    from disclosure.cases import service
    from disclosure.cases.models import Case

    documents: dict[str, list[bytes]] = {}
    with app.app_context():
        clerk = make_user("intake")
        for number in range(cases):
            reference = make_case(logged_by=clerk).reference
            case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
            actor = db.session.get(User, clerk.id)
            letter = f"letter {tag}{number}: please preserve the account\n".encode()
            warrant = pdf(pages=number + 1)
            service.add_document(actor, case, "legal_process", warrant, "warrant.pdf", None)
            service.add_document(actor, case, "correspondence", letter, "letter.txt", None)
            db.session.commit()
            documents[reference] = [warrant, letter]
        db.session.remove()
    return Seeded(documents)


def document_contents(app: Flask) -> dict[str, list[bytes]]:
    """Every case's documents as they decrypt from the blob store, in upload order."""
    from disclosure.cases.models import Case, Document
    from disclosure.storage.store import store_for_app

    with app.app_context():
        store = store_for_app(app.config, app.instance_path)
        found: dict[str, list[bytes]] = {}
        rows = db.session.execute(
            select(Case.reference, Document.blob_name).join(Document, Document.case_id == Case.id).order_by(Document.id)
        ).all()
        for reference, blob_name in rows:
            found.setdefault(reference, []).append(store.read_all(blob_name))
        db.session.remove()
    return found


def manifest_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def _fresh_postgres(name: str) -> str:
    require_postgres()
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
def second_instance(backend: str, app: Flask, tmp_path: Path) -> Iterator[Flask]:
    """Another instance with an empty database and an empty instance folder (no keys, no blobs), sharing only the
    secret key (which, like the keys, an operator keeps with the backup)."""
    if backend == "postgresql":
        url = _fresh_postgres(f"{POSTGRES_TEST_DB}_restored")
    else:
        url = f"sqlite:///{tmp_path / 'restored' / 'disclosure.db'}"
    folder = tmp_path / "restored"
    settings = base_settings(folder, url)
    settings["SECRET_KEY"] = app.config["SECRET_KEY"]
    settings["AUDIT_CHECKPOINT_EVERY"] = app.config["AUDIT_CHECKPOINT_EVERY"]
    other = create_app(settings)
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def checkpoint_sizes(folder: Path) -> list[int]:
    return sorted(int(path.stem.split("-")[1]) for path in folder.glob("checkpoint-*.txt"))
