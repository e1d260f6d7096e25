"""The stored tiles: filled by record() in the append's transaction, read for bundle proofs, checked by
`flask audit verify`, and backfilled by the migration for a log that existed before them. Both databases."""

from __future__ import annotations

import hashlib
import itertools
import json
import random

import pytest
import sqlalchemy as sa
from flask import Flask

from disclosure import create_app
from disclosure.audit.actions import AuditAction
from disclosure.audit.merkle import stored_tree
from disclosure.audit.service import record
from disclosure.extensions import db
from disclosure_proofs import merkle
from disclosure_proofs.tiles import TileBuilder
from tests.conftest import base_settings
from tests.test_migrations import empty_database, restore_shared_schema

TILES_SQL = 'SELECT level, "index", hashes, root FROM audit_tile ORDER BY level, "index"'


def append(count: int) -> None:
    for start in range(0, count, 200):
        for index in range(start, min(start + 200, count)):
            record(None, AuditAction.USER_SIGN_IN, subject=f"case:{index % 7}", data={"n": index})
        db.session.commit()


def leaves() -> list[bytes]:
    rows = db.session.execute(sa.text("SELECT leaf_hash FROM audit_event ORDER BY seq")).scalars()
    return [bytes(leaf) for leaf in rows]


def stored_tiles() -> list[tuple[int, int, bytes, bytes]]:
    rows = db.session.execute(sa.text(TILES_SQL))
    return [(int(level), int(index), bytes(h), bytes(r)) for level, index, h, r in rows]


def expected_tiles(hashes: list[bytes]) -> list[tuple[int, int, bytes, bytes]]:
    return sorted((t.level, t.index, t.hashes, t.root) for t in TileBuilder().extend(hashes))


def seed_events(count: int) -> list[bytes]:
    """A log of `count` events inserted directly (fast), with its tiles and head, as record() would leave it."""
    rows, chain, builder = [], bytes(32), merkle.RootBuilder()
    for seq in range(1, count + 1):
        body = b'{"seed":%d}' % seq
        leaf = hashlib.sha256(b"\x00" + body).digest()
        chain = hashlib.sha256(b"disclosure-audit-v1\0" + chain + leaf).digest()
        rows.append({"seq": seq, "body": body, "leaf": leaf, "chain": chain})
        builder.append(leaf)
    connection = db.session.connection()
    connection.execute(
        sa.text(
            "INSERT INTO audit_event (seq, ts, body, leaf_hash, chain_hash, action) "
            "VALUES (:seq, CURRENT_TIMESTAMP, :body, :leaf, :chain, 'seed')"
        ),
        rows,
    )
    hashes = [row["leaf"] for row in rows]
    tiles = [
        {"level": t.level, "index": t.index, "hashes": t.hashes, "root": t.root} for t in TileBuilder().extend(hashes)
    ]
    if tiles:
        connection.execute(
            sa.text('INSERT INTO audit_tile (level, "index", hashes, root) VALUES (:level, :index, :hashes, :root)'),
            tiles,
        )
    connection.execute(
        sa.text("UPDATE audit_head SET size = :size, chain_tip = :tip, frontier = :frontier"),
        {"size": count, "tip": chain, "frontier": merkle.encode_frontier(builder.frontier)},
    )
    db.session.commit()
    return hashes


def test_record_stores_each_tile_when_it_fills(app: Flask) -> None:
    with app.app_context():
        append(255)
        assert stored_tiles() == []
        append(1)
        assert stored_tiles() == expected_tiles(leaves())
        assert len(stored_tiles()) == 1
        append(300)
        assert stored_tiles() == expected_tiles(leaves()) and len(stored_tiles()) == 2


def test_record_fills_the_level_above_when_256_tiles_are_full(app: Flask) -> None:
    with app.app_context():
        seed_events(65_534)
        append(2)
        hashes = leaves()
        assert len(hashes) == 65_536
        tiles = stored_tiles()
        assert tiles == expected_tiles(hashes)
        assert (1, 0) in {(level, index) for level, index, _h, _r in tiles}
        assert tiles[-1][3] == merkle.root_from_leaves(hashes)


@pytest.mark.parametrize("size", [1, 255, 256, 257, 65_535, 65_536, 65_537])
def test_proofs_from_stored_tiles_equal_proofs_from_every_leaf(app: Flask, size: int) -> None:
    with app.app_context():
        hashes = seed_events(65_537)[:size] if size > 300 else None
        if hashes is None:
            append(size)
            hashes = leaves()
        root = merkle.root_from_leaves(hashes)
        proofs = stored_tree(db.session.connection(), size)
        assert proofs.root == root
        for index in sorted({0, size // 2, size - 1, 255 % size}):
            assert proofs.inclusion_proof(index + 1, hashes[index]) == merkle.inclusion_proof(hashes, index)
        for old in sorted({1, size - 1 or 1, size}):
            assert proofs.consistency_proof(old) == merkle.consistency_proof(hashes, old)


def test_a_proof_that_does_not_lead_to_the_root_is_never_handed_out(app: Flask) -> None:
    with app.app_context():
        append(3)
        hashes = leaves()
        proofs = stored_tree(db.session.connection(), 3, root=bytes(32))
        with pytest.raises(merkle.ProofError, match="seq 2"):
            proofs.inclusion_proof(2, hashes[1])


def test_a_forged_tile_gives_no_proof_even_with_a_root_forged_to_match(app: Flask, backend: str) -> None:
    """Proofs are checked against a root kept apart from the tiles (the head's here), not the tiles' own."""
    with app.app_context():
        append(600)
        hashes = leaves()
    forged = [hashes[1], hashes[0], *hashes[2:256]]
    tamper_tile(
        app,
        backend,
        'UPDATE audit_tile SET hashes = :hashes, root = :root WHERE level = 0 AND "index" = 0',
        {"hashes": b"".join(forged), "root": merkle.fold_perfect(forged)},
    )
    with app.app_context():
        proofs = stored_tree(db.session.connection(), 600)
        assert proofs.root == merkle.root_from_leaves(hashes)
        with pytest.raises(merkle.ProofError, match="seq 300"):
            proofs.inclusion_proof(300, hashes[299])
        with pytest.raises(merkle.ProofError, match="from size 100"):
            proofs.consistency_proof(100)
    code, output = verify(app)
    assert code == 1 and "tile level 0, index 0 (events 1 to 256) differs from the recomputed tree: its root" in output


def tamper_tile(app: Flask, backend: str, sql: str, parameters: dict[str, object] | None = None) -> None:
    with app.app_context(), db.engine.begin() as connection:
        if backend == "postgresql":
            connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(sa.text("DROP TRIGGER IF EXISTS audit_tile_no_update"))
            connection.execute(sa.text("DROP TRIGGER IF EXISTS audit_tile_no_delete"))
        connection.execute(sa.text(sql), parameters or {})


def verify(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            'UPDATE audit_tile SET hashes = (SELECT hashes FROM audit_tile WHERE level = 0 AND "index" = 0) '
            'WHERE level = 0 AND "index" = 1',
            "tile level 0, index 1 (events 257 to 512) differs from the recomputed tree",
        ),
        (
            'UPDATE audit_tile SET root = substr(hashes, 1, 32) WHERE level = 0 AND "index" = 0',
            "tile level 0, index 0 (events 1 to 256) differs from the recomputed tree",
        ),
        (
            'DELETE FROM audit_tile WHERE level = 0 AND "index" = 1',
            "tile level 0, index 1 (events 257 to 512) is missing from the stored tree",
        ),
        (
            'INSERT INTO audit_tile (level, "index", hashes, root) SELECT level, 2, hashes, root FROM audit_tile '
            'WHERE level = 0 AND "index" = 0',
            "tile level 0, index 2 (events 513 to 768) is stored, but the log of 600 events has no such tile",
        ),
    ],
    ids=["hashes", "root", "missing", "extra"],
)
def test_verify_reports_a_tampered_tile_with_its_level_and_index(
    app: Flask, backend: str, sql: str, message: str
) -> None:
    with app.app_context():
        append(600)
    code, output = verify(app)
    assert code == 0, output
    tamper_tile(app, backend, sql)
    code, output = verify(app)
    assert code == 1 and message in output, output


def check_tiles_alone(app: Flask, hashes: list[bytes]) -> list[str]:
    """The tile check alone, given the leaf hashes as the scan would (the seeded bodies are not canonical, so the
    row scan is left out): what it finds."""
    from disclosure.audit import verify as verify_module
    from disclosure.audit.scan_tree import PartTree, join_digests

    part = PartTree(0, 8_192, ())
    for start in range(0, len(hashes), 512):
        part.extend(hashes[start : start + 512])
    level_zero = verify_module.LevelZero(bytes(part.tile_roots), join_digests([part]))
    with app.app_context(), db.engine.connect() as connection, verify_module._snapshot(connection) as snapshot:
        result = verify_module.VerifyResult(size=len(hashes))
        verify_module._check_tiles(snapshot, result, level_zero)
    return [str(f) for f in result.findings]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            'UPDATE audit_tile SET root = substr(hashes, 1, 32) WHERE level = 1 AND "index" = 0',
            "tile level 1, index 0 (events 1 to 65536) differs from the recomputed tree: its root",
        ),
        (
            # Another tile's hashes in the upper tile; its root left as it was.
            'UPDATE audit_tile SET hashes = (SELECT hashes FROM audit_tile WHERE level = 0 AND "index" = 0) '
            'WHERE level = 1 AND "index" = 0',
            "tile level 1, index 0 (events 1 to 65536) differs from the recomputed tree: its hashes",
        ),
        (
            'UPDATE audit_tile SET root = substr(hashes, 1, 32) WHERE level = 0 AND "index" = 255',
            "tile level 0, index 255 (events 65281 to 65536) differs from the recomputed tree: its root",
        ),
        (
            'DELETE FROM audit_tile WHERE level = 1 AND "index" = 0',
            "tile level 1, index 0 (events 1 to 65536) is missing from the stored tree",
        ),
    ],
    ids=["root", "hashes", "last-below", "missing"],
)
def test_tampered_upper_tile_is_reported(app: Flask, backend: str, sql: str, message: str) -> None:
    with app.app_context():
        hashes = seed_events(65_537)
    assert check_tiles_alone(app, hashes) == []
    tamper_tile(app, backend, sql)
    assert check_tiles_alone(app, hashes) == [message]


def test_the_scan_notes_every_tile_however_its_leaves_arrive() -> None:
    """Tile roots and digests from parts of any block size, fed in batches of any width, cut by checkpoints."""
    from disclosure.audit import scan_worker
    from disclosure.audit.scan import Scan
    from disclosure.audit.scan_tree import PartTree, combine, join_digests

    def scanned(part: PartTree) -> Scan:
        return Scan(part.size + 1, bytes(32), part)

    rng = random.Random(6962)
    hashes = [hashlib.sha256(b"%d" % index).digest() for index in range(3 * 256 + 100)]
    tiles = [t for t in TileBuilder().extend(hashes) if t.level == 0]
    for block in (4, 64, 256, 512):
        for _ in range(12):
            cuts = sorted({0, len(hashes), *(rng.randrange(len(hashes)) // block * block for _ in range(3))})
            marks = {rng.randrange(1, len(hashes)) for _ in range(4)}
            parts = []
            for start, end in itertools.pairwise(cuts):
                part, at = PartTree(start, block, marks), start
                while at < end:
                    width = rng.choice([1, 7, 64, 255, 256, 512, 700])
                    part.extend(hashes[at : min(end, at + width)])
                    at = min(end, at + width)
                parts.append(part)
            # As worker processes report their parts, too.
            reported = [
                scan_worker._decode(
                    json.loads(json.dumps({"sound": True, **scan_worker._encode(scanned(part), bytes(32))})),
                    start,
                    end,
                    block,
                )
                for part, (start, end) in zip(parts, itertools.pairwise(cuts), strict=True)
            ]
            assert all(part is not None for part in reported)
            for found in (parts, [part.tree for part in reported if part is not None]):
                tree, _roots_at = combine(found)
                assert bytes(tree.tile_roots or b"") == b"".join(t.root for t in tiles), (block, cuts)
                assert join_digests(found) == b"".join(hashlib.sha256(t.hashes).digest() for t in tiles), (block, cuts)


def test_the_migration_backfills_tiles_for_an_existing_log(backend: str, tmp_path, instance) -> None:
    from flask_migrate import downgrade, upgrade

    url = empty_database(backend, tmp_path, "tiles.db")
    app = create_app(base_settings(instance, url))
    try:
        with app.app_context():
            upgrade()
            append(700)
            written = stored_tiles()
            assert len(written) == 2
            db.session.remove()  # SQLite: the read above holds the write lock (BEGIN IMMEDIATE) until it ends
            downgrade(revision="0007")
            db.session.remove()
            upgrade()
            assert stored_tiles() == written == expected_tiles(leaves())
            db.session.rollback()
            db.engine.dispose()
    finally:
        restore_shared_schema(backend, url, app)
