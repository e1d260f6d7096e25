"""Verification of the whole log without trusting the database: every hash, the chain, the tree and checkpoints.

The first problem found is reported with the seq it concerns and what is wrong, in plain words. Given
checkpoints (files kept outside the database, or the copies in it) must verify with the log key and must
match the root recomputed at their size: a rewritten history or a truncated tail cannot hide from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, select

from disclosure.audit.canonical import GENESIS_CHAIN, chain_hash, leaf_hash
from disclosure.audit.merkle import RootBuilder, decode_frontier, frontier_root
from disclosure.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from disclosure.audit.note import Checkpoint, NoteError, verify_checkpoint

BATCH = 20_000


@dataclass(frozen=True)
class Finding:
    """One problem: the seq it concerns (None for the log as a whole) and what is wrong."""

    seq: int | None
    problem: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.problem}" if self.seq is not None else self.problem


@dataclass
class VerifyResult:
    size: int = 0
    root: bytes = b""
    findings: list[Finding] = field(default_factory=list)
    checkpoints_checked: int = 0

    @property
    def intact(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        if self.intact:
            return f"intact: {self.size} events, root {self.root.hex()}"
        return f"NOT intact: {self.findings[0]}"


@dataclass(frozen=True)
class GivenCheckpoint:
    """A checkpoint to check against, with a label saying where it came from."""

    label: str
    note: str


def _rows(connection: Connection) -> Iterator[tuple[int, bytes, bytes, bytes, str, str | None]]:
    table = AuditEvent.__table__
    statement = select(
        table.c.seq, table.c.body, table.c.leaf_hash, table.c.chain_hash, table.c.action, table.c.subject
    ).order_by(table.c.seq)
    # Options on the statement, not the connection: Connection.execution_options() changes the connection in place.
    result = connection.execute(statement.execution_options(stream_results=True, yield_per=BATCH))
    for partition in result.partitions(BATCH):
        yield from partition  # type: ignore[misc]


def _body_seq(body: bytes) -> int | None:
    # Canonical JSON sorts keys: top-level "seq" follows "data", so the last '"seq":' is the top-level one
    # (inside strings a quote is escaped, so the pattern cannot occur there).
    at = body.rfind(b'"seq":')
    if at < 0:
        return None
    end = body.find(b",", at)
    try:
        return int(body[at + 6 : end])
    except ValueError:
        return None


def _indexed_fields_match(body: bytes, action: str, subject: str | None) -> bool:
    return body.startswith(b'{"action":' + json.dumps(action).encode() + b",") and (
        b'"subject":' + json.dumps(subject, ensure_ascii=False).encode() + b","
    ) in body


def verify_log(
    connection: Connection,
    public_key: Ed25519PublicKey | None,
    key_name: str,
    origin: str,
    given: Iterable[GivenCheckpoint] = (),
) -> VerifyResult:
    result = VerifyResult()
    checkpoints = _load_checkpoints(connection, public_key, key_name, origin, given, result)
    wanted_sizes = {checkpoint.size for _label, checkpoint in checkpoints}
    roots_at: dict[int, bytes] = {0: RootBuilder().root()}
    builder = RootBuilder()
    previous = GENESIS_CHAIN
    expected = 1
    first = result.findings.append
    for seq, body, stored_leaf, stored_chain, action, subject in _rows(connection):
        if result.findings:
            break
        body, stored_leaf, stored_chain = bytes(body), bytes(stored_leaf), bytes(stored_chain)
        if seq != expected:
            first(Finding(expected, f"row missing: the log jumps from seq {expected - 1} to seq {seq}"))
            break
        body_seq = _body_seq(body)
        if body_seq != seq and body_seq is not None and leaf_hash(body) == stored_leaf:
            first(Finding(seq, f"rows reordered: row {seq} holds the event recorded as seq {body_seq}"))
            break
        if leaf_hash(body) != stored_leaf:
            first(Finding(seq, "body edited: its SHA-256 no longer matches the stored leaf hash"))
            break
        if body_seq != seq:
            first(Finding(seq, f"body names seq {body_seq}, not {seq}"))
            break
        if chain_hash(previous, stored_leaf) != stored_chain:
            first(Finding(seq, "chain broken: the chain hash does not follow from the previous event"))
            break
        if not _indexed_fields_match(body, action, subject):
            first(Finding(seq, "index columns (action, subject) edited: they differ from the hashed body"))
            break
        builder.append(stored_leaf)
        previous = stored_chain
        if seq in wanted_sizes:
            roots_at[seq] = builder.root()
        expected += 1
    result.size = builder.size
    result.root = builder.root()
    if not result.findings:
        _check_head(connection, result, previous)
    if not result.findings:
        _check_against_checkpoints(checkpoints, roots_at, result)
    return result


def _load_checkpoints(
    connection: Connection,
    public_key: Ed25519PublicKey | None,
    key_name: str,
    origin: str,
    given: Iterable[GivenCheckpoint],
    result: VerifyResult,
) -> list[tuple[str, Checkpoint]]:
    stored = connection.execute(select(AuditCheckpoint.id, AuditCheckpoint.note).order_by(AuditCheckpoint.id))
    sources = [*given, *(GivenCheckpoint(f"stored checkpoint #{row.id}", row.note) for row in stored)]
    checked = []
    for source in sources:
        if public_key is None:
            result.findings.append(Finding(None, "no log key to check checkpoint signatures; run `flask keys init`"))
            break
        try:
            checked.append((source.label, verify_checkpoint(source.note, public_key, key_name, expected_origin=origin)))
        except NoteError as error:
            result.findings.append(Finding(None, f"{source.label}: checkpoint signature invalid or forged ({error})"))
            break
    result.checkpoints_checked = len(checked)
    return checked


def _check_head(connection: Connection, result: VerifyResult, chain_tip: bytes) -> None:
    head = connection.execute(select(AuditHead).where(AuditHead.id == 1)).one_or_none()
    if head is None:
        result.findings.append(Finding(None, "the head row is missing"))
        return
    if head.size > result.size:
        result.findings.append(
            Finding(result.size + 1, f"tail truncated: the head records {head.size} events, the table holds {result.size}")
        )
    elif head.size < result.size:
        result.findings.append(Finding(head.size + 1, f"rows appended behind the head's back (head size {head.size})"))
    elif bytes(head.chain_tip) != (chain_tip if result.size else bytes(32)):
        result.findings.append(Finding(None, "the head's chain tip differs from the last event's chain hash"))
    elif frontier_root(decode_frontier(bytes(head.frontier), head.size), head.size) != result.root:
        result.findings.append(Finding(None, "the head's tree frontier differs from the recomputed tree"))


def _check_against_checkpoints(
    checkpoints: list[tuple[str, Checkpoint]], roots_at: dict[int, bytes], result: VerifyResult
) -> None:
    for label, checkpoint in sorted(checkpoints, key=lambda item: item[1].size):
        if checkpoint.size > result.size:
            result.findings.append(
                Finding(
                    result.size + 1,
                    f"tail truncated: {label} covers {checkpoint.size} events, the log holds {result.size}",
                )
            )
            return
        if roots_at.get(checkpoint.size) != checkpoint.root:
            result.findings.append(
                Finding(
                    None,
                    f"history rewritten: the first {checkpoint.size} events no longer give the root signed in {label}",
                )
            )
            return
