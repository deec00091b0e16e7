"""Patient state: what the last sweep fetched and concluded, saved in one transaction per patient.

`save_patient` writes the patient's state, reconciles its alerts and counts it in the run, all or nothing: a sweep
killed at any point leaves each patient either fully done in that run or not touched, which is what resuming needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from cds_cyto.store.alerts import Finding, Reconciled, reconcile
from cds_cyto.store.tables import PatientState, SweepRun

__all__ = [
    "Evaluation",
    "PatientSummary",
    "PatientUpdate",
    "StoredPatient",
    "done_in_run",
    "load_patient",
    "mark_written_back",
    "patient_summaries",
    "save_patient",
]


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


def load_patient(engine: Engine, patient_id: str) -> StoredPatient | None:
    with Session(engine) as session:
        row = session.get(PatientState, patient_id)
        if row is None:
            return None
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
        )


def done_in_run(engine: Engine, run_id: int) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(PatientState.patient_id).where(PatientState.last_run_id == run_id)).scalars())


def save_patient(engine: Engine, u: PatientUpdate, now: datetime) -> Reconciled:
    """Commit one patient: state, alerts and the run's counters together."""
    with Session(engine) as session, session.begin():
        exists = session.scalar(select(PatientState.patient_id).where(PatientState.patient_id == u.patient_id))
        values: dict[str, Any] = {
            "last_fetched_at": u.fetched_at,
            "last_run_id": u.run_id,
            "updated_at": now,
            "snapshot_hash": u.snapshot_hash,
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
            previous = session.scalar(select(PatientState.grades).where(PatientState.patient_id == u.patient_id))
            if exists is not None and previous != e.grades:
                values |= {"previous_grades": previous, "grades_changed_run_id": u.run_id}
            reconciled = reconcile(session, u.patient_id, u.run_id, e.findings, now)
        if exists is None:
            values.setdefault("last_full_at", u.fetched_at)
            values.setdefault("snapshot", {})
            values.setdefault("grades", {})
            session.execute(insert(PatientState).values(patient_id=u.patient_id, **values))
        else:
            session.execute(update(PatientState).where(PatientState.patient_id == u.patient_id).values(**values))
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


def mark_written_back(engine: Engine, patient_id: str, assessment_hash: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(PatientState).where(PatientState.patient_id == patient_id).values(written_back_hash=assessment_hash)
        )


def patient_summaries(engine: Engine, patient_ids: Sequence[str] | None = None) -> dict[str, PatientSummary]:
    cols = (
        PatientState.patient_id,
        PatientState.day,
        PatientState.as_of,
        PatientState.grades,
        PatientState.previous_grades,
        PatientState.grades_changed_run_id,
        PatientState.evaluated_run_id,
        PatientState.assessment_hash,
    )
    stmt = select(*cols)
    if patient_ids is not None:
        stmt = stmt.where(PatientState.patient_id.in_(list(patient_ids)))
    with engine.connect() as conn:
        return {row[0]: PatientSummary(*row) for row in conn.execute(stmt)}
