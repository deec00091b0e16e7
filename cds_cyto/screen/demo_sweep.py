"""`serve --demo` runs one sweep of the demo cohort when it starts serving, so the worklist page has rows — once per
database, as-of day and profile: not once per worker, not again after a restart, and never for `serve --check`
(which builds the app but never starts it; the sweep runs in the router's lifespan).

The demo has no FHIR server for `sweep.runner` to query: this reads the demo source the hook uses, takes the
sweep's cohort rule (a CAR-T infusion within `CDS_CYTO_SWEEP_LOOKBACK_DAYS` of the demo's as-of day), assesses each
patient with the one core and saves it through the store exactly as a sweep does (a run, per-patient commits with
their alerts). Workers that start together take the sweep lease in turn: the first sweeps, the others wait for the
lease and find that sweep's completed run (its note names the as-of day and the profile), so they add no run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.extract.lean import LeanObservation
from cds_cyto.core.profile import Profile
from cds_cyto.sources import PatientCatalog
from cds_cyto.store import Store
from cds_cyto.store import lease as leases
from cds_cyto.store.alerts import Finding
from cds_cyto.store.lease import holder_name
from cds_cyto.store.patients import Evaluation, PatientUpdate, save_patient
from cds_cyto.store.runs import finish_run, recent_runs, set_cohort_size, start_run
from cds_cyto.sweep.fingerprint import assessment_hash, grade_summary, profile_hash
from cds_cyto.sweep.lease_keeper import SWEEP_LEASE
from cds_cyto.sweep.snapshot import rebuild, snapshot_hash

__all__ = ["sweep_demo_cohort"]

log = logging.getLogger("cds_cyto.screen")

LEASE_WAIT_S = 60.0  # a worker that starts while another sweeps waits this long for that sweep, then serves anyway


def _note(as_of: date, digest: str) -> str:
    return f"demo cohort as of {as_of.isoformat()}, profile {digest[:16]}"


def _already_swept(store: Store, note: str) -> bool:
    return any(r.status == "completed" and r.note == note for r in recent_runs(store.engine, 50))


def _acquire(store: Store, holder: str) -> bool:
    deadline = time.monotonic() + LEASE_WAIT_S
    while not leases.acquire(store.engine, SWEEP_LEASE, holder, timedelta(minutes=5)):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)
    return True


def sweep_demo_cohort(store: Store, source: PatientCatalog, profile: Profile, as_of: date, lookback_days: int) -> int:
    """One sweep of the demo cohort; the number of patients saved (0 when it was swept already, or another process
    still holds the lease after LEASE_WAIT_S)."""
    with ThreadPoolExecutor(1) as pool:  # its own event loop: this may be called from inside a running one
        return pool.submit(asyncio.run, _sweep(store, source, profile, as_of, lookback_days)).result()


def _plain(r: dict[str, Any] | LeanObservation) -> dict[str, Any]:
    if isinstance(r, LeanObservation):
        plain: dict[str, Any] = r.as_dict()
        return plain
    return r


async def _sweep(store: Store, source: PatientCatalog, profile: Profile, as_of: date, lookback_days: int) -> int:
    engine = store.engine
    holder = holder_name(uuid.uuid4().hex[:8])
    if not _acquire(store, holder):
        log.info("demo sweep skipped: another process is still sweeping")
        return 0
    try:
        digest = profile_hash(profile)
        note = _note(as_of, digest)
        if _already_swept(store, note):
            log.info("demo sweep skipped: this database has this day's demo sweep")
            return 0
        run_id = start_run(engine, "full", as_of, holder, datetime.now(UTC))
        saved = 0
        cohort = 0
        for pid in await source.patient_ids():
            readable = list(await source.patient_resources(pid))
            record = extract_record(readable, profile, patient_id=pid)
            day0 = record.infusion_date
            if day0 is None or not timedelta(0) <= as_of - day0 <= timedelta(days=lookback_days):
                continue
            cohort += 1
            assessment = evaluate(record, as_of, profile)
            document = assessment.to_json()
            day = assessment.day
            findings = [
                Finding(r.code, r.urgency, r.summary, r.rule, r.citation, [e.to_json() for e in r.evidence], day)
                for r in assessment.recommendations
            ]
            # what a sweep stores: plain JSON (the demo reader hands lab results over decoded lean)
            resources = [_plain(r) for r in readable if isinstance(r, dict | LeanObservation)]
            snapshot = rebuild(resources)
            now = datetime.now(UTC)
            update = PatientUpdate(
                patient_id=pid,
                run_id=run_id,
                fetched_at=now,
                full_fetch=True,
                resources_fetched=len(resources),
                snapshot=snapshot,
                snapshot_hash=snapshot_hash(snapshot),
                evaluation=Evaluation(
                    document, assessment_hash(document), digest, as_of, day, grade_summary(document), findings
                ),
            )
            save_patient(engine, update, now)
            saved += 1
        set_cohort_size(engine, run_id, cohort)
        finish_run(engine, run_id, "completed", note=note, now=datetime.now(UTC))
        log.info("demo sweep done", extra={"run_id": run_id, "cohort": cohort})
        return saved
    finally:
        leases.release(engine, SWEEP_LEASE, holder)
