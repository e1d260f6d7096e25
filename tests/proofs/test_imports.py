"""disclosure_proofs imports nothing but the standard library and `cryptography`: read from its source with ast."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import disclosure_proofs

PACKAGE = Path(disclosure_proofs.__file__).resolve().parent
ALLOWED = set(sys.stdlib_module_names) | {"cryptography", "disclosure_proofs"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in {
            "import_module",
            "__import__",
        }:
            names.add("<dynamic import>")
    return names


def test_every_module_imports_only_the_standard_library_and_cryptography() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert {path.stem for path in modules} >= {"merkle", "tiles", "note", "der", "cms", "bag", "bundle_verify"}
    outside = {
        f"{path.name}: {name}"
        for path in modules
        for name in imported_modules(path)
        if name.split(".")[0] not in ALLOWED
    }
    assert not outside, sorted(outside)


def test_the_walk_would_see_a_server_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import json\nfrom flask import Flask\nimport importlib\nimportlib.import_module('x')\n")
    assert imported_modules(sample) == {"json", "flask", "importlib", "<dynamic import>"}


def test_no_copies_of_the_tree_or_the_note_parser_remain_in_the_server() -> None:
    """The rules live once: no module of the server defines its own node hash, proof walk or note parser."""
    server = PACKAGE.parent / "disclosure"
    definitions = {
        "node_hash",
        "verify_inclusion",
        "inclusion_proof",
        "consistency_proof",
        "verify_consistency",
        "parse_checkpoint",
        "parse_checkpoint_note",
        "verify_note",
        "ProofBuilder",
    }
    found = {
        f"{path.relative_to(server)}: {node.name}"
        for path in server.rglob("*.py")
        for node in ast.parse(path.read_text(encoding="utf-8")).body  # module level: methods may delegate
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in definitions
    }
    assert not found, sorted(found)
