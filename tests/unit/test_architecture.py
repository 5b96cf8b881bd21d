"""The shape of `core/`, checked from its source: no import cycles, no web framework, dependencies point down.

The graph holds every import of a core module, wherever it is written: at module level, inside a
function, or under `if TYPE_CHECKING:` (a type is a dependency too)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"

# Bottom to top; a module may import its own layer (without a cycle) and the layers below it. Keyed by the
# first name under `core.` (a root module or a package).
LAYERS: tuple[frozenset[str], ...] = (
    # Vocabulary and values every layer shares: settings, errors, who is calling, the state machines, the
    # tables, the services' input/output shapes, phone numbers (schemas validates them; Core holds the vault)
    # and the hash bearer tokens are stored by; the VAPID key Web Push is signed with.
    frozenset({"config", "errors", "principal", "states", "models", "schemas", "phones", "tokens", "labels", "vapid"}),
    # Technology without domain rules: database, event bus and listener, rate limits, metrics, logs, embedded servers.
    frozenset({"infra"}),
    # Adapters and pure models the services use: distances, ETA, places, geocoding; the technician index.
    frozenset({"geo", "index"}),
    # `Core`, the bundle of those adapters that every service takes: above the adapters it names, below its users.
    frozenset({"context"}),
    # The domain services.
    frozenset({"requests", "dispatch", "technicians", "staff", "privacy", "notify"}),
    # Wiring, tools and the command line.
    frozenset({"bootstrap", "demo", "sim", "__main__"}),
)
FORBIDDEN = ("reflex", "fastapi", "starlette", "tyrehero_app")

# Imports allowed to break a rule, each with its reason. Empty: keep it so.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module name `path` imports, at any depth of its syntax tree (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            # `from core.geo import places` imports the module core.geo.places.
            yield from (f"{base}.{a.name}" for a in node.names)


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        graph[name] = {m for m in _imports(path) if m in files and m != name and m != "core"}
    return graph


GRAPH = _graph()


def _layer(module: str) -> int:
    top = module.split(".")[1]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module} is in no layer: add `{top}` to LAYERS in {__file__}")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), as a path that closes."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_a_cycle(graph, c) for c in components]


def _a_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError("a strongly connected component without a cycle")


def test_the_graph_sees_the_whole_core() -> None:
    assert {"core.bootstrap", "core.context", "core.requests.intake", "core.dispatch.auto", "core.index.search"} <= set(
        GRAPH
    ), "the import graph misses modules of core"
    assert "core.context" in GRAPH["core.requests.intake"], "the graph misses module-level imports"


def test_core_has_no_import_cycles() -> None:
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles in core:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("framework", FORBIDDEN)
def test_core_never_imports_the_web_side(framework: str) -> None:
    offenders = sorted(
        f"{_module_name(p)} imports {m}"
        for p in CORE.rglob("*.py")
        for m in _imports(p)
        if m == framework or m.startswith(framework + ".")
    )
    assert not offenders, f"core must not import {framework}: " + "; ".join(offenders)


def test_every_import_points_down_the_layers() -> None:
    upward = sorted(
        f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
        for a, targets in GRAPH.items()
        if a != "core"
        for b in targets
        if _layer(b) > _layer(a) and (a, b) not in EXCEPTIONS
    )
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_every_exception_is_still_needed() -> None:
    stale = [pair for pair in EXCEPTIONS if pair[1] not in GRAPH.get(pair[0], set())]
    assert not stale, f"exceptions for imports that are gone: {stale}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]], "the cycle test would pass on a cyclic graph"
