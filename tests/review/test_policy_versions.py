"""Which policy version applies to a new review when a release brings a newer packaged default."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import func, select

import disclosure.policy
from disclosure.auth.models import User
from disclosure.extensions import db
from disclosure.policy.loader import default_policy_bytes
from disclosure.review.models import PolicyVersion
from disclosure.review.policy_versions import current_version, policy_of
from tests.factories import make_user

EARLIER = (Path(disclosure.policy.__file__).with_name("versions") / "2026-1.toml").read_bytes()


def stored(content: bytes, label: str, uploaded_by_id: int | None = None) -> PolicyVersion:
    version = PolicyVersion(
        sha256=hashlib.sha256(content).hexdigest(), content=content, label=label, uploaded_by_id=uploaded_by_id
    )
    db.session.add(version)
    db.session.commit()
    return version


def test_a_newer_packaged_default_replaces_the_earlier_default(app) -> None:
    with app.app_context():
        earlier = stored(EARLIER, "Disclosure policy 2026-1 (default)")
        version = current_version()
        assert version.id != earlier.id
        assert version.sha256 == hashlib.sha256(default_policy_bytes()).hexdigest()
        assert version.label.endswith("2026-2 (default)")
        assert policy_of(version).info.version == "2026-2"
        db.session.commit()
        assert current_version().id == version.id  # registered once
        assert db.session.execute(select(func.count()).select_from(PolicyVersion)).scalar_one() == 2


def test_a_policy_someone_uploaded_stays_in_force(app) -> None:
    with app.app_context():
        admin = make_user("admin")
        uploaded = stored(EARLIER, "Our policy 2026-1", uploaded_by_id=db.session.get(User, admin.id).id)
        assert current_version().id == uploaded.id
        assert db.session.execute(select(func.count()).select_from(PolicyVersion)).scalar_one() == 1
