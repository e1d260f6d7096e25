"""Child processes for the crash tests: a writer the test kills with SIGKILL at a chosen moment, and a meter.

python -m tests.storage.crash_writer put ROOT KEYS READY MARKER    # one blob, then writes forever
python -m tests.storage.crash_writer rotate ROOT KEYS READY        # rotates, stalls before its rename
python -m tests.storage.crash_writer measure ROOT KEYS MEBIBYTES   # JSON: memory peaks, throughput
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from disclosure.storage.keys import StorageKeyring
from disclosure.storage.store import BlobStore


def endless_upload(marker: bytes, ready: Path) -> Iterator[bytes]:
    block = marker * ((1 << 20) // len(marker))
    sent = 0
    while True:
        yield block
        sent += len(block)
        if sent >= 8 << 20:
            ready.touch()
            time.sleep(0.002)


def put(store: BlobStore, ready: Path, marker: str) -> None:
    print(store.put([b"complete before the crash"], max_bytes=100).name, flush=True)
    store.put(endless_upload(marker.encode(), ready), max_bytes=1 << 50)


def rotate(store: BlobStore, ready: Path) -> None:
    real_replace = os.replace

    def stalled_replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        if "/.tmp/" in str(source):  # a re-encrypted copy, complete and fsynced, about to take its name
            ready.touch()
            time.sleep(600)
        real_replace(source, target)

    os.replace = stalled_replace  # type: ignore[assignment]
    store.rotate()


def measure(store: BlobStore, mebibytes: int) -> None:
    block = os.urandom(1 << 20)
    expected = hashlib.sha256()
    for _ in range(mebibytes):
        expected.update(block)

    def upload() -> Iterator[bytes]:
        for _ in range(mebibytes):
            yield block

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    started = time.perf_counter()
    blob = store.put(upload(), max_bytes=mebibytes << 20)
    put_seconds = time.perf_counter() - started
    put_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    started = time.perf_counter()
    digest = hashlib.sha256()
    size = 0
    largest = 0
    for chunk in store.open(blob.name):
        digest.update(chunk)
        size += len(chunk)
        largest = max(largest, len(chunk))
    read_seconds = time.perf_counter() - started
    read_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "size": size,
                "largest_chunk": largest,
                "sha256_ok": digest.hexdigest() == expected.hexdigest() == blob.sha256,
                "put_peak": put_peak,
                "read_peak": read_peak,
                "rss_growth": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline,
                "put_mb_s": mebibytes / put_seconds,
                "open_mb_s": mebibytes / read_seconds,
            }
        )
    )


def main(argv: list[str]) -> None:
    command, root, keys, *rest = argv
    store = BlobStore(Path(root), StorageKeyring(Path(keys)))
    if command == "put":
        put(store, Path(rest[0]), rest[1])
    elif command == "rotate":
        rotate(store, Path(rest[0]))
    elif command == "measure":
        measure(store, int(rest[0]))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
