"""A type-mutation engine for JSON documents: hook bodies, prefetch and searchset Bundles (issue 15 item 2).

`mutate(doc, rng)` copies a valid document and replaces one or a few elements at random paths with a value of
another JSON type (string ↔ number ↔ bool ↔ null ↔ object ↔ list, empty ones, huge numbers, NaN-like strings,
deep nesting), or drops them. Deterministic under the `random.Random` given, so a failing case is replayed from its
seed (`mutate_seeded`). Values are plain JSON (no float NaN/inf), so `to_json` never fails and every mutated
document is one a real client or server could send.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

__all__ = ["Path", "json_paths", "mutate", "mutate_seeded", "replacement", "set_path", "to_json"]

Path = tuple[str | int, ...]
_MISSING = object()  # "drop the element": an absent key is the commonest malformation after a wrong type

# Values a reader may trip over, by JSON type. Numbers stay within what JSON parsers accept as finite.
_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "x",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-0",
    "null",
    "true",
    "0x1F",
    "2026-02-30",
    "2026-13-01T25:61:00Z",
    "Patient/",
    "Patient/other",
    "urn:uuid:",
    "#",
    "\u0000",
    "\u00b2",
    "é" * 3,
    "a" * 5000,
)
_NUMBERS: tuple[int | float, ...] = (
    0,
    -1,
    1,
    7,
    0.5,
    -0.0,
    1e308,
    -1e308,
    5e-324,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    18446744073709551616,
    1e29,
)
_BOOLS = (True, False)


def _nested(rng: random.Random) -> Any:
    depth = rng.choice((2, 10, 60))
    value: Any = rng.choice((None, 1, "x", [], {}))
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"a": value}
    return value


_MAKERS: dict[str, Callable[[random.Random], Any]] = {
    "string": lambda r: r.choice(_STRINGS),
    "number": lambda r: r.choice(_NUMBERS),
    "bool": lambda r: r.choice(_BOOLS),
    "null": lambda r: None,
    "object": lambda r: r.choice(({}, {"a": 1}, {"reference": 5}, {"coding": "x"}, {"resourceType": 7})),
    "list": lambda r: r.choice(([], [None], [1, "x", None, {}, []], [{}], ["Patient/x"])),
    "nested": _nested,
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return "list"


def replacement(value: Any, rng: random.Random) -> Any:
    """A value of another JSON type than `value`'s (or the marker that drops the element, now and then)."""
    if rng.random() < 0.08:
        return _MISSING
    kinds = [k for k in _MAKERS if k != _kind(value)]
    return _MAKERS[rng.choice(kinds)](rng)


def json_paths(doc: Any) -> list[Path]:
    """Every element's path, the root's () first, in document order."""
    out: list[Path] = []
    stack: list[tuple[Path, Any]] = [((), doc)]
    while stack:
        path, value = stack.pop()
        out.append(path)
        if isinstance(value, dict):
            stack.extend(((*path, k), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))
    return out


def set_path(doc: Any, path: Path, value: Any) -> Any:
    """`doc` with the element at `path` replaced by `value` (dropped when it is the drop marker); modifies in place
    and returns the (possibly new) root."""
    if not path:
        return None if value is _MISSING else value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if value is _MISSING:
        del parent[last]
    else:
        parent[last] = value
    return doc


def _get(doc: Any, path: Path) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def mutate(doc: Any, rng: random.Random, *, at_most: int = 3, under: Path = ()) -> Any:
    """A copy of `doc` with 1..`at_most` elements (at or below `under`) given another type; paths deeper in the
    document are as likely as shallow ones, so most mutations land inside resources, where readers look."""
    copy = json.loads(json.dumps(doc))
    for _ in range(rng.randint(1, at_most)):
        paths = [p for p in json_paths(copy) if p[: len(under)] == under] if under else json_paths(copy)
        if not paths:
            break
        path = rng.choice(paths)
        copy = set_path(copy, path, replacement(_get(copy, path), rng))
        if copy is None and not path:
            break
    return copy


def mutate_seeded(doc: Any, seed: int, **options: Any) -> Any:
    """`mutate` under `random.Random(seed)`: the case a seed names, replayable."""
    return mutate(doc, random.Random(seed), **options)


def to_json(doc: Any) -> bytes:
    """The bytes a client would send (big integers kept as written; the engine makes no NaN or infinity)."""
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
