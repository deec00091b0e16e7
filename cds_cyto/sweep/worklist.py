"""The worklist: patients with open alerts, most urgent first, and what the last sweep changed.

Order (`row_order`): the patient's most urgent open alert (critical > warning > info; patients with only changes and
no open alert last); at the same urgency, a patient with a clinical alert at that urgency before one whose only
alerts at it are about data quality (a unit error months ago is housekeeping, a clinical warning is a patient);
then the day since infusion, earliest first — in the early weeks counts change daily and transfusion or G-CSF
decisions are made the same day, later they change over weeks — with an unknown day last; then the patient id.
"Changed" means since the last completed sweep of the patient's tenant, that sweep included: alerts it opened or
resolved, urgencies it changed, grades it changed. Runs belong to a tenant (migration 0006): a tenant's reader is
measured against, and shown (`since_run`), its own tenant's last completed sweep, never another tenant's; a scope
with no tenant sees no run at all. A reader of every tenant gets each row measured against its own tenant's last
completed sweep, and `since_run` is the newest completed sweep of any tenant.

Every read is for a `Scope`: a caller sees its own tenant's patients and alerts only. The patients the sweeps could
not assess are listed apart (`failed_patients`), with their reason and when they are tried again.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import Engine, select

from cds_cyto.store.alerts import URGENCY_RANK, AlertView, Scope, alerts_for_worklist, alerts_of, in_scope
from cds_cyto.store.patients import FailedPatient, PatientKey, PatientSummary, failed_patients, patient_summaries
from cds_cyto.store.runs import RunInfo, last_completed_run, last_completed_runs
from cds_cyto.store.tables import PatientState
from cds_cyto.sweep.fingerprint import grade_changes

__all__ = [
    "HOUSEKEEPING_CODES",
    "Worklist",
    "WorklistAlert",
    "WorklistRow",
    "build_worklist",
    "patient_entries",
    "patient_entry",
    "render_csv",
    "render_table",
    "row_order",
]

Change = Literal["new", "resolved", "escalated", "de-escalated", "ongoing"]


@dataclass(frozen=True, slots=True)
class WorklistAlert:
    id: str
    code: str
    urgency: str
    state: str
    change: Change
    summary: str
    previous_urgency: str | None
    opened_at: str
    acknowledged_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "urgency": self.urgency,
            "state": self.state,
            "change": self.change,
            "summary": self.summary,
            "previous_urgency": self.previous_urgency,
            "opened_at": self.opened_at,
            "acknowledged_by": self.acknowledged_by,
        }


@dataclass(frozen=True, slots=True)
class WorklistRow:
    patient_id: str
    urgency: str | None  # the most urgent open alert; None: only changes to show
    day: int | None
    as_of: date | None
    grades: dict[str, Any]
    grade_changes: dict[str, list[Any]]
    alerts: list[WorklistAlert] = field(default_factory=list)
    tenant: str | None = None  # set only for a reader of every tenant, who may see two patients of one id

    def to_json(self) -> dict[str, Any]:
        return ({"tenant": self.tenant} if self.tenant else {}) | {
            "patient_id": self.patient_id,
            "urgency": self.urgency,
            "day": self.day,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "grades": self.grades,
            "grade_changes": self.grade_changes,
            "alerts": [a.to_json() for a in self.alerts],
        }


def _failed_json(f: FailedPatient) -> dict[str, Any]:
    return {
        "patient_id": f.patient_id,
        "failures": f.failures,
        "reason": f.reason,
        "retry_after": f.retry_after.isoformat() if f.retry_after else None,
    }


@dataclass(frozen=True, slots=True)
class Worklist:
    since_run: RunInfo | None  # the last completed sweep; None before the first one
    rows: list[WorklistRow]
    failed: list[FailedPatient] = field(default_factory=list)  # not assessed by the last sweeps

    def to_json(self) -> dict[str, Any]:
        run = self.since_run
        return {
            "since_run": None
            if run is None
            else {
                "id": run.id,
                "as_of": run.as_of.isoformat(),
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "cohort_size": run.cohort_size,
                "evaluated": run.evaluated,
                "alerts_opened": run.alerts_opened,
                "alerts_resolved": run.alerts_resolved,
                "failed": run.failed,
                "note": run.note,
            },
            "patients": [r.to_json() for r in self.rows],
            "failed_patients": [_failed_json(f) for f in self.failed],
        }


def _change(a: AlertView, since: int) -> Change:
    if a.state == "resolved":
        return "resolved"
    if a.opened_run_id >= since:
        return "new"
    if a.urgency_changed_run_id is not None and a.urgency_changed_run_id >= since and a.previous_urgency:
        worse = URGENCY_RANK.get(a.urgency, 9) < URGENCY_RANK.get(a.previous_urgency, 9)
        return "escalated" if worse else "de-escalated"
    return "ongoing"


def _alert(a: AlertView, since: int) -> WorklistAlert:
    return WorklistAlert(
        a.uid,
        a.code,
        a.urgency,
        a.state,
        _change(a, since),
        a.summary,
        a.previous_urgency,
        a.opened_at.isoformat(),
        a.acknowledged_by,
    )


def _row(
    patient_id: str, alerts: list[AlertView], summary: PatientSummary | None, since: int, tenant: str | None = None
) -> WorklistRow:
    open_ranks = [URGENCY_RANK.get(a.urgency, 9) for a in alerts if a.state != "resolved"]
    urgency = None
    if open_ranks:
        urgency = next(u for u, rank in URGENCY_RANK.items() if rank == min(open_ranks))
    ordered = sorted(alerts, key=lambda a: (a.state == "resolved", URGENCY_RANK.get(a.urgency, 9), a.code))
    changes: dict[str, list[Any]] = {}
    if summary is not None and summary.grades_changed_run_id is not None and summary.grades_changed_run_id >= since:
        changes = grade_changes(summary.previous_grades, summary.grades)
    return WorklistRow(
        patient_id,
        urgency,
        summary.day if summary else None,
        summary.as_of if summary else None,
        dict(summary.grades) if summary else {},
        changes,
        [_alert(a, since) for a in ordered],
        tenant,
    )


# Alerts about the data rather than the patient: at equal urgency they rank below a clinical alert.
HOUSEKEEPING_CODES = frozenset({"data-quality"})


def row_order(r: WorklistRow) -> tuple[int, int, int, int, str]:
    """The worklist's sort key (see the module's docstring)."""
    rank = URGENCY_RANK.get(r.urgency, 9) if r.urgency else 9
    top = [a for a in r.alerts if a.state != "resolved" and URGENCY_RANK.get(a.urgency, 9) == rank]
    housekeeping = int(bool(top) and all(a.code in HOUSEKEEPING_CODES for a in top))
    return rank, housekeeping, int(r.day is None), r.day if r.day is not None else 0, r.patient_id


def _since_runs(engine: Engine, scope: Scope) -> dict[str, RunInfo]:
    """The last completed sweep of each tenant `scope` reads, by stored tenant ("": untenanted)."""
    if scope.everyone:
        return last_completed_runs(engine)
    if not scope.tenant:
        return {}  # sees nothing: not even another tenant's run
    run = last_completed_run(engine, scope.tenant)
    return {} if run is None else {run.tenant or "": run}


def _since(runs: dict[str, RunInfo], tenant: str | None) -> int:
    run = runs.get(tenant or "")
    return run.id if run is not None else 0  # no completed sweep yet: everything is new


def build_worklist(engine: Engine, *, scope: Scope) -> Worklist:
    runs = _since_runs(engine, scope)
    by_patient: dict[PatientKey, list[AlertView]] = {}  # by tenant too: every tenant's reader may see one id twice
    since_ids = {tenant: run.id for tenant, run in runs.items()}
    for alert in alerts_for_worklist(engine, 0, scope=scope, since_by_tenant=since_ids):
        by_patient.setdefault((alert.tenant, alert.patient_id), []).append(alert)
    summaries = patient_summaries(engine, scope=scope)
    for key, s in summaries.items():
        if s.grades_changed_run_id is not None and s.grades_changed_run_id >= _since(runs, key[0]):
            by_patient.setdefault(key, [])
    rows = [
        _row(pid, alerts, summaries.get((tenant, pid)), _since(runs, tenant), tenant if scope.everyone else None)
        for (tenant, pid), alerts in by_patient.items()
    ]
    rows = [r for r in rows if r.alerts or r.grade_changes]
    rows.sort(key=row_order)
    shown = max(runs.values(), key=lambda r: r.id, default=None)
    return Worklist(shown, rows, failed_patients(engine, scope=scope))


def _failed_by_tenant(engine: Engine, patient_id: str, scope: Scope) -> dict[str | None, FailedPatient]:
    """The patient's failures, by tenant. (`FailedPatient` does not carry its tenant; this read belongs in
    store/patients.py, kept here until that module gains it.)"""
    stmt = select(
        PatientState.tenant, PatientState.failures, PatientState.failure_reason, PatientState.retry_after
    ).where(PatientState.patient_id == patient_id, PatientState.failures > 0, in_scope(PatientState.tenant, scope))
    with engine.connect() as conn:
        return {
            tenant or None: FailedPatient(patient_id, failures, reason, retry)
            for tenant, failures, reason, retry in conn.execute(stmt)
        }


def patient_entries(engine: Engine, patient_id: str, *, scope: Scope) -> list[dict[str, Any]]:
    """The worklist entries of one patient id in `scope`, with every alert each ever had: one per tenant holding a
    patient of that id, never merged (two tenants' servers may number patients alike). A tenant's reader gets at
    most one; empty when the id is not in `scope` (another tenant's patient is answered like one never swept). For a
    reader of every tenant each entry names its tenant, as the worklist's rows do; untenanted ones first."""
    summaries = {tenant: s for (tenant, _), s in patient_summaries(engine, [patient_id], scope=scope).items()}
    failed = _failed_by_tenant(engine, patient_id, scope)
    alerts: dict[str | None, list[AlertView]] = {}
    for a in alerts_of(engine, patient_id, scope=scope):
        alerts.setdefault(a.tenant, []).append(a)
    runs = _since_runs(engine, scope)
    entries = []
    for tenant in sorted(summaries.keys() | failed.keys(), key=lambda t: t or ""):
        since = _since(runs, tenant)
        row = _row(patient_id, alerts.get(tenant, []), summaries.get(tenant), since, tenant if scope.everyone else None)
        fail = failed.get(tenant)
        entries.append(row.to_json() | {"failure": _failed_json(fail) if fail else None})
    return entries


def patient_entry(engine: Engine, patient_id: str, *, scope: Scope, tenant: str | None = None) -> dict[str, Any] | None:
    """One patient's worklist entry: the one in `scope`, or for a reader of every tenant the one of `tenant` (None:
    the untenanted one). None when there is no such entry."""
    for entry in patient_entries(engine, patient_id, scope=scope):
        if not scope.everyone or entry.get("tenant") == tenant:
            return entry
    return None


def _day(day: int | None) -> str:
    return "" if day is None else f"{day:+d}"


def _grades_text(changes: dict[str, list[Any]]) -> str:
    return "; ".join(f"{name} {before} → {after}" for name, (before, after) in changes.items())


def render_table(worklist: Worklist) -> str:
    run = worklist.since_run
    head = (
        "Worklist — no completed sweep yet"
        if run is None
        else f"Worklist — changes since sweep {run.id} (as of {run.as_of.isoformat()})"
    )
    failed = _failed_text(worklist.failed)
    if not worklist.rows:
        return head + "\nNothing to review." + failed
    table = [("URGENCY", "DAY", "PATIENT", "CHANGE", "STATE", "ALERT", "SUMMARY")]
    for row in worklist.rows:
        first = True
        patient = _patient_text(row)
        for a in row.alerts:
            table.append(
                (
                    (row.urgency or "-") if first else "",
                    _day(row.day) if first else "",
                    patient if first else "",
                    a.change,
                    a.state,
                    a.code,
                    a.summary,
                )
            )
            first = False
        if row.grade_changes:
            table.append(
                (
                    (row.urgency or "-") if first else "",
                    _day(row.day) if first else "",
                    patient if first else "",
                    "grades",
                    "",
                    "",
                    _grades_text(row.grade_changes),
                )
            )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in table]
    return head + "\n" + "\n".join(line.rstrip() for line in lines) + failed


def _patient_text(row: WorklistRow) -> str:
    # a reader of every tenant may see two tenants' patients of one id: the tenant tells them apart
    return f"{row.patient_id} ({row.tenant})" if row.tenant else row.patient_id


def _failed_text(failed: list[FailedPatient]) -> str:
    if not failed:
        return ""
    lines = [f"\nNot assessed by the last sweeps: {len(failed)} patient(s)"]
    for f in failed:
        when = f.retry_after.isoformat(timespec="minutes") if f.retry_after else "next sweep"
        lines.append(f"  {f.patient_id}  {f.reason or 'unknown'} (failed {f.failures}×, retried after {when})")
    return "\n".join(lines)


CSV_COLUMNS = (
    "patient_id",
    "patient_urgency",
    "day",
    "alert_id",
    "code",
    "urgency",
    "state",
    "change",
    "summary",
    "grade_changes",
    "tenant",  # empty for a tenant's own reader, and for patients swept without one
)


def render_csv(worklist: Worklist) -> str:
    """One line per alert (a patient with only grade changes gets one line without an alert)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in worklist.rows:
        changes = _grades_text(row.grade_changes)
        common = (row.patient_id, row.urgency or "", "" if row.day is None else row.day)
        tenant = row.tenant or ""
        if not row.alerts:
            writer.writerow((*common, "", "", "", "", "grades", "", changes, tenant))
        for a in row.alerts:
            writer.writerow((*common, a.id, a.code, a.urgency, a.state, a.change, a.summary, changes, tenant))
    return out.getvalue()
