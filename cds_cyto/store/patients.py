"""Patient state: what the last sweep fetched and concluded, saved in one transaction per patient.

`save_patient` writes the patient's state, reconciles its alerts and counts it in the run, all or nothing: a sweep
killed at any point leaves each patient either fully done in that run or not touched, which is what resuming needs.

A patient the sweep could not assess is recorded by `record_failure` (its count, a reason that holds no patient data,
when to try again) and is not done in the run: a resumed run finds it waiting for its retry; the next successful
save clears it. Both stamp the sweep's tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, insert, select, update
from sqlalchemy.orm import Session

from cds_cyto.store.alerts import (
    ALL_TENANTS,
    Finding,
    Reconciled,
    Scope,
    in_scope,
    reconcile,
    stored_tenant,
    tenant_is,
)
from cds_cyto.store.tables import PatientState, SweepRun

__all__ = [
    "Evaluation",
    "FailedPatient",
    "PatientKey",
    "PatientSummary",
    "PatientUpdate",
    "StoredPatient",
    "deferred_patients",
    "done_in_run",
    "failed_patients",
    "load_patient",
    "mark_written_back",
    "patient_summaries",
    "record_failure",
    "save_patient",
]

# A failure-only row (the patient was never fetched whole): no snapshot; the next success fetches everything.
NEVER_FETCHED = ""


@dataclass(frozen=True, slots=True)
class StoredPatient:
    patient_id: str
    last_fetched_at: datetime
    last_full_at: datetime
    snapshot: dict[str, Any]
    snapshot_hash: str
    assessment: dict[str, Any] | None
    assessment_hash: str | None
    profile_hash: str | None
    as_of: date | None
    grades: dict[str, Any]
    last_run_id: int
    written_back_hash: str | None
    fhir_base_url: str | None = None  # the server the snapshot was swept from (None: unknown, before 0005)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A new assessment of the patient."""

    assessment: dict[str, Any]
    assessment_hash: str
    profile_hash: str
    as_of: date
    day: int | None
    grades: dict[str, Any]
    findings: Sequence[Finding]


@dataclass(frozen=True, slots=True)
class PatientUpdate:
    """What one sweep learned about one patient. `snapshot` None: unchanged, keep the stored one."""

    patient_id: str
    run_id: int
    fetched_at: datetime
    full_fetch: bool
    resources_fetched: int
    snapshot: dict[str, Any] | None
    snapshot_hash: str
    evaluation: Evaluation | None = None
    tenant: str | None = None
    fhir_base_url: str | None = None  # where it was fetched from: the hook uses the snapshot only for that server


PatientKey = tuple[str | None, str]  # (tenant, patient id): two tenants may hold a patient of the same id


@dataclass(frozen=True, slots=True)
class PatientSummary:
    patient_id: str
    day: int | None
    as_of: date | None
    grades: dict[str, Any]
    previous_grades: dict[str, Any] | None
    grades_changed_run_id: int | None
    evaluated_run_id: int | None
    assessment_hash: str | None
    tenant: str | None = None  # None: swept with no tenant

    @property
    def key(self) -> PatientKey:
        return self.tenant, self.patient_id


@dataclass(frozen=True, slots=True)
class FailedPatient:
    """A patient the last sweeps could not assess: how many times in a row, why, and when it is tried again."""

    patient_id: str
    failures: int
    reason: str | None
    retry_after: datetime | None


def _key(patient_id: str, tenant: str | None) -> ColumnElement[bool]:
    """One patient of one tenant: tenants may share patient ids (their FHIR servers number patients alike)."""
    return and_(PatientState.patient_id == patient_id, tenant_is(PatientState.tenant, tenant))


def load_patient(engine: Engine, patient_id: str, tenant: str | None = None) -> StoredPatient | None:
    with Session(engine) as session:
        row = session.scalar(select(PatientState).where(_key(patient_id, tenant)))
        if row is None or row.snapshot_hash == NEVER_FETCHED:
            return None  # failed before its first fetch: as new to the sweep as a patient never seen
        return StoredPatient(
            row.patient_id,
            row.last_fetched_at,
            row.last_full_at,
            row.snapshot,
            row.snapshot_hash,
            row.assessment,
            row.assessment_hash,
            row.profile_hash,
            row.as_of,
            row.grades or {},
            row.last_run_id,
            row.written_back_hash,
            row.fhir_base_url,
        )


def done_in_run(engine: Engine, run_id: int) -> set[str]:  # a run sweeps one tenant
    with engine.connect() as conn:
        done = and_(PatientState.last_run_id == run_id, PatientState.failures == 0)
        return set(conn.execute(select(PatientState.patient_id).where(done)).scalars())


def save_patient(engine: Engine, u: PatientUpdate, now: datetime) -> Reconciled:
    """Commit one patient: state, alerts and the run's counters together."""
    with Session(engine) as session, session.begin():
        key = _key(u.patient_id, u.tenant)
        stored = session.scalar(select(PatientState.snapshot_hash).where(key))
        seen = stored is not None and stored != NEVER_FETCHED  # a failure-only row has no grades to compare
        values: dict[str, Any] = {
            "last_fetched_at": u.fetched_at,
            "last_run_id": u.run_id,
            "updated_at": now,
            "snapshot_hash": u.snapshot_hash,
            "failures": 0,
            "failure_reason": None,
            "retry_after": None,
            "fhir_base_url": u.fhir_base_url,
        }
        if u.full_fetch:
            values["last_full_at"] = u.fetched_at
        if u.snapshot is not None:
            values["snapshot"] = u.snapshot
        reconciled = Reconciled()
        e = u.evaluation
        if e is not None:
            values |= {
                "assessment": e.assessment,
                "assessment_hash": e.assessment_hash,
                "profile_hash": e.profile_hash,
                "as_of": e.as_of,
                "day": e.day,
                "grades": e.grades,
                "evaluated_run_id": u.run_id,
            }
            previous = session.scalar(select(PatientState.grades).where(key))
            if seen and previous != e.grades:
                values |= {"previous_grades": previous, "grades_changed_run_id": u.run_id}
            reconciled = reconcile(session, u.patient_id, u.run_id, e.findings, now, u.tenant)
        if stored is None:
            values.setdefault("last_full_at", u.fetched_at)
            values.setdefault("snapshot", {})
            values.setdefault("grades", {})
            session.execute(
                insert(PatientState).values(patient_id=u.patient_id, tenant=stored_tenant(u.tenant), **values)
            )
        else:
            session.execute(update(PatientState).where(key).values(**values))
        session.execute(
            update(SweepRun)
            .where(SweepRun.id == u.run_id)
            .values(
                evaluated=SweepRun.evaluated + (1 if e is not None else 0),
                unchanged=SweepRun.unchanged + (0 if e is not None else 1),
                resources_fetched=SweepRun.resources_fetched + u.resources_fetched,
                alerts_opened=SweepRun.alerts_opened + reconciled.opened,
                alerts_resolved=SweepRun.alerts_resolved + reconciled.resolved,
            )
        )
    return reconciled


def record_failure(
    engine: Engine,
    patient_id: str,
    run_id: int,
    tenant: str | None,
    reason: str,
    retry_after: Callable[[int], datetime],
    now: datetime,
) -> int:
    """Count a failed patient in its state and in the run, in one transaction; the patient's consecutive failures.
    `retry_after(failures)` says when to try it again.

    What the patient had (snapshot, last fetch, alerts) is kept: its next success goes on from there.
    """
    with Session(engine) as session, session.begin():
        key = _key(patient_id, tenant)
        failures = session.scalar(select(PatientState.failures).where(key))
        count = (failures or 0) + 1
        values: dict[str, Any] = {
            "failures": count,
            "failure_reason": reason[:200],
            "retry_after": retry_after(count),
            "updated_at": now,
        }
        if failures is None:
            values |= {
                "last_run_id": run_id,  # required; `done_in_run` does not count a failed patient as done
                "last_fetched_at": now,
                "last_full_at": now,
                "snapshot": {},
                "snapshot_hash": NEVER_FETCHED,
                "grades": {},
            }
            session.execute(insert(PatientState).values(patient_id=patient_id, tenant=stored_tenant(tenant), **values))
        else:
            session.execute(update(PatientState).where(key).values(**values))
        session.execute(update(SweepRun).where(SweepRun.id == run_id).values(failed=SweepRun.failed + 1))
    return count


def deferred_patients(
    engine: Engine, patient_ids: Sequence[str], now: datetime, tenant: str | None = None
) -> dict[str, datetime]:
    """Of these patients of `tenant`, those whose backoff has not run out yet, with when it does."""
    out: dict[str, datetime] = {}
    ids = list(patient_ids)
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            stmt = select(PatientState.patient_id, PatientState.retry_after).where(
                PatientState.patient_id.in_(ids[start : start + 500]),
                tenant_is(PatientState.tenant, tenant),
                PatientState.retry_after > now,
            )
            out |= {pid: when for pid, when in conn.execute(stmt) if when is not None}
    return out


def failed_patients(engine: Engine, *, scope: Scope) -> list[FailedPatient]:
    """Patients in `scope` whose last sweep could not assess them, the longest-failing first."""
    stmt = (
        select(PatientState.patient_id, PatientState.failures, PatientState.failure_reason, PatientState.retry_after)
        .where(and_(PatientState.failures > 0, in_scope(PatientState.tenant, scope)))
        .order_by(PatientState.failures.desc(), PatientState.patient_id)
    )
    with engine.connect() as conn:
        return [FailedPatient(*row) for row in conn.execute(stmt)]


def mark_written_back(engine: Engine, patient_id: str, assessment_hash: str, tenant: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(update(PatientState).where(_key(patient_id, tenant)).values(written_back_hash=assessment_hash))


def patient_summaries(
    engine: Engine, patient_ids: Sequence[str] | None = None, *, scope: Scope = ALL_TENANTS
) -> dict[PatientKey, PatientSummary]:
    """The assessed patients in `scope`, by (tenant, patient id): a scope of every tenant (auth disabled, the
    operator's CLI) may hold two tenants' patients of one id, and each keeps its own summary."""
    cols = (
        PatientState.patient_id,
        PatientState.day,
        PatientState.as_of,
        PatientState.grades,
        PatientState.previous_grades,
        PatientState.grades_changed_run_id,
        PatientState.evaluated_run_id,
        PatientState.assessment_hash,
        PatientState.tenant,
    )
    stmt = select(*cols).where(in_scope(PatientState.tenant, scope), PatientState.snapshot_hash != NEVER_FETCHED)
    if patient_ids is not None:
        stmt = stmt.where(PatientState.patient_id.in_(list(patient_ids)))
    with engine.connect() as conn:
        summaries = [
            PatientSummary(pid, day, as_of, grades, previous, changed, evaluated, digest, tenant or None)
            for pid, day, as_of, grades, previous, changed, evaluated, digest, tenant in conn.execute(stmt)
        ]
    return {s.key: s for s in summaries}
