"""The import graph of `disclosure/`, read with `ast`: no module depends on itself through others, and the pure cores
(workflow, permissions, policy) reach neither Flask nor SQLAlchemy, directly or through the modules they import.

Every import statement counts: at module level, inside functions, and under `if TYPE_CHECKING:`, since a cycle that
only a deferred import keeps from failing is still two modules that cannot be understood one without the other.
Importing a module is an edge to that module only, not to the packages above it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "disclosure"
PURE = ("disclosure.workflow", "disclosure.permissions", "disclosure.policy")
FRAMEWORKS = ("flask", "sqlalchemy")
#: Modules inside the pure packages that are framework entry points to the core, not part of it. Nothing pure may
#: import them: the walk below would reach their framework imports and fail. (`flask policy` lives outside, in
#: disclosure/policy_cli.py, so there are none today.)
ENTRY_POINTS: dict[str, str] = {}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(root, path): path for path in sorted(root.rglob("*.py"))}


def imported_names(path: Path, name: str) -> Iterator[tuple[str, int]]:
    """Every absolute module name an import statement in the file may refer to (with `from a import b`, both
    `a.b` and `a`, since b is a submodule or a name in a), with its line."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            for alias in node.names:
                yield f"{stem}.{alias.name}", node.lineno
            yield stem, node.lineno


def import_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], list[Edge]]:
    """Module -> the modules of the package it imports, and every edge with its line."""
    known = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in known}
    edges: list[Edge] = []
    for name, path in known.items():
        seen_at: dict[int, set[str]] = {}
        for target, line in imported_names(path, name):
            if target not in known or target == name:
                continue
            # `from a import b` names a.b when b is a module; a itself only when b is not.
            if any(other.startswith(f"{target}.") for other in seen_at.get(line, set())):
                continue
            seen_at.setdefault(line, set()).add(target)
            if target not in graph[name]:
                graph[name].add(target)
                edges.append(Edge(name, target, line))
    return graph, edges


def external_imports(path: Path, name: str) -> set[str]:
    """The top-level names of the packages outside `disclosure` that a module imports."""
    return {target.split(".")[0] for target, _ in imported_names(path, name)} - {ROOT.name}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components of more than one module, each sorted, biggest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found, key=lambda component: (-len(component), component))


def describe(components: list[list[str]], edges: list[Edge]) -> str:
    lines = []
    for component in components:
        members = set(component)
        lines.append(f"cycle of {len(component)} modules: {', '.join(component)}")
        for edge in edges:
            if edge.source in members and edge.target in members:
                lines.append(f"    {edge.source} -> {edge.target} (line {edge.line})")
    return "\n".join(lines)


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The reader itself, on a small package: every way of importing becomes the right edge, and cycles are found."""
    files = {
        "__init__.py": "from pkg.a import VALUE\n",
        "a.py": "from . import b\nfrom .sub import c as renamed\nVALUE = 1\n",
        "b.py": "def later():\n    from pkg.sub.c import name\n    return name\n",
        "sub/__init__.py": "",
        "sub/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import VALUE\nname = 'c'\n",
        "d.py": "import pkg.sub.c\nfrom pkg import VALUE\nimport flask\n",
    }
    for relative, text in files.items():
        (tmp_path / "pkg" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / relative).write_text(text)
    graph, edges = import_graph(tmp_path / "pkg")
    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.b", "pkg.sub.c"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": set(),
        "pkg.sub.c": {"pkg.a"},
        "pkg.d": {"pkg.sub.c", "pkg"},
    }
    assert strongly_connected(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    assert "pkg.b -> pkg.sub.c (line 2)" in describe(strongly_connected(graph), edges)
    assert external_imports(tmp_path / "pkg" / "d.py", "pkg.d") >= {"flask"}


def test_no_module_imports_itself_through_others():
    graph, edges = import_graph()
    components = strongly_connected(graph)
    assert components == [], "import cycles in disclosure/:\n" + describe(components, edges)


def test_the_pure_cores_reach_neither_flask_nor_sqlalchemy():
    known = modules()
    graph, _ = import_graph()
    cores = [
        name
        for name in known
        if any(name == pure or name.startswith(f"{pure}.") for pure in PURE) and name not in ENTRY_POINTS
    ]
    assert {"disclosure.workflow", "disclosure.permissions", "disclosure.policy"} <= set(cores)
    reached: dict[str, str] = {}  # module -> the core through which it is imported
    pending = [(core, core) for core in cores]
    while pending:
        module, core = pending.pop()
        if module in reached:
            continue
        reached[module] = core
        pending.extend((target, core) for target in graph[module])
    impure = {
        f"{module} (imported by {core})": sorted(external_imports(known[module], module) & set(FRAMEWORKS))
        for module, core in sorted(reached.items())
        if external_imports(known[module], module) & set(FRAMEWORKS)
    }
    assert impure == {}
