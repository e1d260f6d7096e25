"""Sizes over 2 GiB are recorded: documents, production records and bundles (migration 0012).

PostgreSQL's INTEGER stops at 2^31 - 1, so a 3 GiB file was encrypted and written and then failed at the INSERT.
Adding a 3 GiB sparse file through `flask production add` takes about 21 s on this machine (reading the file's
holes about 7.6 s, writing 3 GiB of ciphertext 6.5 s, SHA-256 2.2 s, encryption 1 s), too slow for the suite; so
these tests record the sizes through the models, as the services do with the StoredBlob the store hands back."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from flask_migrate import downgrade, upgrade
from sqlalchemy import select
from sqlalchemy.exc import DataError

from disclosure import create_app
from disclosure.auth.models import User
from disclosure.cases.models import Case, Document
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.production.models import Bundle, ProductionRecord
from tests.conftest import base_settings
from tests.production.helpers import approved_case
from tests.test_migration_stairway import SEEDS, reflected
from tests.test_migrations import empty_database, restore_shared_schema

THREE_GIB = 3 * 2**30


def test_a_document_a_record_and_a_bundle_of_3_gib_keep_their_sizes(app):
    with app.app_context():
        reference = approved_case(("stored_content",))
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        user = db.session.execute(select(User)).scalars().first()
        assert user is not None
        db.session.add(
            Document(
                case_id=case.id, kind="legal_process", filename="warrant.pdf", content_type="application/pdf",
                size=THREE_GIB, sha256="ab" * 32, blob_name="a" * 32, uploaded_by_id=user.id,
            )
        )  # fmt: skip
        db.session.add(
            ProductionRecord(
                case_id=case.id, target_id=case.targets[0].id, category="stored_content", filename="mailbox.mbox",
                size=THREE_GIB + 1, sha256="cd" * 32, blob_name="b" * 32, added_by_id=user.id,
            )
        )  # fmt: skip
        db.session.add(
            Bundle(
                public_id="c" * 16, kind="production", case_id=case.id, filename=f"{reference}.zip", sha256="ef" * 32,
                size=THREE_GIB + 2, file_count=1, checkpoint_size=1, expires_at=utcnow() + timedelta(days=1),
            )
        )  # fmt: skip
        db.session.commit()
        db.session.expire_all()
        assert db.session.execute(select(Document.size)).scalar_one() == THREE_GIB
        assert db.session.execute(select(ProductionRecord.size)).scalar_one() == THREE_GIB + 1
        assert db.session.execute(select(Bundle.size)).scalar_one() == THREE_GIB + 2


def _seed_a_case(connection: sa.Connection) -> dict[str, sa.Table]:
    tables = reflected(connection)
    for seed in SEEDS:
        if seed.table in ("user_account", "agency", "case_file") and seed.when is None:
            connection.execute(tables[seed.table].insert(), seed.rows)
    return tables


def _document(size: int) -> dict[str, object]:
    return {
        "case_id": 1, "kind": "legal_process", "filename": "warrant.pdf", "content_type": "application/pdf",
        "size": size, "sha256": "ab" * 32, "blob_name": "a" * 32, "uploaded_by_id": 1, "uploaded_at": utcnow(),
    }  # fmt: skip


@pytest.mark.backends("postgresql")
def test_3_gib_fails_at_0011_fits_at_0012_and_holds_the_downgrade(backend, tmp_path, instance):
    url = empty_database(backend, tmp_path, "sizes.db")
    app = create_app(base_settings(instance, url))
    try:
        with app.app_context():
            upgrade(revision="0011")
            with db.engine.begin() as connection:
                documents = _seed_a_case(connection)["case_document"]
            with pytest.raises(DataError, match="out of range"), db.engine.begin() as connection:
                connection.execute(documents.insert(), [_document(THREE_GIB)])

            upgrade(revision="0012")
            with db.engine.begin() as connection:
                documents = reflected(connection)["case_document"]
                connection.execute(documents.insert(), [_document(THREE_GIB)])
            with db.engine.connect() as connection:
                assert connection.execute(sa.text("SELECT size FROM case_document")).scalar_one() == THREE_GIB

            config = app.extensions["migrate"].migrate.get_config()
            with pytest.raises(RuntimeError, match=r"files of 2 GiB or more: case_document: 1"):
                command.downgrade(config, "0011")
            with db.engine.connect() as connection:
                assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0012"
                assert connection.execute(sa.text("SELECT size FROM case_document")).scalar_one() == THREE_GIB

            with db.engine.begin() as connection:
                connection.execute(sa.text("UPDATE case_document SET size = 2147483647"))
            downgrade(revision="0011")
            with db.engine.connect() as connection:
                assert connection.execute(sa.text("SELECT size FROM case_document")).scalar_one() == 2**31 - 1
            db.engine.dispose()
    finally:
        restore_shared_schema(backend, url, app)
