"""Sweep run bookkeeping: start, find the unfinished one to resume, count, finish."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from sqlalchemy import Engine, Select, func, insert, select, update
from sqlalchemy.orm import Session

from cds_cyto.store.tables import SweepRun

NO_TENANT = ""  # as in store.alerts: swept with no tenant configured, or before runs had one

__all__ = [
    "RunInfo",
    "RunStatus",
    "SweepMode",
    "adopt_run",
    "count_failure",
    "finish_run",
    "get_run",
    "last_completed_run",
    "last_completed_runs",
    "recent_runs",
    "set_cohort_size",
    "start_run",
    "unfinished_run",
]

SweepMode = Literal["incremental", "full"]
RunStatus = Literal["running", "completed", "failed", "abandoned"]


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    mode: str
    as_of: date
    holder: str
    cohort_size: int
    evaluated: int
    unchanged: int
    failed: int
    resources_fetched: int
    alerts_opened: int
    alerts_resolved: int
    note: str | None
    tenant: str | None = None  # None: swept with no tenant

    @property
    def done(self) -> int:
        return self.evaluated + self.unchanged


def _info(row: SweepRun) -> RunInfo:
    return RunInfo(
        row.id,
        row.started_at,
        row.finished_at,
        row.status,
        row.mode,
        row.as_of,
        row.holder,
        row.cohort_size,
        row.evaluated,
        row.unchanged,
        row.failed,
        row.resources_fetched,
        row.alerts_opened,
        row.alerts_resolved,
        row.note,
        row.tenant or None,
    )


def _one(engine: Engine, stmt: Select[SweepRun]) -> RunInfo | None:
    with Session(engine) as session:
        row = session.scalars(stmt.limit(1)).first()
        return None if row is None else _info(row)


def start_run(
    engine: Engine, mode: SweepMode, as_of: date, holder: str, now: datetime | None = None, tenant: str | None = None
) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            insert(SweepRun)
            .values(
                tenant=tenant or NO_TENANT,
                started_at=now or datetime.now(UTC),
                status="running",
                mode=mode,
                as_of=as_of,
                holder=holder,
                cohort_size=0,
                evaluated=0,
                unchanged=0,
                failed=0,
                resources_fetched=0,
                alerts_opened=0,
                alerts_resolved=0,
            )
            .returning(SweepRun.id)
        )
        return int(result.scalar_one())


def unfinished_run(engine: Engine, tenant: str | None = None) -> RunInfo | None:
    """The tenant's newest run still marked running (another tenant's crashed run is that tenant's to resume). Call
    only while holding the sweep lease: then its sweeper is gone."""
    mine = (SweepRun.status == "running") & (SweepRun.tenant == (tenant or NO_TENANT))
    return _one(engine, select(SweepRun).where(mine).order_by(SweepRun.id.desc()))


def adopt_run(engine: Engine, run_id: int, holder: str) -> None:
    """Take over a crashed run. Its failures are forgotten: those patients are not done and will be tried again."""
    with engine.begin() as conn:
        conn.execute(update(SweepRun).where(SweepRun.id == run_id).values(holder=holder, failed=0))


def set_cohort_size(engine: Engine, run_id: int, size: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(SweepRun).where(SweepRun.id == run_id).values(cohort_size=size))


def count_failure(engine: Engine, run_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(SweepRun).where(SweepRun.id == run_id).values(failed=SweepRun.failed + 1))


def finish_run(
    engine: Engine,
    run_id: int,
    status: RunStatus,
    *,
    note: str | None = None,
    alerts_resolved: int = 0,
    now: datetime | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(SweepRun)
            .where(SweepRun.id == run_id)
            .values(
                status=status,
                finished_at=now or datetime.now(UTC),
                note=note,
                alerts_resolved=SweepRun.alerts_resolved + alerts_resolved,
            )
        )


def get_run(engine: Engine, run_id: int) -> RunInfo | None:
    return _one(engine, select(SweepRun).where(SweepRun.id == run_id))


def last_completed_run(engine: Engine, tenant: str | None = None) -> RunInfo | None:
    """The tenant's last completed sweep (None: the untenanted sweeps'); never another tenant's."""
    mine = (SweepRun.status == "completed") & (SweepRun.tenant == (tenant or NO_TENANT))
    return _one(engine, select(SweepRun).where(mine).order_by(SweepRun.id.desc()))


def last_completed_runs(engine: Engine) -> dict[str, RunInfo]:
    """Every tenant's last completed sweep, by stored tenant ("": untenanted), for a reader of every tenant."""
    newest = (
        select(func.max(SweepRun.id)).where(SweepRun.status == "completed").group_by(SweepRun.tenant).scalar_subquery()
    )
    with Session(engine) as session:
        return {r.tenant: _info(r) for r in session.scalars(select(SweepRun).where(SweepRun.id.in_(newest)))}


def recent_runs(
    engine: Engine, limit: int = 10, *, tenant: str | None = None, any_tenant: bool = True
) -> list[RunInfo]:
    """The newest runs: of every tenant, or (`any_tenant=False`) of `tenant` only (None: the untenanted)."""
    stmt = select(SweepRun)
    if not any_tenant:
        stmt = stmt.where(SweepRun.tenant == (tenant or NO_TENANT))
    with Session(engine) as session:
        return [_info(r) for r in session.scalars(stmt.order_by(SweepRun.id.desc()).limit(limit))]
