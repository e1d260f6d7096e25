"""/ready answers a load balancer: 200 with every check true, or 503 naming the checks that failed, never a path.

Each failing condition is made real: a missing keys folder, a storage key gone, a checkpoint folder that cannot be
written (read-only for a user who is not root; root writes through any mode, so there it is a file where the folder
should be), a missing blob folder, a database that cannot be opened.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from disclosure import create_app
from disclosure.storage.keys import CURRENT_FILE
from tests.conftest import HttpsClient, base_settings
from tests.factories import make_user

CHECKS = {"database", "blob_store", "keys", "checkpoints"}


def ready(client):
    response = client.get("/ready")
    body = response.get_json()
    assert set(body["checks"]) == CHECKS
    return response, body


def not_ready(client, *failed: str) -> None:
    """The answer is 503 and holds nothing but the checks, those that failed named: no path, no reason."""
    response, body = ready(client)
    assert response.status_code == 503
    assert body == {
        "status": "unavailable",
        "checks": {name: name not in failed for name in CHECKS},
        "failed": list(failed),
    }


def unwritable_folder(folder: Path) -> None:
    """Make the folder one this process cannot create files in, whoever it runs as."""
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # root: permission bits do not stop it, so take the folder away altogether
        folder.chmod(0o700)
        shutil.rmtree(folder)
        folder.write_text("not a folder\n")


def test_ready_answers_anyone_with_each_check(client):
    response, body = ready(client)
    assert response.status_code == 200
    assert body == {"status": "ok", "checks": dict.fromkeys(CHECKS, True)}
    assert response.headers["Cache-Control"] == "no-store"


def test_ready_answers_a_user_who_must_change_their_password(app, client):
    from tests.conftest import sign_in

    with app.app_context():
        user = make_user("intake", must_change_password=True)
    sign_in(client, user.email, user.password)
    assert client.get("/").status_code == 302  # everything else sends them to change it
    assert client.get("/ready").status_code == 200


def test_a_missing_keys_folder_is_not_ready(app, client, instance):
    shutil.rmtree(instance / "keys")
    not_ready(client, "keys")


def test_a_storage_key_that_is_gone_is_not_ready(app, client, instance):
    (instance / "keys" / "storage" / CURRENT_FILE).unlink()
    not_ready(client, "keys")


def test_an_unwritable_checkpoint_folder_is_not_ready(app, client, instance):
    unwritable_folder(instance / "checkpoints")
    try:
        not_ready(client, "checkpoints")
    finally:
        if (instance / "checkpoints").is_dir():
            (instance / "checkpoints").chmod(0o700)


def test_a_missing_checkpoint_folder_is_not_ready(app, client, instance):
    # A WORM mount that did not come up: the folder the app would write to is not there.
    (instance / "checkpoints").rmdir()
    not_ready(client, "checkpoints")


def test_a_missing_blob_folder_is_not_ready(app, client, instance):
    shutil.rmtree(instance / "blobs")
    not_ready(client, "blob_store")
    assert not (instance / "blobs").exists(), "asking must not create the folder"


def test_an_unwritable_blob_folder_is_not_ready(app, client, instance):
    unwritable_folder(instance / "blobs")
    try:
        not_ready(client, "blob_store")
    finally:
        if (instance / "blobs").is_dir():
            (instance / "blobs").chmod(0o700)


@pytest.mark.backends("sqlite")
def test_a_database_that_cannot_be_opened_is_not_ready_and_everything_failing_is_named(tmp_path, backend):
    instance = tmp_path / "instance"
    instance.mkdir()
    app = create_app(base_settings(instance, f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'x.db'}"))
    app.test_client_class = HttpsClient
    not_ready(app.test_client(), "database", "blob_store", "keys", "checkpoints")
    health = app.test_client().get("/health")
    assert health.status_code == 503
