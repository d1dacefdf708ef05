"""The import rules of the layout (issue 12): no cycle between files, and the top-level packages
depend one way only. Only the assemblers (server/app.py, server/cli.py, server/demo/) import every
context; the rest of `server` imports none of geo, sync, notify, admin."""

from __future__ import annotations

import ast
from pathlib import Path

from server.settings import ROOT

PACKAGES = ("server", "sync", "geo", "notify", "admin")
ASSEMBLERS = ("server.app", "server.cli", "server.demo")
# What each top-level package may import besides itself (the assemblers aside).
ALLOWED = {
    "server": set(),
    "geo": {"server"},
    "notify": {"server", "geo"},
    "sync": {"server", "geo"},
    "admin": {"server", "geo", "sync", "notify"},
}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "piccolo_migrations" not in p.parts]
    modules = {_module(p): p for p in files}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_files():
    assert _cycle(_graph()) is None


def test_the_graph_sees_real_imports():
    graph = _graph()
    assert "server.cases.lifecycle" in graph["server.cases.service"]
    assert "server.cases.service" in graph["sync.push"]
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]


def test_top_level_packages_depend_one_way():
    wrong = []
    for module, targets in _graph().items():
        if module.startswith(ASSEMBLERS):
            continue
        top = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != top and other not in ALLOWED[top]:
                wrong.append(f"{module} imports {target}")
    assert wrong == []
