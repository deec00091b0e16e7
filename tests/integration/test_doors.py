"""One patient, one answer: every door gives the same Assessment for the same patient.

For every fixture Bundle (the edge cases, the synthetic cohort and the issue-12 cases in `fixtures/doors`) and every
patient in it, six doors read the patient and evaluate it as of the same day:

- `file`: `cds-cyto evaluate FILE --format json` (a subprocess, as a user runs it) — the reference;
- `fhir`: `cds-cyto evaluate --fhir HAPI --patient ID` after the file was stored on the HAPI test server;
- `prefetch`: the hook with a full prefetch, made as an EHR makes it (the service's own templates run on HAPI);
- `fetch`: the hook with no prefetch, fetching from HAPI (`fhirServer`);
- `demo`: the hook with the files as its demo source;
- `sweep`: `cds-cyto sweep --once` over HAPI, the Assessment read back from its store;
- `swept`: the hook with no prefetch after that sweep, answered from the sweep's snapshot plus what changed since
  (verified by one batch on HAPI; issue 18), the store the sweep wrote.

The hook doors go through the real ASGI app; the Assessment is taken where the service hands it to the cards
(the same object the cards are rendered from). A file the HAPI server refuses (junk that is not FHIR) has no
server doors; the test says so instead of passing silently.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from cds_cyto.app import create_app
from cds_cyto.cds import patient_view
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.settings import Settings
from cds_cyto.sources import swept_resources
from cds_cyto.store import make_engine
from cds_cyto.store.patients import load_patient
from tests.support.hapi_cohort import CohortOnHapi

pytestmark = pytest.mark.hapi

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
SERVICE = "/cds-services/cyto-patient-view"
COHORT_AS_OF = date(2026, 11, 20)  # the cohort's data cut (fixtures/cohort/README.md)
DOORS_AS_OF = date(2026, 3, 11)  # day +10 of the issue-12 cases (fixtures/doors/README.md)
SERVER_DOORS = ("fhir", "prefetch", "fetch", "sweep", "swept")
DOORS = ("fhir", "prefetch", "fetch", "demo", "sweep", "swept")
# Door subprocesses in flight at once. Each `cds-cyto` pays about a second of Python start-up and imports; with a
# few in flight one's start-up overlaps HAPI's answer to another on two cores.
CLI_WORKERS = 3


@dataclass(frozen=True)
class Case:
    """One fixture file as the doors see it: copied (ids made unique per file) into its as-of group's folder."""

    name: str  # e.g. "edge/amended-supersedes.json"
    path: Path  # the copy every door reads
    as_of: date
    patients: tuple[str, ...]


@dataclass
class Doors:
    cases: list[Case]
    answers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (door, patient) → normalised
    refused: dict[str, str] = field(default_factory=dict)  # case name → why HAPI would not store it
    dump: Path | None = None  # every door's answers, as JSON


# ---------------------------------------------------------------------------------------------------- the cases


def _edge_as_of() -> dict[str, str | None]:
    expected = json.loads((FIXTURES / "edge" / "expected.json").read_text(encoding="utf-8"))
    return {name: spec.get("as_of") for name, spec in expected.items()}


def _latest_lab_date(bundle: Any) -> date:
    """The day the CLI would assess a file as of without --as-of: its latest lab result's written date."""
    found = [m.group(0) for m in re.finditer(r"\d{4}-\d{2}-\d{2}", json.dumps(_observations(bundle)))]
    days = []
    for text in found:
        try:
            days.append(date.fromisoformat(text))
        except ValueError:
            continue
    return max(days)


def _observations(bundle: Any) -> list[Any]:
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    out = []
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Observation":
            out.append(resource.get("effectiveDateTime"))
    return out


def _patients(bundle: Any) -> tuple[str, ...]:
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    ids = []
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            ids.append(resource["id"])
    return tuple(ids)


def _unique_ids(bundle: dict[str, Any], tag: str) -> dict[str, Any]:
    """The edge Bundles all use patient p1 and short ids: prefix every id (and every reference to it) with `tag`,
    so that they can live on one server side by side. Nothing else changes."""
    keys = {
        f"{r['resourceType']}/{r['id']}"
        for e in bundle.get("entry", [])
        if isinstance(e, dict)
        for r in [e.get("resource")]
        if isinstance(r, dict) and isinstance(r.get("id"), str) and isinstance(r.get("resourceType"), str)
    }

    def walk(value: Any, parent_type: str | None) -> Any:
        if isinstance(value, dict):
            rtype = value.get("resourceType") if isinstance(value.get("resourceType"), str) else parent_type
            out = {}
            for k, v in value.items():
                if k == "id" and isinstance(v, str) and f"{rtype}/{v}" in keys and "resourceType" in value:
                    out[k] = f"{tag}-{v}"
                elif k in ("reference", "url") and isinstance(v, str) and v in keys:
                    kind, rid = v.split("/", 1)
                    out[k] = f"{kind}/{tag}-{rid}"
                else:
                    out[k] = walk(v, rtype)
            return out
        if isinstance(value, list):
            return [walk(v, parent_type) for v in value]
        return value

    walked: dict[str, Any] = walk(bundle, None)
    return walked


def _cases(work: Path) -> list[Case]:
    cases: list[Case] = []
    edge_as_of = _edge_as_of()
    for index, path in enumerate(sorted((FIXTURES / "edge").glob("*.json"))):
        if path.name == "expected.json":
            continue
        bundle = _unique_ids(json.loads(path.read_text(encoding="utf-8")), f"edge{index:02d}")
        written = edge_as_of.get(path.name)
        as_of = date.fromisoformat(written) if written else _latest_lab_date(bundle)
        cases.append(_place(work, f"edge/{path.name}", bundle, as_of))
    for folder, as_of in (("cohort", COHORT_AS_OF), ("doors", DOORS_AS_OF)):
        for path in sorted((FIXTURES / folder).glob("*.json")):
            if path.name == "truth.json":
                continue
            cases.append(_place(work, f"{folder}/{path.name}", json.loads(path.read_bytes()), as_of))
    return cases


def _place(work: Path, name: str, bundle: dict[str, Any], as_of: date) -> Case:
    folder = work / as_of.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name.replace("/", "--")
    path.write_bytes(orjson.dumps(bundle))
    return Case(name, path, as_of, _patients(bundle))


def _groups(cases: list[Case]) -> dict[date, list[Case]]:
    groups: dict[date, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.as_of, []).append(case)
    return groups


# ------------------------------------------------------------------------------------------------------ the doors


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CDS_CYTO_SITE_FILE", None)
    env.pop("CDS_CYTO_SITE_MODEL", None)
    return subprocess.run(
        [sys.executable, "-m", "cds_cyto", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def _cli_json(*args: str) -> Any:
    done = _cli(*args)
    assert done.returncode == 0, f"cds-cyto {' '.join(args)}: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def _as_list(document: Any) -> list[dict[str, Any]]:
    return document if isinstance(document, list) else [document]


def _store_on_hapi(client: httpx.Client, case: Case) -> str | None:
    """Put the file on HAPI as a server would hold it; None, or why the server refused it.

    A transaction is sent as it is (the server resolves its `urn:uuid` references). Any other Bundle becomes PUTs of
    its resources; of several copies of one resource the server keeps one current version, so only the newest copy
    (highest `meta.versionId`, else the later one) is sent. This is set-up, not a door under test."""
    bundle = json.loads(case.path.read_bytes())
    if bundle.get("type") != "transaction":
        newest: dict[str, dict[str, Any]] = {}
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict) or not isinstance(resource.get("id"), str):
                continue
            key = f"{resource.get('resourceType')}/{resource['id']}"
            if key not in newest or _version(resource) >= _version(newest[key]):
                newest[key] = resource
        entries = [{"resource": r, "request": {"method": "PUT", "url": k}} for k, r in newest.items()]
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    answer = client.post("", content=orjson.dumps(bundle), headers={"Content-Type": "application/fhir+json"})
    if answer.status_code >= 300:
        return f"HTTP {answer.status_code}: {answer.text[:200]}"
    return None


def _version(resource: dict[str, Any]) -> int:
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    return int(version) if isinstance(version, str) and version.isdigit() else 0


def _prefetch(client: httpx.Client, templates: dict[str, str], pid: str) -> dict[str, Any]:
    """What an EHR sends: each template run on its FHIR server, every page of a search in one searchset."""
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        url = template.replace("{{context.patientId}}", pid)
        answer = client.get(url)
        answer.raise_for_status()
        body = answer.json()
        if body.get("resourceType") == "Bundle":
            entries = list(body.get("entry") or [])
            link = next((x["url"] for x in body.get("link") or [] if x.get("relation") == "next"), None)
            while link is not None:
                page = client.get(link).json()
                entries += page.get("entry") or []
                link = next((x["url"] for x in page.get("link") or [] if x.get("relation") == "next"), None)
            body = {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
        prefetch[key] = body
    return prefetch


class Captured:
    """The Assessment the service renders its cards from, per patient (the real `evaluate`, only watched)."""

    def __init__(self) -> None:
        self.last: dict[str, Assessment] = {}
        self._real = patient_view.evaluate  # type: ignore[attr-defined]

    def __call__(self, *args: Any, **kwargs: Any) -> Assessment:
        assessment = self._real(*args, **kwargs)
        self.last[str(assessment.patient_id)] = assessment
        return assessment


def _hook(service: TestClient, captured: Captured, pid: str, **extra: Any) -> dict[str, Any]:
    body = {
        "hook": "patient-view",
        "hookInstance": "0c3a4f1e-7d2b-4c1a-9a55-0d4d3b1e2f10",
        "context": {"userId": "Practitioner/doors", "patientId": pid},
        **extra,
    }
    captured.last.pop(pid, None)
    answer = service.post(SERVICE, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    if answer.status_code != 200:
        return {"error": answer.status_code, "outcome": answer.json()}
    document: dict[str, Any] = captured.last[pid].to_json()
    return document


def normalised(document: dict[str, Any]) -> dict[str, Any]:
    """What must agree door by door: everything the Assessment says, less the profile's version stamps. Info-level
    data problems (a duplicate the server had already folded) may differ; warnings may not."""
    if "error" in document:
        return document
    out = {k: v for k, v in document.items() if k not in ("profile_versions", "data_problems")}
    out["warnings"] = sorted(
        (p["code"], p["resource"]) for p in document.get("data_problems", []) if p.get("severity") == "warning"
    )
    return out


# Session scope: computed once even when a scheduler (pytest-xdist) runs another module's test between two of this
# module's — a module fixture was then torn down and every door run again (460 s in CI).
@pytest.fixture(scope="session")
def doors(hapi_url: str, cohort_on_hapi: CohortOnHapi, tmp_path_factory: pytest.TempPathFactory) -> Doors:
    work = tmp_path_factory.mktemp("doors")
    result = Doors(_cases(work / "files"))
    fhir = httpx.Client(base_url=hapi_url.rstrip("/") + "/", timeout=120)
    # The cohort is on the server already, as `fixtures load` put it there (the session's one load, shared with the
    # demo worklist test): its files are transactions, which _store_on_hapi would post just as they are.
    assert set(cohort_on_hapi.ids) == {p for c in result.cases if c.name.startswith("cohort/") for p in c.patients}
    for case in result.cases:
        if case.name.startswith("cohort/"):
            continue
        why = _store_on_hapi(fhir, case)
        if why is not None:
            result.refused[case.name] = why
    groups = _groups(result.cases)
    stored = {
        as_of: [p for c in cases if c.name not in result.refused for p in c.patients] for as_of, cases in groups.items()
    }
    # The subprocess doors (file, fhir, sweep) only read: they run CLI_WORKERS at a time, and alongside the hook
    # doors below, so one's Python start-up overlaps another's wait on HAPI. Each answer is still one command's.
    with ThreadPoolExecutor(CLI_WORKERS) as pool:
        file_runs = {
            as_of: pool.submit(
                _cli_json, "evaluate", str(cases[0].path.parent), "--as-of", as_of.isoformat(), "--format", "json"
            )
            for as_of, cases in groups.items()
        }
        fhir_runs = {p: pool.submit(_fhir_door, hapi_url, p, as_of) for as_of, pids in stored.items() for p in pids}
        sweeps = {as_of: pool.submit(_sweep, hapi_url, work, as_of, pids) for as_of, pids in stored.items() if pids}
        captured = Captured()
        with pytest.MonkeyPatch.context() as patch:  # watched only while the hook doors run
            patch.setattr(patient_view, "evaluate", captured)
            for as_of, cases in groups.items():
                _hook_doors(result, fhir, captured, hapi_url, work, as_of, cases)
        for run in file_runs.values():
            for document in _as_list(run.result()):
                result.answers["file", str(document["patient_id"])] = normalised(document)
        for pid, run in fhir_runs.items():
            result.answers["fhir", pid] = normalised(run.result())
        for run in sweeps.values():
            for pid, assessment in run.result().items():
                result.answers["sweep", pid] = normalised(assessment)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(patient_view, "evaluate", captured)
            for as_of, pids in stored.items():
                if pids:
                    _swept_door(result, patch, captured, hapi_url, work, as_of, pids)
    fhir.close()
    # every door's answer, for reading a failure side by side
    dump = {f"{door} {pid}": answer for (door, pid), answer in result.answers.items()}
    result.dump = work / "answers.json"
    result.dump.write_bytes(orjson.dumps(dump, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return result


def _hook_doors(
    result: Doors, fhir: httpx.Client, captured: Captured, hapi_url: str, work: Path, as_of: date, cases: list[Case]
) -> None:
    """The demo, prefetch and fetch doors of one as-of group, through the real ASGI app in this process."""
    # In-thread (no answer pool): `captured` watches `evaluate` in this process. That the pool's processes
    # answer as this one does is tests/hostile/test_answer_pool.py's.
    settings = Settings(
        auth="disabled",
        database_url=f"sqlite:///{work / 'hook.sqlite'}",
        demo=True,
        demo_dir=cases[0].path.parent,
        as_of=as_of,
        parse_processes=0,
        # The door is about the answer, not the deadline (tests/hostile's): the fetch shares HAPI with the CLI doors
        # running alongside, and a busy 2-core machine must not turn a slow answer into a 412.
        hook_deadline_s=120.0,
        fetch_timeout_s=60.0,
    )
    with TestClient(create_app(settings)) as service:
        templates = service.get("/cds-services").json()["services"][0]["prefetch"]
        for case in cases:
            for pid in case.patients:
                result.answers["demo", pid] = normalised(_hook(service, captured, pid))
                if case.name in result.refused:
                    continue
                prefetch = _prefetch(fhir, templates, pid)
                result.answers["prefetch", pid] = normalised(_hook(service, captured, pid, prefetch=prefetch))
                result.answers["fetch", pid] = normalised(_hook(service, captured, pid, fhirServer=hapi_url))


def _swept_door(
    result: Doors,
    patch: pytest.MonkeyPatch,
    captured: Captured,
    hapi_url: str,
    work: Path,
    as_of: date,
    pids: list[str],
) -> None:
    """The hook with no prefetch over the store the group's sweep wrote: each patient answered from its snapshot
    (the door fails if the full fetch had to answer: then it would be the `fetch` door again)."""
    used: dict[str, bool] = {}
    real = swept_resources

    async def watched(source: Any, patient_id: str, *args: Any) -> Any:
        found = await real(source, patient_id, *args)
        used[patient_id] = found is not None
        return found

    patch.setattr(patient_view, "swept_resources", watched)
    settings = Settings(
        auth="disabled",
        database_url=f"sqlite:///{work / f'sweep-{as_of}.sqlite'}",
        demo=False,
        demo_dir=work / "no-demo",
        as_of=as_of,
        parse_processes=0,
        hook_deadline_s=120.0,
        fetch_timeout_s=60.0,
    )
    with TestClient(create_app(settings)) as service:
        for pid in pids:
            answer = normalised(_hook(service, captured, pid, fhirServer=hapi_url))
            if used.get(pid):
                result.answers["swept", pid] = answer
            else:
                result.answers["swept", pid] = {"not answered from the snapshot": used.get(pid)}


def _fhir_door(hapi_url: str, pid: str, as_of: date) -> Any:
    return _cli_json("evaluate", "--fhir", hapi_url, "--patient", pid, "--as-of", as_of.isoformat(), "--format", "json")


def _sweep(hapi_url: str, work: Path, as_of: date, stored: list[str]) -> dict[str, dict[str, Any]]:
    """`cds-cyto sweep --once` over the group's stored patients; each one's Assessment as the store keeps it."""
    ids = work / f"ids-{as_of}.txt"
    ids.write_text("\n".join(stored) + "\n", encoding="utf-8")
    database = f"sqlite:///{work / f'sweep-{as_of}.sqlite'}"
    done = _cli(
        "sweep", "--once", "--fhir", hapi_url, "--database", database, "--ids", str(ids), "--as-of",
        as_of.isoformat(), "--no-progress",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    engine = make_engine(database)
    try:
        out: dict[str, dict[str, Any]] = {}
        for pid in stored:
            state = load_patient(engine, pid)
            assert state is not None and state.assessment is not None, pid
            out[pid] = state.assessment
        return out
    finally:
        engine.dispose()


def _all_patients() -> list[tuple[str, str]]:
    """(case name, patient id) of every fixture, read at collection time (the doors fixture makes the copies)."""
    out = []
    edge_tags = {p.name: f"edge{i:02d}" for i, p in enumerate(sorted((FIXTURES / "edge").glob("*.json")))}
    for folder in ("edge", "cohort", "doors"):
        for path in sorted((FIXTURES / folder).glob("*.json")):
            if path.name in ("expected.json", "truth.json"):
                continue
            tag = f"{edge_tags[path.name]}-" if folder == "edge" else ""
            out += [(f"{folder}/{path.name}", tag + pid) for pid in _patients(json.loads(path.read_bytes()))]
    return out


def _difference(expected: Any, actual: Any, where: str = "") -> str | None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            found = _difference(expected.get(key), actual.get(key), f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            found = _difference(e, a, f"{where}[{i}]")
            if found:
                return found
        return None
    if expected != actual:
        return f"{where or 'assessment'}: file door {str(expected)[:400]} — this door {str(actual)[:400]}"
    return None


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(("case", "pid"), _all_patients(), ids=str)
def test_every_door_gives_the_file_doors_assessment(doors: Doors, case: str, pid: str, door: str) -> None:
    if door in SERVER_DOORS and case in doors.refused:
        pytest.skip(f"the HAPI server refuses this file ({doors.refused[case]}); no server door for it")
    reference = doors.answers["file", pid]
    assert "error" not in reference
    answer = doors.answers[door, pid]
    difference = _difference(reference, answer)
    assert difference is None, f"{door} door, {case} {pid}: {difference} (all answers: {doors.dump})"


def test_the_doors_cover_every_fixture_and_the_server_refuses_only_junk(doors: Doors) -> None:
    """The skips above are the server's refusals of files that are not valid FHIR, nothing else."""
    assert set(doors.refused) <= {"edge/junk-entries.json"}, doors.refused
    names = {c.name for c in doors.cases}
    assert len([n for n in names if n.startswith("cohort/")]) == 40
    assert len([n for n in names if n.startswith("doors/")]) == len(list((FIXTURES / "doors").glob("*.json")))
