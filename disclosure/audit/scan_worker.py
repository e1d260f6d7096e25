"""Checking the later parts of a large SQLite log in worker processes, so that verification uses every core.

verify_log checks the first part itself while each worker (`python -m disclosure.audit.scan_worker`) checks a
range of seq in a read transaction of its own on the same database file: every leaf and chain hash, the seqs,
the copied columns (action, subject, actor_id, ts) against the body, and its part of the tree. A worker only
ever answers "every row of my part is sound, and here is its tree" (with the roots and leaf digests of the tiles
in it, for the tile check) or "not sound". Its range ends at the largest seq in the parent's snapshot, so
appends committed meanwhile never reach it. The parent checks that the parts join up (each starts from the
chain hash the one before ended with); if any part is not sound, it checks everything after its own part
itself, in its own snapshot, so findings are always named by one exact scan in order of seq.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from disclosure.audit.scan import EVENTS_SQL, Scan
from disclosure.audit.scan_tree import PartTree, TileDigests, Tree
from disclosure_proofs.merkle import HASH_SIZE
from disclosure_proofs.tiles import TILE_WIDTH

log = logging.getLogger(__name__)

#: Parts begin at multiples of this many leaves (a power of two), so that each whole block is a subtree of the
#: log's tree; small enough to cut parts of nearly equal length, large enough that the roots to combine are few.
BLOCK = 8_192
#: No part shorter than this: starting a worker costs ~50 ms, what checking ~15,000 rows takes.
MIN_PART = 65_536
#: Parts are of a length: a worker still busy this long after the parent's own part is done, plus as long again
#: as that part took, is presumed stuck, and its part is checked in the parent.
GRACE_SECONDS = 10.0
_MODULE = "disclosure.audit.scan_worker"
_PART_SQL = f"{EVENTS_SQL['sqlite']} WHERE seq > ? AND seq <= ? ORDER BY seq"
_START_SQL = "SELECT chain_hash FROM audit_event WHERE seq = ?"


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def split_points(largest: int, cpus: int) -> list[int]:
    """Where the parts of a log of `largest` rows begin and end: [0, ..., largest], inner points on BLOCK."""
    parts = min(cpus, largest // MIN_PART)
    cuts = {round(largest * index / parts / BLOCK) * BLOCK for index in range(1, parts)} if parts > 1 else set()
    return [0, *sorted(cut for cut in cuts if 0 < cut < largest), largest]


# -- The parent's side ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoundPart:
    """A worker's answer for a part whose rows are all sound."""

    #: The chain hash stored at the row before the part, as the worker read it: its first row chains to it.
    start_chain: bytes
    end_chain: bytes
    tree: PartTree


class Worker:
    """One worker process checking the rows after seq `after`, up to seq `upto`."""

    def __init__(self, database: str, after: int, upto: int, marks: list[int], batch: int) -> None:
        self.after, self.upto, self.block = after, upto, BLOCK
        request = {
            "database": database,
            "after": after,
            "upto": upto,
            "marks": [size for size in marks if after < size <= upto],
            "block": self.block,
            "batch": batch,
        }
        # The package may not be installed (a checkout run in place): let the worker import it from here.
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self._process: subprocess.Popen[bytes] | None = None
        try:
            self._process = subprocess.Popen(  # noqa: S603 - this interpreter, this module, no shell
                [sys.executable, "-m", _MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
            )
            assert self._process.stdin is not None
            # One line; stdin stays open until communicate() closes it, so that it can also wait with a timeout.
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            self._process.stdin.flush()
        except OSError as error:  # no interpreter to start, or it died at once: the parent checks the part
            log.warning("audit verification could not start a worker (%s); checking its part here", error)
            self.stop()

    def result(self, deadline: float) -> SoundPart | None:
        """The worker's part if it answered sound by the deadline (time.monotonic()); None if it did not, or
        failed to answer at all, or is stuck (a `sys.executable` that is not Python, say, as under uWSGI)."""
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            output, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            log.warning("audit verification worker did not answer in time; checking its part here")
            return None
        if process.returncode != 0:  # its traceback went to our stderr
            log.warning("audit verification worker failed (exit %s); checking its part here", process.returncode)
            return None
        try:
            return _decode(json.loads(output), self.after, self.upto, self.block)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("audit verification worker answered nonsense (%s); checking its part here", error)
            return None

    def stop(self) -> None:
        """End the worker if it still runs (its part is no longer needed) and reap it."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.communicate()


def start_workers(database: str, cuts: list[int], marks: list[int], batch: int) -> list[Worker]:
    """One worker for each part after the first (which the parent checks itself)."""
    return [Worker(database, after, upto, marks, batch) for after, upto in pairwise(cuts[1:])]


def join_parts(
    workers: list[Worker], expected: int, previous: bytes, own_seconds: float
) -> tuple[list[PartTree], bytes] | None:
    """The workers' trees, in order, and the chain tip, if every part is sound and each follows on from the one
    before; None otherwise. `expected` and `previous` are where the parent's own part ended, which took it
    `own_seconds`; workers get as long again, and GRACE_SECONDS."""
    deadline = time.monotonic() + 2 * own_seconds + GRACE_SECONDS
    trees = []
    for worker in workers:
        part = worker.result(deadline)
        if part is None or expected != worker.after + 1 or part.start_chain != previous:
            return None
        trees.append(part.tree)
        expected, previous = worker.upto + 1, part.end_chain
    return trees, previous


def _encode(scan: Scan, start_chain: bytes) -> dict[str, Any]:
    tree, tiles = scan.tree, scan.tree.tile_digests
    return {
        "start_chain": start_chain.hex(),
        "end_chain": scan.previous.hex(),
        "blocks": [node.hex() for node in tree.blocks],
        "current": {"size": tree.current.size, "stack": [node.hex() for node in tree.current.stack]},
        "at_marks": [[size, whole, [node.hex() for node in nodes]] for size, (whole, nodes) in tree.at_marks.items()],
        "tiles": {
            "roots": tree.tile_roots.hex(),
            "head": [leaf.hex() for leaf in tiles.head],
            "digests": tiles.digests.hex(),
            "tail": [leaf.hex() for leaf in tiles.tail],
        },
    }


def _decode(answer: dict[str, Any], after: int, upto: int, block: int) -> SoundPart | None:
    if not answer.get("sound"):
        return None
    tree = PartTree(after, block, ())
    tree.blocks = [bytes.fromhex(node) for node in answer["blocks"]]
    current = answer["current"]
    tree.current = Tree([bytes.fromhex(node) for node in current["stack"]], int(current["size"]))
    tree.at_marks = {
        int(size): (int(whole), [bytes.fromhex(node) for node in nodes]) for size, whole, nodes in answer["at_marks"]
    }
    tiles = answer["tiles"]
    tree.tile_roots[:] = bytes.fromhex(tiles["roots"])
    tree.tile_digests = TileDigests.restored(
        after,
        [bytes.fromhex(leaf) for leaf in tiles["head"]],
        bytes.fromhex(tiles["digests"]),
        [bytes.fromhex(leaf) for leaf in tiles["tail"]],
    )
    # A sound part of these leaves lists each of its full tiles once (their roots only if blocks hold tiles).
    head = min(-after % TILE_WIDTH, upto - after)
    whole, tail = divmod(upto - after - head, TILE_WIDTH)
    found = (len(tree.tile_roots), len(tree.tile_digests.digests), len(tree.tile_digests.tail))
    if found != ((whole if block >= TILE_WIDTH else 0) * HASH_SIZE, whole * HASH_SIZE, tail):
        raise ValueError(f"its tiles {found} do not fit the part {after}..{upto}")
    return SoundPart(bytes.fromhex(answer["start_chain"]), bytes.fromhex(answer["end_chain"]), tree)


# -- The worker's side ----------------------------------------------------------------------------------------


def check_part(
    connection: sqlite3.Connection, after: int, upto: int, marks: list[int], block: int, batch: int
) -> dict[str, Any]:
    """Check rows after..upto in one read transaction; the answer the parent decodes."""
    connection.execute("BEGIN")  # deferred: a WAL reader's snapshot, which never blocks nor waits for writers
    try:
        start = connection.execute(_START_SQL, (after,)).fetchone()
        if start is None or not isinstance(start[0], bytes):
            return {"sound": False}
        scan = Scan(after + 1, start[0], PartTree(after, block, marks))
        cursor = connection.execute(_PART_SQL, (after, upto))
        # A batch that merely does not fit the fast check (an event at a whole second, whose ts SQLite holds
        # without a fraction) is gone through row by row here; only a finding makes the part unsound, and the
        # parent then finds it again in its own snapshot, to name it.
        if scan.check(iter(lambda: cursor.fetchmany(batch), [])) is not None or scan.expected != upto + 1:
            return {"sound": False}
        return {"sound": True, **_encode(scan, start[0])}
    finally:
        connection.execute("ROLLBACK")


def main() -> None:
    """The worker: a request as JSON on stdin, the answer as JSON on stdout."""
    request = json.loads(sys.stdin.buffer.readline())
    # Read-only: a worker has no business writing, whatever happens to it.
    connection = sqlite3.connect(Path(request["database"]).as_uri() + "?mode=ro", uri=True, isolation_level=None)
    try:
        answer = check_part(
            connection, request["after"], request["upto"], request["marks"], request["block"], request["batch"]
        )
    finally:
        connection.close()
    sys.stdout.buffer.write(json.dumps(answer).encode())


if __name__ == "__main__":
    main()
