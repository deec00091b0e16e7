"""One cohort sweep: lease → run (new or resumed) → cohort → each patient fetched, merged, assessed, committed.

Per patient (at most `concurrency` at a time): fetch what changed since its last fetch (`_lastUpdated`), or
everything when it is new, when `--full` was asked, or when its last full fetch is older than
`full_refresh_days`; merge into its snapshot; assess again only if the snapshot changed, the day changed or the
profile changed; then commit state, alerts and run counters in one transaction. The commit marks the patient done
in this run, so a sweep killed at any point resumes where it stopped: the next sweep (same day and mode) adopts
the unfinished run and skips the patients it already committed.

Logs carry counts, run ids and error codes — never a patient id.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.profile import Profile
from cds_cyto.sources import (
    Auth,
    FhirClient,
    FhirPatientSource,
    RetryPolicy,
    SourceError,
    Timeouts,
    default_observation_codes,
)
from cds_cyto.store import Store
from cds_cyto.store.alerts import Finding, alerts_of, resolve_left_cohort
from cds_cyto.store.lease import holder_name
from cds_cyto.store.patients import (
    Evaluation,
    PatientUpdate,
    StoredPatient,
    done_in_run,
    load_patient,
    mark_written_back,
    save_patient,
)
from cds_cyto.store.runs import adopt_run, count_failure, finish_run, set_cohort_size, start_run, unfinished_run
from cds_cyto.sweep.cohort_query import CohortError, discover_cohort
from cds_cyto.sweep.config import SweepConfig
from cds_cyto.sweep.fingerprint import assessment_hash, grade_summary, profile_hash
from cds_cyto.sweep.lease_keeper import SweepLease
from cds_cyto.sweep.snapshot import merge, rebuild, snapshot_hash
from cds_cyto.sweep.writeback import WriteBackError, write_back

__all__ = ["PatientOutcome", "SweepReport", "Sweeper", "run_sweep"]

log = logging.getLogger("cds_cyto.sweep")

PatientOutcome = Literal["evaluated", "unchanged", "failed"]
SweepStatus = Literal["completed", "skipped", "failed", "stopped"]


@dataclass(slots=True)
class SweepReport:
    status: SweepStatus
    run_id: int | None = None
    resumed: bool = False
    cohort_size: int = 0
    already_done: int = 0  # committed by the crashed run this one resumed
    evaluated: int = 0
    unchanged: int = 0
    failed: int = 0
    resources_fetched: int = 0
    alerts_opened: int = 0
    alerts_resolved: int = 0
    written_back: int = 0
    write_back_failed: int = 0
    seconds: float = 0.0
    reason: str | None = None
    errors: Counter[str] = field(default_factory=Counter)  # error code → patients

    def summary(self) -> str:
        if self.status == "skipped":
            return f"sweep skipped: {self.reason}"
        head = f"sweep {self.run_id} {self.status}" + (" (resumed)" if self.resumed else "")
        if self.status == "failed":
            return f"{head}: {self.reason}"
        parts = [
            f"{self.cohort_size} patient(s)",
            f"{self.evaluated} assessed",
            f"{self.unchanged} unchanged",
            f"{self.failed} failed",
        ]
        if self.already_done:
            parts.append(f"{self.already_done} done before the restart")
        parts.append(f"alerts +{self.alerts_opened} new, {self.alerts_resolved} resolved")
        if self.written_back or self.write_back_failed:
            parts.append(f"{self.written_back} resource(s) written back, {self.write_back_failed} failed")
        errors = ", ".join(f"{code} ×{n}" for code, n in sorted(self.errors.items()))
        tail = f" [{errors}]" if errors else ""
        return f"{head}: " + ", ".join(parts) + f" in {self.seconds:.1f} s{tail}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Sweeper:
    """Runs one sweep against one FHIR server and one store. `stop` (set from another thread) ends it early, as
    resumable as a crash."""

    def __init__(
        self,
        store: Store,
        client: FhirClient,
        profile: Profile,
        config: SweepConfig,
        *,
        on_cohort: Callable[[int, int], None] | None = None,
        on_patient: Callable[[PatientOutcome], None] | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.engine = store.engine
        self.client = client
        self.profile = profile
        self.config = config
        self.on_cohort = on_cohort
        self.on_patient = on_patient
        self.stop = stop or threading.Event()
        self.clock = clock
        self.holder = holder_name(uuid.uuid4().hex[:8])
        self._codes = default_observation_codes(profile)
        self._profile_hash = profile_hash(profile)
        self._run_id = 0

    async def run(self) -> SweepReport:
        started = time.perf_counter()
        lease = SweepLease(self.engine, self.holder, self.config.lease_seconds)
        if not lease.acquire():
            log.info("sweep skipped: another sweeper holds the lease")
            return SweepReport("skipped", reason="another sweep is running (the lease is held)")
        try:
            async with lease.kept():
                report = await self._run(lease)
        finally:
            lease.release()
        report.seconds = time.perf_counter() - started
        log.info(
            "sweep %s",
            report.status,
            extra={
                "run_id": report.run_id,
                "cohort": report.cohort_size,
                "evaluated": report.evaluated,
                "unchanged": report.unchanged,
                "failed": report.failed,
                "alerts_opened": report.alerts_opened,
                "alerts_resolved": report.alerts_resolved,
                "seconds": round(report.seconds, 2),
            },
        )
        return report

    # -- the run ----------------------------------------------------------------------------------------------

    async def _run(self, lease: SweepLease) -> SweepReport:
        run_id, resumed = self._open_run()
        self._run_id = run_id
        report = SweepReport("completed", run_id=run_id, resumed=resumed)
        log.info(
            "sweep started",
            extra={
                "run_id": run_id,
                "resumed": resumed,
                "full": self.config.full,
                "cohort": self.config.cohort.describe(),
            },
        )
        try:
            cohort = await discover_cohort(self.client, self.config.cohort, self.profile, self.config.as_of)
        except (SourceError, CohortError) as exc:
            code = exc.code if isinstance(exc, SourceError) else "cohort"
            finish_run(self.engine, run_id, "failed", note=f"cohort discovery failed ({code})")
            report.status = "failed"
            report.reason = f"cohort discovery failed: {exc}"
            return report
        set_cohort_size(self.engine, run_id, len(cohort))
        done = done_in_run(self.engine, run_id) if resumed else set()
        todo = [pid for pid in cohort if pid not in done]
        report.cohort_size = len(cohort)
        report.already_done = len(cohort) - len(todo)
        if self.on_cohort is not None:
            self.on_cohort(len(cohort), report.already_done)
        await self._patients(todo, report, lease)
        if self.stop.is_set() or lease.lost:
            report.status = "stopped"
            report.reason = "lease lost" if lease.lost else "stopped"
            return report  # left running: the next sweep resumes it
        report.alerts_resolved += resolve_left_cohort(self.engine, set(cohort), run_id, self.clock())
        finish_run(self.engine, run_id, "completed", now=self.clock())
        return report

    def _open_run(self) -> tuple[int, bool]:
        mode: Literal["incremental", "full"] = "full" if self.config.full else "incremental"
        old = unfinished_run(self.engine)  # we hold the lease, so whoever ran it is gone
        if old is not None:
            if old.as_of == self.config.as_of and old.mode == mode:
                adopt_run(self.engine, old.id, self.holder)
                return old.id, True
            finish_run(self.engine, old.id, "abandoned", note="not resumed: the next sweep was for another day or mode")
        return start_run(self.engine, mode, self.config.as_of, self.holder, self.clock()), False

    async def _patients(self, todo: list[str], report: SweepReport, lease: SweepLease) -> None:
        gate = asyncio.Semaphore(self.config.concurrency)

        async def one(patient_id: str) -> None:
            try:
                await self._patient(patient_id, report)
            finally:
                gate.release()

        try:
            async with asyncio.TaskGroup() as group:
                for patient_id in todo:
                    await gate.acquire()
                    if self.stop.is_set() or lease.lost:
                        gate.release()
                        break
                    group.create_task(one(patient_id))
        except ExceptionGroup as failed:
            # An error no patient can cause (the database is gone): the run stays open and resumes later.
            raise failed.exceptions[0] from None

    # -- one patient ------------------------------------------------------------------------------------------

    def _full_fetch(self, state: StoredPatient | None, now: datetime) -> bool:
        if self.config.full or state is None:
            return True
        days = self.config.full_refresh_days
        return days is not None and now - state.last_full_at >= timedelta(days=days)

    async def _patient(self, patient_id: str, report: SweepReport) -> None:
        state = load_patient(self.engine, patient_id)
        fetched_at = self.clock()
        full = self._full_fetch(state, fetched_at)
        since = None
        if not full and state is not None:
            # Whole seconds, one more back: servers read `gt` at a value's precision, so `gt 12:00:31` means
            # after 12:00:31.999 and would miss the rest of that second.
            start = state.last_fetched_at - timedelta(seconds=self.config.overlap_seconds)
            since = start.replace(microsecond=0) - timedelta(seconds=1)
        paging = {} if self.config.page_size is None else {"page_size": self.config.page_size}
        source = FhirPatientSource(self.client, self._codes, since=since, use_batch=self.config.use_batch, **paging)
        try:
            fetched = await source.patient_resources(patient_id)
        except SourceError as exc:
            self._failed(report, exc.code)
            return

        if full or state is None:
            snapshot = rebuild(fetched)
            digest = snapshot_hash(snapshot)
            changed = state is None or digest != state.snapshot_hash
        else:
            snapshot, changed = merge(state.snapshot, fetched)
            digest = snapshot_hash(snapshot) if changed else state.snapshot_hash
        stale = (
            state is None
            or state.assessment_hash is None
            or state.as_of != self.config.as_of
            or state.profile_hash != self._profile_hash
        )
        evaluation = None
        if changed or stale:
            try:
                evaluation = self._evaluate(snapshot, patient_id)
            except Exception as exc:  # a bug on one patient's data must not end the sweep for everyone
                # the type only: the message or a traceback could quote the patient's data
                log.error("assessment failed", extra={"run_id": self._run_id, "error": type(exc).__name__})
                self._failed(report, "assessment-error")
                return
        update = PatientUpdate(
            patient_id=patient_id,
            run_id=self._run_id,
            fetched_at=fetched_at,
            full_fetch=full,
            resources_fetched=len(fetched),
            snapshot=snapshot if changed or state is None else None,
            snapshot_hash=digest,
            evaluation=evaluation,
        )
        reconciled = save_patient(self.engine, update, self.clock())
        report.resources_fetched += len(fetched)
        report.alerts_opened += reconciled.opened
        report.alerts_resolved += reconciled.resolved
        if evaluation is not None:
            report.evaluated += 1
        else:
            report.unchanged += 1
        if self.config.write_back:
            await self._write_back(patient_id, state, evaluation, report)
        if self.on_patient is not None:
            self.on_patient("evaluated" if evaluation is not None else "unchanged")

    def _failed(self, report: SweepReport, code: str) -> None:
        report.failed += 1
        report.errors[code] += 1
        count_failure(self.engine, self._run_id)
        log.warning("patient not swept", extra={"run_id": self._run_id, "code": code})
        if self.on_patient is not None:
            self.on_patient("failed")

    def _evaluate(self, snapshot: dict[str, dict[str, object]], patient_id: str) -> Evaluation:
        record = extract_record([snapshot[key] for key in sorted(snapshot)], self.profile, patient_id=patient_id)
        assessment = evaluate(record, self.config.as_of, self.profile)
        document = assessment.to_json()
        findings = [
            Finding(r.code, r.urgency, r.summary, r.rule, r.citation, [e.to_json() for e in r.evidence], assessment.day)
            for r in assessment.recommendations
        ]
        return Evaluation(
            assessment=document,
            assessment_hash=assessment_hash(document),
            profile_hash=self._profile_hash,
            as_of=self.config.as_of,
            day=assessment.day,
            grades=grade_summary(document),
            findings=findings,
        )

    async def _write_back(
        self, patient_id: str, state: StoredPatient | None, evaluation: Evaluation | None, report: SweepReport
    ) -> None:
        # Also when nothing changed now but the last write-back did not happen (a crash, a server refusal).
        if evaluation is not None:
            document, digest, grades = evaluation.assessment, evaluation.assessment_hash, evaluation.grades
        elif state is not None and state.assessment is not None and state.assessment_hash is not None:
            document, digest, grades = state.assessment, state.assessment_hash, state.grades
        else:
            return
        if state is not None and state.written_back_hash == digest:
            return
        try:
            # awaited first: `report.x += await ...` would read the count before the await and lose updates
            written = await write_back(self.client, patient_id, document, grades, alerts_of(self.engine, patient_id))
        except (SourceError, WriteBackError) as exc:
            report.write_back_failed += 1
            code = exc.code if isinstance(exc, SourceError) else "write-back-invalid"
            log.warning("write-back failed", extra={"run_id": self._run_id, "code": code})
            return
        report.written_back += written
        mark_written_back(self.engine, patient_id, digest)


async def run_sweep(
    config: SweepConfig,
    store: Store,
    profile: Profile,
    *,
    auth: Auth | None = None,
    on_cohort: Callable[[int, int], None] | None = None,
    on_patient: Callable[[PatientOutcome], None] | None = None,
    stop: threading.Event | None = None,
) -> SweepReport:
    """One sweep with its own FHIR client (and connection pool) on the running event loop."""
    timeouts = Timeouts(connect=10.0, read=config.fetch_timeout_s, total=config.fetch_timeout_s)
    async with FhirClient(config.fhir_base_url, auth, timeouts=timeouts, retry=RetryPolicy(attempts=4)) as client:
        sweeper = Sweeper(store, client, profile, config, on_cohort=on_cohort, on_patient=on_patient, stop=stop)
        return await sweeper.run()
