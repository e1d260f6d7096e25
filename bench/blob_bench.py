"""Blob store benchmark: upload and download MB/s of the file backend and the PostgreSQL backend.

Through the real store API (disclosure.storage.store.BlobStore), with real encryption: `put` of --size-mb MB from
memory (a random 1 MiB block repeated: the cipher does not care), then `open` and the whole stream, which
authenticates the blob before its first byte and then decrypts it again as it streams (two passes, as every
download does). The file backend writes under a temporary folder (fsync, rename); the database backend into a
fresh PostgreSQL database (DISCLOSURE_BENCH_DATABASE_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/
postgres, creates and drops disclosure_blob_bench), each 1 MiB chunk committed on its own. Median of --rounds.
MB means 2^20 bytes.

DESIGN has no storage row in its performance budget; the nearest is the bundle build's (>= 150 MB/s), which reads
every record through this store, so the download figures are printed against it, and the database backend
against the file backend.

    .venv/bin/python bench/blob_bench.py [--size-mb 256] [--rounds 3] [--dir /tmp] [--skip-postgres]

The last line printed is one JSON object: {"file_upload_mb_per_s", "file_download_mb_per_s",
"database_upload_mb_per_s", "database_download_mb_per_s", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from disclosure.storage.database_backend import DatabaseBackend  # noqa: E402
from disclosure.storage.keys import StorageKeyring  # noqa: E402
from disclosure.storage.models import BlobChunk, BlobObject  # noqa: E402
from disclosure.storage.store import BlobStore, FileBackend  # noqa: E402

MB = 1 << 20
BENCH_DB = "disclosure_blob_bench"
#: DESIGN's nearest budget: the bundle build, >= 150 MB/s, reads every record through the store.
BUNDLE_BUDGET = 150.0


def source(size_mb: int) -> Iterator[bytes]:
    block = os.urandom(MB)
    for _ in range(size_mb):
        yield block


def measure(store: BlobStore, size_mb: int, rounds: int) -> tuple[float, float]:
    """(upload MB/s, download MB/s), medians over rounds."""
    uploads, downloads = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        name = store.put(source(size_mb), max_bytes=size_mb * MB).name
        uploads.append(size_mb / (time.perf_counter() - started))
        started = time.perf_counter()
        received = sum(len(chunk) for chunk in store.open(name))
        downloads.append(size_mb / (time.perf_counter() - started))
        assert received == size_mb * MB
        store.delete(name)
    return statistics.median(uploads), statistics.median(downloads)


def admin_url() -> str:
    return os.environ.get("DISCLOSURE_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def with_database(work: Callable[[sa.Engine], tuple[float, float]]) -> tuple[float, float]:
    admin = sa.create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{BENCH_DB}"'))
    engine = sa.create_engine(
        sa.engine.make_url(admin_url()).set(database=BENCH_DB).render_as_string(hide_password=False),
        pool_pre_ping=True,  # as the app's engine (disclosure.config.apply_engine_options)
    )
    try:
        with engine.begin() as connection:
            BlobObject.__table__.create(connection)
            BlobChunk.__table__.create(connection)  # its after_create sets the data column's STORAGE EXTERNAL
        return work(engine)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the file backend writes (default: the system's temp)")
    parser.add_argument("--skip-postgres", action="store_true", help="the file backend only (database figures null)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="blob-bench-", dir=args.dir) as folder:
        keyring = StorageKeyring(Path(folder) / "keys" / "storage")
        keyring.init()
        print(f"blob store, {args.size_mb} MB through put and open, median of {args.rounds}", flush=True)
        file_up, file_down = measure(BlobStore(FileBackend(Path(folder) / "blobs"), keyring), args.size_mb, args.rounds)
        print(f"  file:     upload {file_up:7.1f} MB/s   download {file_down:7.1f} MB/s", flush=True)
        database_up = database_down = None
        if not args.skip_postgres:
            database_up, database_down = with_database(
                lambda engine: measure(BlobStore(DatabaseBackend(engine), keyring), args.size_mb, args.rounds)
            )
            print(f"  database: upload {database_up:7.1f} MB/s   download {database_down:7.1f} MB/s", flush=True)

    figures: dict[str, float | int | None] = {
        "size_mb": args.size_mb,
        "file_upload_mb_per_s": round(file_up, 1),
        "file_download_mb_per_s": round(file_down, 1),
        "database_upload_mb_per_s": None if database_up is None else round(database_up, 1),
        "database_download_mb_per_s": None if database_down is None else round(database_down, 1),
        "file_download_ratio_to_bundle_budget": round(file_down / BUNDLE_BUDGET, 2),
        "database_download_ratio_to_bundle_budget": None
        if database_down is None
        else round(database_down / BUNDLE_BUDGET, 2),
        "database_to_file_upload": None if database_up is None else round(database_up / file_up, 2),
        "database_to_file_download": None if database_down is None else round(database_down / file_down, 2),
    }
    print(f"  download against the bundle build's budget ({BUNDLE_BUDGET:.0f} MB/s, DESIGN's nearest anchor):")
    print(f"    file {figures['file_download_ratio_to_bundle_budget']}x", end="")
    if database_down is not None:
        print(
            f", database {figures['database_download_ratio_to_bundle_budget']}x; database/file: upload "
            f"{figures['database_to_file_upload']}x, download {figures['database_to_file_download']}x"
        )
    else:
        print()
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
