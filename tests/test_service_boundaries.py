"""Services change rows and flush; only the unit of work commits, and only views answer requests.

Observed before the service layer: services rolled back (cases, review), the user loader committed, and the
auditor-bundle code called abort, committed and returned a Response. This walks the code with `ast`, so a new
service that commits, or answers the request itself, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "disclosure"
#: Modules that change data on behalf of a view or command, and the user loader that runs before every view.
SERVICES = sorted(
    {
        *PACKAGE.glob("*/service.py"),
        PACKAGE / "services.py",
        PACKAGE / "cases" / "lifecycle.py",
        PACKAGE / "cases" / "agencies.py",
        PACKAGE / "review" / "letters.py",
        PACKAGE / "review" / "policy_versions.py",
        PACKAGE / "production" / "bundles.py",
        PACKAGE / "production" / "auditor_bundles.py",
        PACKAGE / "audit" / "export.py",
        PACKAGE / "audit" / "extract_bundle.py",
        PACKAGE / "reports" / "bundle.py",
    }
)
REQUEST_NAMES = {"request", "abort", "Response", "redirect", "flash", "make_response", "session"}


def _transaction_calls(tree: ast.AST) -> list[str]:
    return [
        f"line {node.lineno}: .{node.func.attr}()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"commit", "rollback"}
    ]


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_service_neither_commits_nor_rolls_back(path: Path) -> None:
    assert _transaction_calls(ast.parse(path.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_service_never_answers_the_request_itself(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    from_flask = [
        f"line {node.lineno}: {alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "flask"
        for alias in node.names
        if alias.name in REQUEST_NAMES
    ]
    assert from_flask == []


def test_the_user_loader_leaves_committing_to_the_unit_of_work() -> None:
    access = PACKAGE / "auth" / "access.py"
    assert _transaction_calls(ast.parse(access.read_text(encoding="utf-8"))) == []
