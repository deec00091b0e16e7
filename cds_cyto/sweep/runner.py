"""One cohort sweep: lease → run (new or resumed) → cohort → each patient fetched, merged, assessed, committed.

Per patient (at most `concurrency` at a time): fetch what changed since its last fetch (`_lastUpdated`), or
everything when it is new, when `--full` was asked, or when its last full fetch is older than
`full_refresh_days`; merge into its snapshot; assess again only if the snapshot changed, the day changed or the
profile changed; then commit state, alerts and run counters in one transaction. The commit marks the patient done
in this run, so a sweep killed at any point resumes where it stopped: the next sweep (same day and mode) adopts
the unfinished run and skips the patients it already committed.

A patient that cannot be assessed (any exception while fetching, reading, assessing or saving it: a server's 500
for that patient, JSON of the wrong types) is recorded as failed with a short reason and a backoff (`retry`), and
the sweep goes on; the next sweeps skip it until its backoff runs out, then try it again. A run ends `completed`
with its failures counted and named in its note, or `failed` — never left `running` after an exception (only a
killed or stopped sweep leaves its run open, for the next one to resume).

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
from typing import Any, Literal

from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.profile import Profile
from cds_cyto.sources import (
    Auth,
    FhirClient,
    FhirError,
    FhirPatientSource,
    RetryPolicy,
    SourceError,
    Timeouts,
    default_observation_codes,
)
from cds_cyto.store import Store
from cds_cyto.store.alerts import Finding, resolve_left_cohort, tenant_alerts_of
from cds_cyto.store.lease import holder_name
from cds_cyto.store.patients import (
    Evaluation,
    PatientUpdate,
    StoredPatient,
    deferred_patients,
    done_in_run,
    load_patient,
    mark_written_back,
    record_failure,
    save_patient,
)
from cds_cyto.store.runs import adopt_run, finish_run, set_cohort_size, start_run, unfinished_run
from cds_cyto.sweep.changes import changed_patients
from cds_cyto.sweep.cohort_query import CohortError, discover_cohort
from cds_cyto.sweep.config import SweepConfig
from cds_cyto.sweep.fingerprint import assessment_hash, grade_summary, profile_hash
from cds_cyto.sweep.lease_keeper import SweepLease
from cds_cyto.sweep.retry import backoff
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
    deferred: int = 0  # failed in an earlier sweep and not due for a retry yet
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
    errors: Counter[str] = field(default_factory=Counter)  # failure reason → patients (never a patient id)

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
        if self.deferred:
            parts.append(f"{self.deferred} waiting to be retried")
        if self.already_done:
            parts.append(f"{self.already_done} done before the restart")
        parts.append(f"alerts +{self.alerts_opened} new, {self.alerts_resolved} resolved")
        if self.written_back or self.write_back_failed:
            parts.append(f"{self.written_back} resource(s) written back, {self.write_back_failed} failed")
        tail = f" [failed: {self.failure_text()}]" if self.errors else ""
        return f"{head}: " + ", ".join(parts) + f" in {self.seconds:.1f} s{tail}"

    def failure_text(self) -> str:
        return ", ".join(f"{reason} ×{n}" for reason, n in sorted(self.errors.items()))

    def note(self) -> str | None:
        """What the run's row says about its patients that were not assessed (None: every one was)."""
        if not self.failed and not self.deferred:
            return None
        parts = []
        if self.failed:
            parts.append(f"{self.failed} patient(s) failed and will be retried with backoff ({self.failure_text()})")
        if self.deferred:
            parts.append(f"{self.deferred} patient(s) skipped until their retry is due")
        return "; ".join(parts)


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
        # Patients with changes since the oldest incremental fetch of this run (None: unknown, ask each), and
        # when that was asked: a patient not among them is as its snapshot says as of then.
        self._changed: set[str] | None = None
        self._checked_at = clock()

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
        try:
            return await self._sweep(report, lease)
        except Exception as exc:  # a run must never stay `running` after an exception: only a kill leaves it open
            code = type(exc).__name__  # the type only: a message could quote a patient's data or an SQL parameter
            log.error("sweep failed", extra={"run_id": run_id, "error": code})
            try:
                finish_run(self.engine, run_id, "failed", note=f"sweep failed ({code})", now=self.clock())
            except Exception:  # the database itself is gone: the run stays open and the next sweep resumes it
                log.error("sweep run could not be closed", extra={"run_id": run_id})
            report.status = "failed"
            report.reason = f"unexpected error ({code}); the next sweep starts a new run"
            return report

    async def _sweep(self, report: SweepReport, lease: SweepLease) -> SweepReport:
        run_id, resumed = self._run_id, report.resumed
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
        except Exception as exc:  # a malformed search result as much as a server error: no cohort, no sweep
            known = isinstance(exc, SourceError | CohortError)  # their messages are ours, with no patient data
            code = exc.code if isinstance(exc, SourceError) else "cohort" if known else type(exc).__name__
            finish_run(self.engine, run_id, "failed", note=f"cohort discovery failed ({code})")
            report.status = "failed"
            report.reason = f"cohort discovery failed: {exc}" if known else f"cohort discovery failed ({code})"
            return report
        set_cohort_size(self.engine, run_id, len(cohort))
        done = done_in_run(self.engine, run_id) if resumed else set()
        waiting = deferred_patients(
            self.engine, [pid for pid in cohort if pid not in done], self.clock(), self.config.tenant
        )
        todo = [pid for pid in cohort if pid not in done and pid not in waiting]
        report.cohort_size = len(cohort)
        report.deferred = len(waiting)
        report.already_done = len(cohort) - len(todo) - len(waiting)
        if self.on_cohort is not None:
            self.on_cohort(len(cohort), report.already_done)
        await self._learn_changes(todo)
        await self._patients(todo, report, lease)
        if self.stop.is_set() or lease.lost:
            report.status = "stopped"
            report.reason = "lease lost" if lease.lost else "stopped"
            return report  # left running: the next sweep resumes it
        resolved = resolve_left_cohort(self.engine, set(cohort), run_id, self.clock(), self.config.tenant)
        report.alerts_resolved += resolved
        finish_run(self.engine, run_id, "completed", note=report.note(), now=self.clock())
        return report

    def _open_run(self) -> tuple[int, bool]:
        mode: Literal["incremental", "full"] = "full" if self.config.full else "incremental"
        old = unfinished_run(self.engine, self.config.tenant)  # we hold the lease, so whoever ran it is gone
        if old is not None:
            if old.as_of == self.config.as_of and old.mode == mode:
                adopt_run(self.engine, old.id, self.holder)
                return old.id, True
            finish_run(self.engine, old.id, "abandoned", note="not resumed: the next sweep was for another day or mode")
        return start_run(self.engine, mode, self.config.as_of, self.holder, self.clock(), self.config.tenant), False

    async def _learn_changes(self, todo: list[str]) -> None:
        """One search per resource type for the whole cohort instead of one fetch per patient (issue 18)."""
        self._checked_at = self.clock()
        self._changed = None
        starts = []
        for patient_id in todo:
            state = load_patient(self.engine, patient_id, self.config.tenant)
            if state is not None and not self._full_fetch(state, self._checked_at):
                starts.append(self._since(state))
        if starts:
            self._changed = await changed_patients(self.client, min(starts), self.config.page_size or 2000)

    def _since(self, state: StoredPatient) -> datetime:
        # Whole seconds, one more back: servers read `gt` at a value's precision, so `gt 12:00:31` means
        # after 12:00:31.999 and would miss the rest of that second.
        start = state.last_fetched_at - timedelta(seconds=self.config.overlap_seconds)
        return start.replace(microsecond=0) - timedelta(seconds=1)

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
        stage = _Stage()
        try:
            outcome: PatientOutcome = await self._sweep_patient(patient_id, report, stage)
        except Exception as exc:  # one patient's data or server fault must not end the sweep for everyone
            self._failed(report, patient_id, _reason(stage.name, exc))
            outcome = "failed"
        if self.on_patient is not None:  # outside the try: a caller's callback is no fault of the patient's
            self.on_patient(outcome)

    async def _sweep_patient(self, patient_id: str, report: SweepReport, stage: _Stage) -> PatientOutcome:
        state = load_patient(self.engine, patient_id, self.config.tenant)
        fetched_at = self.clock()
        full = self._full_fetch(state, fetched_at)
        since = None if full or state is None else self._since(state)
        paging = {} if self.config.page_size is None else {"page_size": self.config.page_size}
        source = FhirPatientSource(self.client, self._codes, since=since, use_batch=self.config.use_batch, **paging)
        stage.name = "fetch"
        if since is not None and self._changed is not None and patient_id not in self._changed:
            fetched: list[dict[str, Any]] = []  # nothing of theirs changed since `since` when the run asked
            fetched_at = self._checked_at
        else:
            fetched = await source.patient_resources(patient_id)

        stage.name = "read"
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
            evaluation = self._evaluate(snapshot, patient_id, stage)
        stage.name = "save"
        update = PatientUpdate(
            patient_id=patient_id,
            run_id=self._run_id,
            fetched_at=fetched_at,
            full_fetch=full,
            resources_fetched=len(fetched),
            snapshot=snapshot if changed or state is None else None,
            snapshot_hash=digest,
            evaluation=evaluation,
            tenant=self.config.tenant,
            fhir_base_url=self.client.base_url,
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
        return "evaluated" if evaluation is not None else "unchanged"

    def _failed(self, report: SweepReport, patient_id: str, reason: str) -> None:
        now = self.clock()
        failures = record_failure(
            self.engine, patient_id, self._run_id, self.config.tenant, reason, lambda n: now + backoff(n), now
        )
        report.failed += 1
        report.errors[reason] += 1
        log.warning("patient not swept", extra={"run_id": self._run_id, "code": reason, "failures": failures})

    def _evaluate(self, snapshot: dict[str, dict[str, object]], patient_id: str, stage: _Stage) -> Evaluation:
        stage.name = "read"
        record = extract_record([snapshot[key] for key in sorted(snapshot)], self.profile, patient_id=patient_id)
        stage.name = "assess"
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
            alerts = tenant_alerts_of(self.engine, patient_id, self.config.tenant)  # not another tenant's p-id
            written = await write_back(self.client, patient_id, document, grades, alerts)
        except Exception as exc:  # the patient is assessed and saved: a failed write-back is retried next sweep
            report.write_back_failed += 1
            code = (
                exc.code
                if isinstance(exc, SourceError)
                else "write-back-invalid"
                if isinstance(exc, WriteBackError)
                else type(exc).__name__
            )
            log.warning("write-back failed", extra={"run_id": self._run_id, "code": code})
            return
        report.written_back += written
        mark_written_back(self.engine, patient_id, digest, self.config.tenant)


@dataclass(slots=True)
class _Stage:
    """Where a patient's sweep is, so a failure can say so without quoting anything from the patient."""

    name: str = "load"


def _reason(stage: str, exc: Exception) -> str:
    """A short failure reason for the store and the report: the stage and the error's kind, never its message
    (a message or a traceback could quote the patient's data)."""
    if isinstance(exc, FhirError):
        return f"{stage}: {exc.code} (HTTP {exc.status})"
    if isinstance(exc, SourceError):
        return f"{stage}: {exc.code}"
    return f"{stage}: {type(exc).__name__}"


async def run_sweep(
    config: SweepConfig,
    store: Store,
    profile: Profile,
    *,
    auth: Auth | None = None,
    on_cohort: Callable[[int, int], None] | None = None,
    on_patient: Callable[[PatientOutcome], None] | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> SweepReport:
    """One sweep with its own FHIR client (and connection pool) on the running event loop. `clock` is the wall
    clock the store's instants and the retry backoff are read from (tests move it)."""
    timeouts = Timeouts(connect=10.0, read=config.fetch_timeout_s, total=config.fetch_timeout_s)
    async with FhirClient(config.fhir_base_url, auth, timeouts=timeouts, retry=RetryPolicy(attempts=4)) as client:
        sweeper = Sweeper(
            store, client, profile, config, on_cohort=on_cohort, on_patient=on_patient, stop=stop, clock=clock
        )
        return await sweeper.run()
