"""Every edge-case Bundle in fixtures/edge evaluates to the headline result stored beside it (expected.json).

An expectation is a dotted path into the Assessment JSON (list items by index: "episodes.0.onset_day"; CTCAE
versions as written: "ctcae.5.0"), or "record.<analyte>…" into the record's normalised results ("record.ddimer.0.note";
".length" counts them). "problems" lists data-problem codes that must be present; "no_warnings": true says no
warning-level problem may be.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds_cyto.core.assessment.result import result_json
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record

EDGE = Path(__file__).resolve().parents[2] / "fixtures" / "edge"
EXPECTED: dict[str, dict[str, Any]] = json.loads((EDGE / "expected.json").read_text(encoding="utf-8"))


def _resolve(doc: Any, path: str) -> Any:
    node = doc
    parts = path.split(".")
    i = 0
    while i < len(parts):
        part = parts[i]
        if isinstance(node, dict):
            # CTCAE versions contain a dot: "5.0", "4.03", "6.0"
            if part not in node and i + 1 < len(parts) and f"{part}.{parts[i + 1]}" in node:
                part = f"{part}.{parts[i + 1]}"
                i += 1
            node = node[part]
        elif isinstance(node, list):
            node = len(node) if part == "length" else node[int(part)]
        else:
            raise KeyError(path)
        i += 1
    return node


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or expected is None:
        return actual is expected
    if isinstance(expected, int | float) and isinstance(actual, int | float) and not isinstance(actual, bool):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(_same(actual[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(_same, actual, expected))
    return bool(actual == expected)


def test_every_fixture_has_an_expectation_and_a_readme_line() -> None:
    files = {p.name for p in EDGE.glob("*.json")} - {"expected.json"}
    assert files == set(EXPECTED)
    readme = (EDGE / "README.md").read_text(encoding="utf-8")
    for name in files:
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_edge_fixture(name: str) -> None:
    spec = EXPECTED[name]
    doc = json.loads((EDGE / name).read_text(encoding="utf-8"))
    assert doc["resourceType"] == "Bundle" and doc["type"] == "collection"
    record = extract_record(doc)
    as_of = date.fromisoformat(spec["as_of"]) if spec["as_of"] else None
    assessment = evaluate(record, as_of)
    out = assessment.to_json()
    json.dumps(out, allow_nan=False)
    out["record"] = {analyte: [result_json(r) for r in results] for analyte, results in record.labs.items()}
    for path, expected in spec["expect"].items():
        actual = _resolve(out, path)
        assert _same(actual, expected), f"{name}: {path} = {actual!r}, expected {expected!r}"
    codes = {p.code for p in assessment.data_problems}
    assert set(spec["problems"]) <= codes, (name, assessment.data_problems)
    if spec.get("no_warnings"):
        warnings = [p for p in assessment.data_problems if p.severity == "warning"]
        assert warnings == [], warnings
