"""Crash consistency with real processes killed by SIGKILL, and memory that stays bounded for large files.

A killed writer leaves the old file or the new one under a blob's name, never part of one; a name handed out
(the "record") always points at a complete blob; the debris in .tmp is ciphertext only.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from disclosure.storage.keys import StorageKeyring
from disclosure.storage.store import BlobStore
from tests.storage.conftest import files_under

PROJECT = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.storage.crash_writer", *args],
        cwd=PROJECT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when_ready(process: subprocess.Popen[str], ready: Path) -> None:
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None:
            raise AssertionError(f"the writer ended early: {process.stderr.read() if process.stderr else ''}")
        assert time.monotonic() < deadline, "the writer never got to the moment to kill it"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL


def test_a_writer_killed_mid_write_leaves_no_partial_blob(
    store: BlobStore, keyring: StorageKeyring, tmp_path: Path
) -> None:
    marker = "KILLED-WRITER-PLAINTEXT-" + secrets.token_hex(8)
    ready = tmp_path / "ready"
    process = start("put", str(store.root), str(keyring.folder), str(ready), marker)
    assert process.stdout is not None
    recorded = process.stdout.readline().strip()  # what a caller would have put in the database
    kill_when_ready(process, ready)

    assert list(store.names()) == [recorded]
    assert store.read_all(recorded) == b"complete before the crash"
    leftovers = store.temporary_files()
    assert len(leftovers) == 1 and leftovers[0].stat().st_size >= 8 << 20  # killed in the middle of a write
    assert set(files_under(store.root)) == {store.path(recorded), leftovers[0]}
    for path in files_under(store.root):
        assert marker.encode() not in path.read_bytes()

    assert store.remove_stale_temporaries(older_than_seconds=3600) == 0  # might still be a write in progress
    assert store.remove_stale_temporaries(older_than_seconds=0) == 1
    after = BlobStore(store.root, keyring).put([b"life goes on"], max_bytes=100)
    assert sorted(store.names()) == sorted([recorded, after.name])
    assert set(files_under(store.root)) == {store.path(recorded), store.path(after.name)}


def test_a_rotation_killed_before_its_rename_leaves_the_old_blob(
    store: BlobStore, keyring: StorageKeyring, tmp_path: Path
) -> None:
    old_key = keyring.current_id()
    content = os.urandom(2 * 1024 * 1024 + 5)
    blob = store.put([content], max_bytes=len(content))
    before = store.path(blob.name).read_bytes()
    ready = tmp_path / "ready"
    kill_when_ready(start("rotate", str(store.root), str(keyring.folder), str(ready)), ready)

    assert store.path(blob.name).read_bytes() == before
    assert store.key_id(blob.name) == old_key
    assert store.read_all(blob.name) == content
    new_key = keyring.current_id()
    assert new_key != old_key  # the rotation got as far as its new key
    assert len(store.temporary_files()) == 1  # the complete, never-named copy under the new key

    assert store.rotate() == 1
    assert store.read_all(blob.name) == content
    for key_id in keyring.key_ids():
        if key_id != keyring.current_id():
            store.retire(key_id)
    assert keyring.key_ids() == [keyring.current_id()]


def test_200_mib_stays_within_bounded_memory(store: BlobStore, keyring: StorageKeyring) -> None:
    mebibytes = 200
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.storage.crash_writer",
            "measure",
            str(store.root),
            str(keyring.folder),
            str(mebibytes),
        ],
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures = json.loads(result.stdout)
    assert figures["size"] == mebibytes << 20
    assert figures["sha256_ok"]
    assert figures["largest_chunk"] <= 1 << 20
    assert figures["put_peak"] < 32 << 20, figures
    assert figures["read_peak"] < 32 << 20, figures
    assert figures["rss_growth"] < 64 << 20, figures
