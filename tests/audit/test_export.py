"""The audit extract's proofs come from the stored tiles and lead to its checkpoint (both databases)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

from flask import Flask

from disclosure.audit.actions import AuditAction
from disclosure.audit.export import export_events
from disclosure.audit.service import record
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.services import SystemActor
from disclosure_proofs.merkle import verify_consistency, verify_inclusion


def test_every_event_of_a_300_event_extract_carries_a_proof_to_the_checkpoint(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        for index in range(300):
            record(None, AuditAction.USER_SIGN_IN, subject="audit-test", data={"n": index})
        db.session.commit()
        today = utcnow().date()
        out = tmp_path / "extract.jsonl"
        operator = SystemActor("flask audit export")
        count = export_events(operator, today - timedelta(days=1), today + timedelta(days=1), out, "test/audit")
        db.session.commit()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    header, events = lines[0], lines[1:]
    assert count == len(events) >= 300
    size, root = header["tree_size"], bytes.fromhex(header["root"])
    for event in events:
        proof = [bytes.fromhex(node) for node in event["inclusion_proof"]]
        assert verify_inclusion(bytes.fromhex(event["leaf_hash"]), event["seq"] - 1, size, proof, root), event["seq"]
    if header["previous_checkpoint"]:
        _origin, old_size, old_root = header["previous_checkpoint"].split("\n")[:3]
        old_size, old_root = int(old_size), base64.b64decode(old_root)
        proof = [bytes.fromhex(node) for node in header["consistency_proof"]]
        assert verify_consistency(old_size, size, old_root, root, proof)
