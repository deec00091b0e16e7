"""`cds-cyto worklist`: the alerts of the last sweeps, most urgent first, with what the last sweep changed.

`--ack ID` acknowledges an alert: it stays on the list, marked acknowledged, while its recommendation keeps firing.
The shell is the operator's, on the database's own host: it sees every tenant's patients (`--tenant` narrows it).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

import orjson

from cds_cyto.cli import CliError

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    p = sub.add_parser("worklist", help="alerts from cohort sweeps, most urgent first, with what changed")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--database", metavar="URL", help="store URL (default $CDS_CYTO_DATABASE_URL)")
    p.add_argument("--ack", metavar="ALERT_ID", help="acknowledge this alert instead of listing")
    p.add_argument("--by", metavar="NAME", help="who acknowledges (default: the login name)")
    p.add_argument("--tenant", metavar="NAME", help="only this tenant's patients and alerts (default: every tenant)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cds_cyto.settings import Settings
    from cds_cyto.store import Store
    from cds_cyto.store.alerts import ALL_TENANTS, Scope, acknowledge
    from cds_cyto.sweep.worklist import build_worklist, render_csv, render_table

    url = args.database or Settings().database_url
    scope = ALL_TENANTS if args.tenant is None else Scope(args.tenant)
    store = Store(url)
    try:
        store.migrate()
        if args.ack:
            view = acknowledge(store.engine, args.ack, args.by or getpass.getuser(), scope=scope)
            if view is None:
                raise CliError(f"no open alert with id {args.ack}")
            print(f"alert {view.uid}: {view.state}")
            return 0
        worklist = build_worklist(store.engine, scope=scope)
    finally:
        store.dispose()
    if args.format == "json":
        sys.stdout.buffer.write(orjson.dumps(worklist.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    elif args.format == "csv":
        sys.stdout.write(render_csv(worklist))
    else:
        print(render_table(worklist))
    return 0
