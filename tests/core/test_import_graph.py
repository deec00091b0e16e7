"""The shape of the package, checked on its source (issue 13, item 2).

Every `import` of a cds_cyto module counts — at module level, inside a function, under `TYPE_CHECKING` — because a
cycle hidden by any of them is still a cycle a reader has to keep in mind. Failing this test names the edge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import cds_cyto

PACKAGE = Path(cds_cyto.__file__).parent
# The package's face, settings, logging and entry points: everything else sits in a room.
ROOT_MODULES = {"cds_cyto", "cds_cyto.__main__", "cds_cyto.settings", "cds_cyto.logs", "cds_cyto.service"}
CORE = "cds_cyto.core"
# Rooms at the edges that hold I/O, used by doors; they never import a door.
INFRASTRUCTURE = {"cds_cyto.sources", "cds_cyto.store", "cds_cyto.simulate"}
# Doors: each reaches the core and the infrastructure, never another door.
DOORS = {"cds_cyto.cds", "cds_cyto.sweep", "cds_cyto.analytics"}
# Composition roots: they put the doors together (the CLI's commands, the web app's routers, the CAR-T team's screen:
# the CDS door's runtime and the sweep's worklist on one page).
COMPOSERS = {"cds_cyto.cli", "cds_cyto.app", "cds_cyto.screen", "cds_cyto.service", "cds_cyto.__main__"}
# The core's rooms from the bottom up: each imports only rooms before it in this list.
CORE_ROOMS = ["profile", "extract", "grading", "risk", "assessment", "recommend", "evaluate"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts}


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """The cds_cyto modules `name` imports, with the line: `from a.b import c` is a.b.c when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("cds_cyto"):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("cds_cyto"):
                continue
            for alias in node.names:
                yield (f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base), node.lineno


GRAPH = {name: sorted(set(_imports(name, path))) for name, path in MODULES.items()}


def _room(module: str) -> str:
    parts = module.split(".")
    if module.startswith(CORE + "."):
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node, or a node importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
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
            if len(component) > 1 or v in edges.get(v, ()):
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_walk_sees_the_whole_package() -> None:
    assert {"cds_cyto.core.evaluate", "cds_cyto.app.factory", "cds_cyto.sweep.runner"} <= set(MODULES)
    assert any(target == "cds_cyto.core.evaluate" for edges in GRAPH.values() for target, _ in edges)


def test_no_module_imports_in_a_circle() -> None:
    edges = {m: {t for t, _ in targets if t != m} for m, targets in GRAPH.items()}
    assert _cycles(edges) == []


def test_no_room_imports_in_a_circle() -> None:
    edges: dict[str, set[str]] = {}
    for m, targets in GRAPH.items():
        for t, _ in targets:
            if _room(t) != _room(m):
                edges.setdefault(_room(m), set()).add(_room(t))
    assert _cycles(edges) == []


def test_the_package_root_holds_only_its_face_settings_logging_and_entry_points() -> None:
    loose = {m for m, p in MODULES.items() if p.parent == PACKAGE and p.name != "__init__.py"} | {"cds_cyto"}
    assert loose == ROOT_MODULES


def _edges_from(prefix: str) -> Iterator[tuple[str, str, int]]:
    for m, targets in GRAPH.items():
        if m == prefix or m.startswith(prefix + "."):
            for t, line in targets:
                yield m, t, line


def test_the_core_never_reaches_out() -> None:
    outward = [f"{m}:{line} → {t}" for m, t, line in _edges_from(CORE) if t != CORE and not t.startswith(CORE + ".")]
    assert outward == []


def test_the_core_rooms_import_only_rooms_below_them() -> None:
    rank = {f"{CORE}.{room}": i for i, room in enumerate(CORE_ROOMS)}
    assert set(rank) | {CORE} == {_room(m) for m in MODULES if m.startswith(CORE)} | {CORE}
    upward = [
        f"{m}:{line} → {t}"
        for m, t, line in _edges_from(CORE)
        if _room(t) in rank and _room(m) in rank and rank[_room(t)] > rank[_room(m)]
    ]
    assert upward == []


@pytest.mark.parametrize("room", sorted(INFRASTRUCTURE | DOORS))
def test_no_door_imports_another(room: str) -> None:
    allowed = {CORE, "cds_cyto.settings", "cds_cyto.logs", "cds_cyto", room} | INFRASTRUCTURE
    if room in INFRASTRUCTURE:
        allowed -= INFRASTRUCTURE - {room, "cds_cyto.store"}  # a source may not import another room's I/O but the store
    crossing = [
        f"{m}:{line} → {t}"
        for m, t, line in _edges_from(room)
        if _room(t) not in allowed and not t.startswith(CORE + ".")
    ]
    assert crossing == []


def test_every_room_is_the_core_infrastructure_a_door_or_a_composer() -> None:
    # a new room must say which it is, or the rules above would not look at it
    known = {CORE} | INFRASTRUCTURE | DOORS | COMPOSERS | ROOT_MODULES
    assert {_room(m) if not m.startswith(CORE) else CORE for m in MODULES} - known == set()


@pytest.mark.parametrize("room", sorted({CORE} | INFRASTRUCTURE | DOORS))
def test_nothing_below_a_composer_imports_one(room: str) -> None:
    up = [f"{m}:{line} → {t}" for m, t, line in _edges_from(room) if _room(t) in COMPOSERS]
    assert up == []
