"""Alerts: recommendations that fire, carried across sweeps.

Reconciling one patient's current findings with its open alerts:

- a code that fires and has an open alert → the alert is refreshed (summary, evidence, urgency, day); its state is
  kept, so an acknowledged alert stays acknowledged while it keeps firing;
- a code that fires with no open alert → a new alert (state `new`);
- an open alert whose code no longer fires → resolved.

One open alert per tenant, patient and code is also a unique index, so no path can add a duplicate.

Tenants (issue 15): an alert carries the tenant its patient was swept for; every read for a caller takes a `Scope`,
and a scope with no tenant matches nothing (only `ALL_TENANTS` — auth disabled, the operator's CLI — sees all).
Two tenants may have a patient of the same id: a patient is its tenant and its id (migration 0003). "No tenant" is
stored as `NO_TENANT` (a key column cannot be NULL); the functions here take and give None for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, case, false, select, true, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from cds_cyto.store.tables import OPEN_STATES, Alert, SweepRun

__all__ = [
    "ALL_TENANTS",
    "URGENCY_RANK",
    "AlertView",
    "Finding",
    "Reconciled",
    "Scope",
    "acknowledge",
    "alerts_for_worklist",
    "alerts_of",
    "in_scope",
    "reconcile",
    "resolve_left_cohort",
    "stored_tenant",
    "tenant_alerts_of",
    "tenant_is",
]

NO_TENANT = ""  # swept with no CDS_CYTO_SWEEP_TENANT, or before tenants existed

URGENCY_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose patients and alerts a reader may see: one tenant's, nobody's (`tenant` None), or everyone's."""

    tenant: str | None
    everyone: bool = False


ALL_TENANTS = Scope(None, everyone=True)


def stored_tenant(tenant: str | None) -> str:
    return tenant or NO_TENANT


def in_scope(column: InstrumentedAttribute[str], scope: Scope) -> ColumnElement[bool]:
    if scope.everyone:
        return true()
    if not scope.tenant:
        return false()  # an issuer with no tenant (or an empty one) sees nothing rather than everything
    return column == scope.tenant


def tenant_is(column: InstrumentedAttribute[str], tenant: str | None) -> ColumnElement[bool]:
    """The rows of exactly this tenant (None: the rows swept before tenants, or with none configured)."""
    return column == stored_tenant(tenant)


@dataclass(frozen=True, slots=True)
class Finding:
    """A recommendation as the store keeps it (plain data, no core types)."""

    code: str
    urgency: str
    summary: str
    rule: str
    citation: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    day: int | None = None


@dataclass(frozen=True, slots=True)
class Reconciled:
    opened: int = 0
    resolved: int = 0
    changed_urgency: int = 0


@dataclass(frozen=True, slots=True)
class AlertView:
    uid: str
    patient_id: str
    code: str
    state: str
    urgency: str
    previous_urgency: str | None
    urgency_changed_run_id: int | None
    summary: str
    rule: str
    citation: str
    evidence: list[dict[str, Any]]
    day: int | None
    opened_run_id: int
    last_seen_run_id: int
    resolved_run_id: int | None
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolution: str | None
    tenant: str | None = None  # None: swept with no tenant


def _view(a: Alert) -> AlertView:
    return AlertView(
        a.uid,
        a.patient_id,
        a.code,
        a.state,
        a.urgency,
        a.previous_urgency,
        a.urgency_changed_run_id,
        a.summary,
        a.rule,
        a.citation,
        list(a.evidence or []),
        a.day,
        a.opened_run_id,
        a.last_seen_run_id,
        a.resolved_run_id,
        a.opened_at,
        a.acknowledged_at,
        a.acknowledged_by,
        a.resolved_at,
        a.resolution,
        a.tenant or None,
    )


def _one_per_code(findings: Iterable[Finding]) -> dict[str, Finding]:
    # The rules give a code once; should one ever come twice, the most urgent stands for the alert.
    out: dict[str, Finding] = {}
    for f in findings:
        known = out.get(f.code)
        if known is None or URGENCY_RANK.get(f.urgency, 9) < URGENCY_RANK.get(known.urgency, 9):
            out[f.code] = f
    return out


def reconcile(
    session: Session,
    patient_id: str,
    run_id: int,
    findings: Sequence[Finding],
    now: datetime,
    tenant: str | None = None,
) -> Reconciled:
    """Apply one patient's findings to its open alerts, inside the caller's transaction."""
    current = _one_per_code(findings)
    open_alerts = session.scalars(
        select(Alert).where(
            and_(Alert.patient_id == patient_id, tenant_is(Alert.tenant, tenant), Alert.state.in_(OPEN_STATES))
        )
    ).all()
    opened = resolved = changed = 0
    for alert in open_alerts:
        finding = current.pop(alert.code, None)
        if finding is None:
            alert.state = "resolved"
            alert.resolved_run_id = run_id
            alert.resolved_at = now
            alert.resolution = "stopped-firing"
            alert.updated_at = now
            resolved += 1
            continue
        if finding.urgency != alert.urgency:
            alert.previous_urgency = alert.urgency
            alert.urgency_changed_run_id = run_id
            alert.urgency = finding.urgency
            changed += 1
        alert.summary = finding.summary
        alert.rule = finding.rule
        alert.citation = finding.citation
        alert.evidence = finding.evidence
        alert.day = finding.day
        alert.last_seen_run_id = run_id
        alert.updated_at = now
    # A resolved alert must reach the database before a new one for the same code could, or the unique
    # index would see two open rows within this flush.
    session.flush()
    for finding in current.values():
        session.add(
            Alert(
                uid=str(uuid.uuid4()),
                patient_id=patient_id,
                code=finding.code,
                state="new",
                urgency=finding.urgency,
                summary=finding.summary,
                rule=finding.rule,
                citation=finding.citation,
                evidence=finding.evidence,
                day=finding.day,
                opened_run_id=run_id,
                last_seen_run_id=run_id,
                opened_at=now,
                updated_at=now,
                tenant=stored_tenant(tenant),
            )
        )
        opened += 1
    return Reconciled(opened, resolved, changed)


def resolve_left_cohort(
    engine: Engine, cohort: set[str], run_id: int, now: datetime | None = None, tenant: str | None = None
) -> int:
    """Resolve the open alerts of patients no longer in the cohort (past the look-back, or out of the group).

    Only this sweep's tenant's: another tenant's patients are not in this cohort because they are not on this server.
    """
    now = now or datetime.now(UTC)
    with Session(engine) as session, session.begin():
        mine = and_(Alert.state.in_(OPEN_STATES), tenant_is(Alert.tenant, tenant))
        patients = set(session.scalars(select(Alert.patient_id).where(mine).distinct()))
        gone = sorted(patients - cohort)
        total = 0
        for start in range(0, len(gone), 500):
            result = session.execute(
                update(Alert)
                .where(and_(Alert.patient_id.in_(gone[start : start + 500]), mine))
                .values(
                    state="resolved", resolved_run_id=run_id, resolved_at=now, resolution="left-cohort", updated_at=now
                )
            )
            total += int(getattr(result, "rowcount", 0) or 0)
        if total:
            session.execute(
                update(SweepRun).where(SweepRun.id == run_id).values(alerts_resolved=SweepRun.alerts_resolved + total)
            )
        return total


def acknowledge(
    engine: Engine, uid: str, by: str | None, now: datetime | None = None, *, scope: Scope = ALL_TENANTS
) -> AlertView | None:
    """Mark an open alert acknowledged. None when there is no such open alert in `scope` (another tenant's alert
    is answered exactly like one that does not exist)."""
    now = now or datetime.now(UTC)
    with Session(engine) as session, session.begin():
        wanted = and_(Alert.uid == uid, Alert.state.in_(OPEN_STATES), in_scope(Alert.tenant, scope))
        alert = session.scalars(select(Alert).where(wanted)).first()
        if alert is None:
            return None
        if alert.state == "new":
            alert.state = "acknowledged"
            alert.acknowledged_at = now
            alert.acknowledged_by = by
            alert.updated_at = now
        return _view(alert)


def alerts_for_worklist(
    engine: Engine, since_run_id: int, *, scope: Scope, since_by_tenant: Mapping[str, int] | None = None
) -> list[AlertView]:
    """Every open alert in `scope`, and those resolved in run `since_run_id` or later (so a worklist can show what
    went away). `since_by_tenant` (stored tenant → run id) measures each tenant against its own run instead; a
    tenant it does not name against `since_run_id`."""
    since: ColumnElement[int] | int = since_run_id
    if since_by_tenant:
        since = case(dict(since_by_tenant), value=Alert.tenant, else_=since_run_id)
    condition = and_(Alert.state.in_(OPEN_STATES) | (Alert.resolved_run_id >= since), in_scope(Alert.tenant, scope))
    with Session(engine) as session:
        return [_view(a) for a in session.scalars(select(Alert).where(condition).order_by(Alert.id))]


def tenant_alerts_of(engine: Engine, patient_id: str, tenant: str | None) -> list[AlertView]:
    """Every alert of one tenant's patient (None: the untenanted one), e.g. what a sweep writes back to that
    tenant's FHIR server: never another tenant's patient of the same id."""
    with Session(engine) as session:
        stmt = select(Alert).where(Alert.patient_id == patient_id, tenant_is(Alert.tenant, tenant)).order_by(Alert.id)
        return [_view(a) for a in session.scalars(stmt)]


def alerts_of(engine: Engine, patient_id: str, *, scope: Scope = ALL_TENANTS) -> list[AlertView]:
    with Session(engine) as session:
        stmt = select(Alert).where(Alert.patient_id == patient_id, in_scope(Alert.tenant, scope)).order_by(Alert.id)
        return [_view(a) for a in session.scalars(stmt)]
