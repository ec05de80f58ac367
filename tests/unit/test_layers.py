"""The layers, read from the source with `ast`: imports point inwards and form no circle.

domain ← projections ← infra ← api ← api.entry (the entry points). For the direction
every import counts — top level, inside a function, under `TYPE_CHECKING` — since each
is an arrow a reader has to follow. For circles every import that runs counts (top
level and inside functions); one under `if TYPE_CHECKING:` only names a type for mypy
and never runs, so a pair of modules that need each other's types may close a circle
that way (`domain.lifecycle` reads `domain.topic.Stage` so).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "projections", "infra", "api")
ENTRY = "api.entry"
BELOW_API = ("domain", "projections", "infra")


def _module_files() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _module_files()


def _project_module(name: str) -> str | None:
    """The project module `name` lands in (a name inside a module counts as the module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _for_typing_only(tree: ast.Module) -> set[ast.AST]:
    """The statements under an `if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`)."""
    found: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
            (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
            or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
        ):
            for statement in node.body:
                found.update(ast.walk(statement))
    return found


def _imported(
    module: str, tree: ast.Module, *, typing_too: bool = True
) -> Iterator[tuple[str, int]]:
    is_package = MODULES[module].name == "__init__.py"
    skipped = set() if typing_too else _for_typing_only(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                name = f"{base}.{alias.name}"
                yield (name if name in MODULES else base), node.lineno


def _graph(*, typing_too: bool = True) -> dict[str, dict[str, int]]:
    """module → {imported project module: line of the first such import}."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in MODULES.items():
        edges: dict[str, int] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, line in _imported(module, tree, typing_too=typing_too):
            target = _project_module(name)
            if target is not None and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


GRAPH = _graph()  # every import: the arrows' direction
RUNNING = _graph(typing_too=False)  # the imports that run: circles


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_module_graph_is_read() -> None:
    assert "api.entry.cli" in MODULES
    assert "domain.topic" in MODULES
    assert "infra.bootstrap" in GRAPH["api.entry.cli"]
    assert "infra.settings" in GRAPH["infra.bootstrap"]


def _arrows(
    graph: dict[str, dict[str, int]], source: tuple[str, ...], target: tuple[str, ...]
) -> list[str]:
    """Imports from a module inside `source` to one inside `target` (but not inside `source`)."""

    def within(module: str, packages: tuple[str, ...]) -> bool:
        return any(_inside(module, package) for package in packages)

    return [
        f"{module}:{line} imports {imported}"
        for module, edges in sorted(graph.items())
        if within(module, source)
        for imported, line in edges.items()
        if within(imported, target) and not within(imported, source)
    ]


def _outside_entry(graph: dict[str, dict[str, int]]) -> tuple[str, ...]:
    return tuple(module for module in graph if not _inside(module, ENTRY))


def test_nothing_below_api_imports_api() -> None:
    assert _arrows(GRAPH, BELOW_API, ("api",)) == []


def test_only_entry_points_import_entry_points() -> None:
    assert _arrows(GRAPH, _outside_entry(GRAPH), (ENTRY,)) == []


def test_domain_imports_neither_projections_nor_infra() -> None:
    assert _arrows(GRAPH, ("domain",), ("projections", "infra", "api")) == []


def test_projections_import_only_the_domain() -> None:
    assert _arrows(GRAPH, ("projections",), ("infra", "api")) == []


def test_the_rules_see_an_arrow_up() -> None:
    graph = {
        "infra.cli": {"api.auth": 7, "infra.bootstrap": 3},
        "api.auth": {},
        "api.app": {"api.entry.server": 12},
        "api.entry.server": {"api.app": 2},
        "infra.bootstrap": {},
    }
    assert _arrows(graph, BELOW_API, ("api",)) == ["infra.cli:7 imports api.auth"]
    assert _arrows(graph, _outside_entry(graph), (ENTRY,)) == [
        "api.app:12 imports api.entry.server"
    ]


def test_the_project_modules_import_each_other_in_no_circle() -> None:
    assert _cycles(RUNNING) == []


def test_an_import_for_typing_only_points_but_does_not_run() -> None:
    tree = ast.parse(
        "import typing\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from domain.topic import Stage\n"
        "if typing.TYPE_CHECKING:\n    import domain.units\n"
        "def f():\n    from domain.errors import LinkageError\n"
    )
    every = [name for name, _ in _imported("domain.lifecycle", tree)]
    running = [name for name, _ in _imported("domain.lifecycle", tree, typing_too=False)]
    assert "domain.topic" in every
    assert "domain.units" in every
    assert "domain.topic" not in running
    assert "domain.units" not in running
    assert "domain.errors" in running


@pytest.mark.parametrize(
    ("graph", "circles"),
    [
        ({"a": {"b": 1}, "b": {"c": 1}, "c": {}}, []),
        ({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}, [["a", "b", "c"]]),
        ({"a": {"b": 1}, "b": {"a": 1}, "c": {"d": 1}, "d": {"c": 1}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_the_circle_finder_finds_circles(
    graph: dict[str, dict[str, int]], circles: list[list[str]]
) -> None:
    assert sorted(_cycles(graph)) == circles


def test_a_function_local_import_is_an_arrow() -> None:
    tree = ast.parse("def f():\n    from infra.bootstrap import bootstrap\n")
    assert [name for name, _ in _imported("domain.topic", tree)] == ["infra.bootstrap"]
    tree = ast.parse("if TYPE_CHECKING:\n    from .stream import state\n")
    assert [name for name, _ in _imported("infra.bootstrap", tree)] == ["infra.stream.state"]
