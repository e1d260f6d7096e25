"""The blob store's guarantees, held by both backends: files, and PostgreSQL rows (disclosure.storage.database_backend).

Each test runs on a file store and on a database store over the real PostgreSQL test database, with real
encryption. The stored bytes are altered the way someone with access to the folder or the tables could: a flipped
byte, a cut, a blob's bytes under another name, a chunk row removed. "Fails closed" is test_store's: BlobCorrupted
from open() itself, before any plaintext.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, func, insert, select, update

from disclosure.storage.database_backend import CHUNK_BYTES, BlobWriteLost, ChunkWriter, DatabaseBackend
from disclosure.storage.keys import StorageKeyInUse, StorageKeyring
from disclosure.storage.models import BlobChunk, BlobObject
from disclosure.storage.store import (
    CHUNK_SIZE,
    HEADER_SIZE,
    MAGIC,
    BlobMissing,
    BlobStore,
    BlobTooLarge,
    FileBackend,
    UnsafeBlobName,
)
from tests.conftest import POSTGRES_ADMIN_URL, POSTGRES_TEST_DB, _postgres_url, require_postgres
from tests.storage.test_store import SEGMENT, assert_fails_closed, in_pieces

#: For what exists in the database backend only: chunk rows, generations, completion.
DATABASE_ONLY = pytest.mark.parametrize("kind", ["database"])
OBJECTS = BlobObject.__table__
CHUNKS = BlobChunk.__table__


@pytest.fixture(scope="session")
def blob_engine() -> Iterator[sa.Engine]:
    """The PostgreSQL test database with the blob tables (the other tests' schema, when it is there already)."""
    require_postgres()
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": POSTGRES_TEST_DB}
        ).first()
        if not exists:
            connection.execute(sa.text(f'CREATE DATABASE "{POSTGRES_TEST_DB}"'))
    admin.dispose()
    engine = sa.create_engine(_postgres_url(), pool_pre_ping=True)
    yield engine
    engine.dispose()


class Raw:
    """The stored bytes of a blob, read and replaced below the store, as an intruder or a fault would."""

    def __init__(self, store: BlobStore, engine: sa.Engine | None) -> None:
        self.store = store
        self.engine = engine

    def get(self, name: str) -> bytes:
        if self.engine is None:
            return self.store.path(name).read_bytes()
        with self.engine.connect() as connection:
            generation = connection.execute(select(OBJECTS.c.generation).where(OBJECTS.c.name == name)).scalar_one()
            pieces = connection.execute(
                select(CHUNKS.c.data).where(CHUNKS.c.generation == generation).order_by(CHUNKS.c.seq)
            ).scalars()
            return b"".join(pieces)

    def set(self, name: str, data: bytes) -> None:
        if self.engine is None:
            self.store.path(name).write_bytes(data)
            return
        with self.engine.begin() as connection:
            generation = connection.execute(select(OBJECTS.c.generation).where(OBJECTS.c.name == name)).scalar_one()
            connection.execute(delete(CHUNKS).where(CHUNKS.c.generation == generation))
            for seq, start in enumerate(range(0, max(len(data), 1), CHUNK_BYTES)):
                connection.execute(
                    insert(CHUNKS).values(
                        generation=generation, seq=seq, name=name, data=data[start : start + CHUNK_BYTES]
                    )
                )
            connection.execute(update(OBJECTS).where(OBJECTS.c.name == name).values(stored_size=len(data)))

    def move(self, source: str, target: str) -> None:
        """The stored bytes of `source` under the name `target`."""
        if self.engine is None:
            path = self.store.path(target)
            path.parent.mkdir(exist_ok=True)
            self.store.path(source).rename(path)
            return
        with self.engine.begin() as connection:
            connection.execute(update(OBJECTS).where(OBJECTS.c.name == source).values(name=target))

    def everything(self) -> bytes:
        """Every byte the backend holds."""
        if self.engine is None:
            return b"".join(p.read_bytes() for p in sorted(self.store.root.rglob("*")) if p.is_file())
        with self.engine.connect() as connection:
            every_chunk = select(CHUNKS.c.data).order_by(CHUNKS.c.generation, CHUNKS.c.seq)
            return b"".join(connection.execute(every_chunk).scalars())

    def chunk_rows(self) -> int:
        assert self.engine is not None
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(CHUNKS)).scalar_one())


@pytest.fixture(params=["file", "database"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def raw_store(
    kind: str, tmp_path: Path, keyring: StorageKeyring, request: pytest.FixtureRequest
) -> Iterator[tuple[BlobStore, Raw]]:
    if kind == "file":
        store = BlobStore(FileBackend(tmp_path / "blobs"), keyring)
        yield store, Raw(store, None)
        return
    engine: sa.Engine = request.getfixturevalue("blob_engine")
    with engine.begin() as connection:
        BlobObject.__table__.create(connection, checkfirst=True)
        BlobChunk.__table__.create(connection, checkfirst=True)
        connection.execute(sa.text("TRUNCATE blob_object, blob_chunk"))
    store = BlobStore(DatabaseBackend(engine), keyring)
    yield store, Raw(store, engine)
    # Every read, write, lock and failure gave its connection back (a download holds one only while it streams).
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


@pytest.fixture
def blobs(raw_store: tuple[BlobStore, Raw]) -> BlobStore:
    return raw_store[0]


@pytest.fixture
def raw(raw_store: tuple[BlobStore, Raw]) -> Raw:
    return raw_store[1]


# -- round trips and the stored format -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 12345])
def test_round_trip(blobs: BlobStore, size: int) -> None:
    data = os.urandom(size)
    blob = blobs.put(in_pieces(data, 7919), max_bytes=size)
    assert (blob.size, blob.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert blobs.read_all(blob.name) == data
    chunks = list(blobs.open(blob.name))
    assert b"".join(chunks) == data
    assert all(0 < len(chunk) <= CHUNK_SIZE + SEGMENT for chunk in chunks)  # streamed, never the whole blob
    assert blobs.sha256(blob.name) == blob.sha256
    assert blobs.exists(blob.name) and list(blobs.names()) == [blob.name]
    assert blobs.key_id(blob.name) == blobs.keyring.current_id()
    assert set(blobs.listing()) == {blob.name}


def test_both_backends_store_the_same_format_and_no_plaintext(blobs: BlobStore, raw: Raw) -> None:
    marker = b"DISCLOSURE-PLAINTEXT-MARKER-" + secrets.token_hex(8).encode()
    blob = blobs.put([(marker + os.urandom(997)) * 3000], max_bytes=10 << 20)
    stored = raw.get(blob.name)
    assert stored[:HEADER_SIZE] == MAGIC + blobs.keyring.current_id().encode()
    assert len(stored) > blob.size
    assert marker not in raw.everything()


def test_a_blob_name_must_be_one_the_store_gives(blobs: BlobStore) -> None:
    for name in ("../etc/passwd", "A" * 32, "0" * 31, "", "0" * 32 + "/x"):
        with pytest.raises(UnsafeBlobName):
            blobs.put([b"x"], max_bytes=10, name=name)
        with pytest.raises(UnsafeBlobName):
            blobs.read_all(name)


# -- tampering and faults fail closed ----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["magic", "key id", "preamble", "first chunk", "chunk boundary", "last byte"])
def test_a_flipped_byte_fails_closed(blobs: BlobStore, raw: Raw, where: str) -> None:
    blob = blobs.put([os.urandom(2 * CHUNK_SIZE + 100)], max_bytes=3 * CHUNK_SIZE)
    stored = bytearray(raw.get(blob.name))
    position = {
        "magic": 0,
        "key id": 5,
        "preamble": HEADER_SIZE + 10,
        "first chunk": HEADER_SIZE + 100,
        "chunk boundary": CHUNK_BYTES,  # where the database backend's second row starts
        "last byte": len(stored) - 1,
    }[where]
    stored[position] ^= 0x01
    raw.set(blob.name, bytes(stored))
    assert_fails_closed(blobs, blob.name)


@pytest.mark.parametrize("cut", ["header", "half", "a row", "last byte"])
def test_a_truncated_blob_fails_closed(blobs: BlobStore, raw: Raw, cut: str) -> None:
    blob = blobs.put([os.urandom(2 * CHUNK_SIZE + 100)], max_bytes=3 * CHUNK_SIZE)
    stored = raw.get(blob.name)
    length = {"header": HEADER_SIZE - 3, "half": len(stored) // 2, "a row": CHUNK_BYTES, "last byte": len(stored) - 1}
    raw.set(blob.name, stored[: length[cut]])
    assert_fails_closed(blobs, blob.name)


@DATABASE_ONLY
def test_a_chunk_row_removed_fails_closed(blobs: BlobStore, raw: Raw) -> None:
    blob = blobs.put([os.urandom(3 * CHUNK_SIZE)], max_bytes=3 * CHUNK_SIZE)
    assert raw.engine is not None
    with raw.engine.begin() as connection:
        connection.execute(delete(CHUNKS).where(CHUNKS.c.name == blob.name, CHUNKS.c.seq == 1))
    assert_fails_closed(blobs, blob.name)


def test_a_blob_moved_to_another_name_fails_closed(blobs: BlobStore, raw: Raw) -> None:
    blob = blobs.put([b"the contents of one document"], max_bytes=100)
    other = secrets.token_hex(16)
    raw.move(blob.name, other)
    assert not blobs.exists(blob.name)
    assert_fails_closed(blobs, other)


# -- limits, failures, deletion ------------------------------------------------------------------------------------


def test_over_the_limit_leaves_nothing(blobs: BlobStore) -> None:
    with pytest.raises(BlobTooLarge):
        blobs.put(in_pieces(os.urandom(3 * CHUNK_SIZE), CHUNK_SIZE), max_bytes=2 * CHUNK_SIZE)
    assert list(blobs.names()) == []
    assert blobs.partial_writes() == []


def test_a_writer_that_fails_halfway_leaves_nothing(blobs: BlobStore) -> None:
    def failing() -> Iterator[bytes]:
        yield os.urandom(2 * CHUNK_SIZE)
        raise OSError("the upload was cut off")

    with pytest.raises(OSError, match="cut off"):
        blobs.put(failing(), max_bytes=10 * CHUNK_SIZE)
    assert list(blobs.names()) == []
    assert blobs.partial_writes() == []


def test_delete(blobs: BlobStore, raw: Raw, kind: str) -> None:
    keep = blobs.put([b"keep"], max_bytes=10)
    gone = blobs.put([os.urandom(2 * CHUNK_SIZE)], max_bytes=2 * CHUNK_SIZE)
    assert blobs.delete(gone.name) is True
    assert blobs.delete(gone.name) is False
    assert not blobs.exists(gone.name)
    with pytest.raises(BlobMissing):
        blobs.open(gone.name)
    assert list(blobs.names()) == [keep.name]
    if kind == "database":
        assert raw.chunk_rows() == 1  # the deleted blob's rows went with it


# -- a writer killed mid-write ---------------------------------------------------------------------------------------


def abandon_a_write(blobs: BlobStore, raw: Raw) -> None:
    """What a writer SIGKILLed mid-write leaves behind: ciphertext that no blob name shows."""
    if isinstance(blobs.backend, FileBackend):
        leftover = blobs.root / ".tmp" / f"{secrets.token_hex(16)}.part"
        leftover.write_bytes(os.urandom(3 * CHUNK_SIZE))
        return
    assert raw.engine is not None
    writer = ChunkWriter(raw.engine, secrets.token_hex(16))
    writer.write(os.urandom(3 * CHUNK_SIZE))  # three chunk rows committed; the object row never comes
    writer._close()


def test_an_unfinished_write_is_no_blob_and_is_removed_once_stale(blobs: BlobStore, raw: Raw) -> None:
    kept = blobs.put([b"complete"], max_bytes=100)
    abandon_a_write(blobs, raw)
    assert list(blobs.names()) == [kept.name]
    assert len(blobs.partial_writes()) == 1
    assert blobs.remove_stale_temporaries(older_than_seconds=3600) == 0  # it may be a write in progress
    assert blobs.remove_stale_temporaries(older_than_seconds=0) == 1
    assert blobs.partial_writes() == []
    assert blobs.read_all(kept.name) == b"complete"
    if raw.engine is not None:
        assert raw.chunk_rows() == 1


@DATABASE_ONLY
def test_a_write_whose_chunks_were_removed_as_abandoned_is_not_completed(blobs: BlobStore, raw: Raw) -> None:
    """Reconcile removing a slow write's chunks and the write completing never both succeed (the file store's
    counterpart is the pending_file row, tests/storage/test_reconcile.py)."""
    backend = blobs.backend
    assert isinstance(backend, DatabaseBackend)
    name = secrets.token_hex(16)
    creating = backend.create(name, blobs.keyring.current_id())
    with pytest.raises(BlobWriteLost, match="removed as abandoned"), creating as out:
        out.write(os.urandom(2 * CHUNK_BYTES + 5))
        assert isinstance(out, ChunkWriter)
        backend.remove_unfinished(out.generation)
    assert not blobs.exists(name)
    assert raw.chunk_rows() == 0


# -- keys ------------------------------------------------------------------------------------------------------------


def test_rotation_and_retirement(blobs: BlobStore, raw: Raw, kind: str) -> None:
    contents = [os.urandom(size) for size in (0, 100, 2 * CHUNK_SIZE + 7)]
    stored = [blobs.put([data], max_bytes=len(data)) for data in contents]
    old_key = blobs.keyring.current_id()
    with pytest.raises(StorageKeyInUse):
        blobs.retire(old_key)
    before = {blob.name: raw.get(blob.name) for blob in stored}
    rotation = blobs.rotate_key()
    assert rotation.rotated == 3 and rotation.corrupted == ()
    assert rotation.key_id != old_key
    for blob, data in zip(stored, contents, strict=True):
        assert blobs.key_id(blob.name) == rotation.key_id
        assert blobs.read_all(blob.name) == data
        assert raw.get(blob.name) != before[blob.name]
    blobs.retire(old_key)
    assert old_key not in blobs.keyring.key_ids()
    for blob, data in zip(stored, contents, strict=True):
        assert blobs.read_all(blob.name) == data
    if kind == "database":
        assert raw.engine is not None
        with raw.engine.connect() as connection:
            key_ids = set(connection.execute(select(OBJECTS.c.key_id)).scalars())
        assert key_ids == {rotation.key_id}
        assert raw.chunk_rows() == 1 + 1 + 3  # the old generations are gone
        assert blobs.partial_writes() == []


def test_a_corrupted_blob_is_left_under_its_old_key(blobs: BlobStore, raw: Raw) -> None:
    good = blobs.put([b"good"], max_bytes=10)
    bad = blobs.put([b"bad one"], max_bytes=10)
    stored = bytearray(raw.get(bad.name))
    stored[-1] ^= 1
    raw.set(bad.name, bytes(stored))
    old_key = blobs.keyring.current_id()
    rotation = blobs.rotate_key()
    assert rotation.rotated == 1 and len(rotation.corrupted) == 1 and bad.name in rotation.corrupted[0]
    assert blobs.key_id(bad.name) == old_key
    assert blobs.read_all(good.name) == b"good"
    assert blobs.partial_writes() == []


@DATABASE_ONLY
def test_a_delete_during_re_encryption_is_not_undone(blobs: BlobStore, raw: Raw) -> None:
    """The file store's counterpart, with flock, is in tests/storage/test_rotation.py."""
    blob = blobs.put([os.urandom(CHUNK_SIZE + 3)], max_bytes=2 * CHUNK_SIZE)
    with blobs.backend.rewrite(blob.name) as rewrite:
        assert rewrite is not None
        with rewrite.replacement() as replacement:
            replacement.out.write(raw.get(blob.name))
            assert blobs.delete(blob.name) is True  # lands between the re-encryption and its installation
            assert replacement.install() is False
    assert not blobs.exists(blob.name)
    assert raw.chunk_rows() == 0
