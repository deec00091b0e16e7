"""Writing a cohort: a FHIR transaction Bundle per patient, or Bulk-Data NDJSON per resource type; and truth.json.

Bundle entries are `PUT Type/id` with deterministic ids, so loading a cohort twice leaves a server unchanged.
Output is byte-identical for the same specification (no clocks, no process-dependent ordering): with several
jobs, patients are rendered in parallel; each bundle goes to its own file, and NDJSON lines and truth.json are
written in patient order.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from cds_cyto import __version__
from cds_cyto.simulate.fhir import Resource
from cds_cyto.simulate.mess import MESS_LEVELS
from cds_cyto.simulate.params import model_for
from cds_cyto.simulate.patient import simulate_patient
from cds_cyto.simulate.plan import CohortSpec, PatientPlan, plan_cohort
from cds_cyto.simulate.truth import definitions

__all__ = ["NDJSON_TYPES", "OutputFormat", "WriteSummary", "transaction_bundle", "write_cohort"]

OutputFormat = Literal["bundles", "ndjson"]
NDJSON_TYPES = ("Patient", "Procedure", "MedicationAdministration", "Condition", "Observation")
_CHUNK = 25


@dataclass(frozen=True, slots=True)
class WriteSummary:
    patients: int
    resources: int
    observations: int
    bytes_written: int
    seconds: float


@dataclass(slots=True)
class _Rendered:
    patient_id: str
    payload: dict[str, bytes]  # resource type → NDJSON lines (bundles are written by the worker itself)
    written: int
    truth: dict[str, Any]
    resources: int
    observations: int


def transaction_bundle(resources: Sequence[Resource]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
        ],
    }


def _render(spec: CohortSpec, plans: Sequence[PatientPlan], fmt: OutputFormat, out: Path) -> list[_Rendered]:
    """Simulate and serialise a chunk of patients; a bundle goes straight to its own file (no order to keep)."""
    rendered = []
    for plan in plans:
        patient = simulate_patient(plan, spec)
        resources = patient.resources()
        payload: dict[str, bytes] = {}
        if fmt == "bundles":
            data = orjson.dumps(transaction_bundle(resources))
            (out / f"{plan.patient_id}.json").write_bytes(data)
            written = len(data)
        else:
            lines: dict[str, list[bytes]] = {t: [] for t in NDJSON_TYPES}
            for r in resources:
                lines[r["resourceType"]].append(orjson.dumps(r))
            payload = {t: b"".join(line + b"\n" for line in chunk) for t, chunk in lines.items() if chunk}
            written = sum(len(data) for data in payload.values())
        rendered.append(
            _Rendered(plan.patient_id, payload, written, patient.truth, len(resources), len(patient.charted))
        )
    return rendered


def _chunks(plans: Sequence[PatientPlan]) -> Iterator[Sequence[PatientPlan]]:
    for start in range(0, len(plans), _CHUNK):
        yield plans[start : start + _CHUNK]


def _rendered(
    spec: CohortSpec, plans: Sequence[PatientPlan], fmt: OutputFormat, out: Path, jobs: int
) -> Iterator[_Rendered]:
    if jobs <= 1:
        for chunk in _chunks(plans):
            yield from _render(spec, chunk, fmt, out)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        chunks = list(_chunks(plans))
        n = len(chunks)
        for rendered in pool.map(_render, [spec] * n, chunks, [fmt] * n, [out] * n):
            yield from rendered


def _clear(out: Path) -> None:
    """Remove what an earlier run wrote (patient bundles, NDJSON, truth.json); leave anything else alone."""
    for path in out.iterdir():
        if path.is_file() and (
            (path.name.startswith("syn-") and path.suffix == ".json")
            or path.suffix == ".ndjson"
            or path.name == "truth.json"
        ):
            path.unlink()


def truth_document(spec: CohortSpec, fmt: OutputFormat, patients: list[dict[str, Any]]) -> dict[str, Any]:
    diseases = sorted({p["disease"] for p in patients})
    return {
        "generator": {
            "name": "cds-cyto simulate",
            "version": __version__,
            "format": fmt,
            "spec": {
                # early_death is absent when off: a cohort written without it stays byte-identical to before it
                **{k: v for k, v in dataclasses.asdict(spec).items() if k != "early_death" or v},
                "anchor": spec.anchor.isoformat(),
                "data_cut": None if spec.data_cut is None else spec.data_cut.isoformat(),
            },
        },
        "definitions": definitions(),
        "mess_rates": dataclasses.asdict(MESS_LEVELS[spec.mess]),
        "model": {d: dataclasses.asdict(model_for(d, retuned=spec.early_death)) for d in diseases},
        "patients": patients,
    }


def write_cohort(spec: CohortSpec, out: Path, fmt: OutputFormat = "bundles", jobs: int = 1) -> WriteSummary:
    """Simulate the cohort and write it to `out` (created if needed; earlier output there is replaced)."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    plans = plan_cohort(spec)
    truths: list[dict[str, Any]] = []
    resources = observations = written = 0
    handles: dict[str, Any] = {}
    try:
        for r in _rendered(spec, plans, fmt, out, max(1, min(jobs, os.cpu_count() or 1))):
            for name, data in r.payload.items():
                if name not in handles:
                    handles[name] = (out / f"{name}.ndjson").open("wb")
                handles[name].write(data)
            written += r.written
            truths.append(r.truth)
            resources += r.resources
            observations += r.observations
    finally:
        for handle in handles.values():
            handle.close()
    document = orjson.dumps(truth_document(spec, fmt, truths), option=orjson.OPT_INDENT_2)
    (out / "truth.json").write_bytes(document + b"\n")
    written += len(document) + 1
    return WriteSummary(len(plans), resources, observations, written, time.perf_counter() - started)
