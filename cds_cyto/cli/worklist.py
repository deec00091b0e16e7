"""`cds-cyto worklist`: the alerts of the last sweeps, most urgent first, with what the last sweep changed.

`--ack ID` acknowledges an alert: it stays on the list, marked acknowledged, while its recommendation keeps firing.
The shell is the operator's, on the database's own host: it sees every tenant's patients (`--tenant` narrows it).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from cds_cyto.cli import CliError

if TYPE_CHECKING:
    from cds_cyto.store.runs import RunInfo

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "worklist",
        help="alerts from cohort sweeps, most urgent first, with what changed",
        description="The CAR-T team's worklist from the last sweeps: open alerts most urgent first, what changed "
        "since the last sweep, the patients a sweep could not assess, and what the list rests on.",
    )
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format (default table)")
    p.add_argument("--database", metavar="URL", help="store URL (default $CDS_CYTO_DATABASE_URL)")
    p.add_argument("--ack", metavar="ALERT_ID", help="acknowledge this alert instead of listing")
    p.add_argument("--by", metavar="NAME", help="who acknowledges (default: the login name)")
    p.add_argument("--tenant", metavar="NAME", help="only this tenant's patients and alerts (default: every tenant)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cds_cyto.cli.store_open import open_existing_store
    from cds_cyto.settings import Settings
    from cds_cyto.store.alerts import ALL_TENANTS, Scope, acknowledge
    from cds_cyto.store.runs import recent_runs
    from cds_cyto.sweep.worklist import build_worklist, render_csv, render_table

    url = args.database or Settings().database_url
    scope = ALL_TENANTS if args.tenant is None else Scope(args.tenant)
    store = open_existing_store(url)
    try:
        if args.ack:
            view = acknowledge(store.engine, args.ack, args.by or getpass.getuser(), scope=scope)
            if view is None:
                raise CliError(f"no open alert with id {args.ack}")
            print(f"alert {view.uid}: {view.state}")
            return 0
        worklist = build_worklist(store.engine, scope=scope)
        # --tenant: that tenant's newest sweep, never another tenant's (as the worklist's own since_run)
        newest = next(iter(recent_runs(store.engine, 1, tenant=args.tenant, any_tenant=args.tenant is None)), None)
    finally:
        store.dispose()
    if args.format == "json":
        out = worklist.to_json() | {"last_sweep": None if newest is None else _run_json(newest)}
        sys.stdout.buffer.write(orjson.dumps(out, option=orjson.OPT_INDENT_2) + b"\n")
    elif args.format == "csv":
        sys.stdout.write(render_csv(worklist))
        if newest is None or newest.status != "completed":
            print(sweep_status(newest, empty=False), file=sys.stderr)  # the CSV stays a table; the truth goes beside
    elif not worklist.rows and not worklist.failed:
        print(sweep_status(newest, empty=True))
    else:
        status = sweep_status(newest, empty=False)
        print(render_table(worklist) if not status else status + "\n" + render_table(worklist))
    return 0


def sweep_status(run: RunInfo | None, *, empty: bool) -> str:
    """What the worklist rests on, in one line: never "nothing to review" when no sweep looked, or the last failed.
    Empty when the newest sweep completed and there are rows (the table's head then names it)."""
    if run is None:
        return "No sweep has run yet: `cds-cyto sweep` (or a schedule in `serve`) fills the worklist."
    started, finished, note = _when(run.started_at), _when(run.finished_at), run.note or "no reason recorded"
    if run.status == "failed":
        return f"The last sweep (#{run.id}, started {started}) failed at {finished}: {note}."
    if run.status == "running":
        return f"A sweep (#{run.id}) is running since {started}; the list is from the sweep before it."
    if run.status == "abandoned":
        return f"The last sweep (#{run.id}, started {started}) was abandoned: {note}."
    if empty:
        return (
            f"Nothing to review (last sweep #{run.id} as of {run.as_of.isoformat()}, finished {finished}, "
            f"{run.cohort_size} patient(s), {run.failed} not assessed)."
        )
    return ""


def _when(moment: datetime | None) -> str:
    return "an unknown time" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _run_json(run: RunInfo) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "as_of": run.as_of.isoformat(),
        "started_at": run.started_at.isoformat(),
        "finished_at": None if run.finished_at is None else run.finished_at.isoformat(),
        "cohort_size": run.cohort_size,
        "failed": run.failed,
        "note": run.note,
    }
