"""`cds-cyto feedback`: what clinicians did with the cards (from the service's store)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from cds_cyto.cli import CliError

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "feedback",
        help="list CDS Hooks feedback received by the service",
        description="List what clinicians did with the cards (CDS Hooks feedback: accepted, overridden and why), "
        "newest first, from the service's store.",
    )
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N entries, newest first (default 50)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.add_argument(
        "--database",
        "--database-url",  # the older name, kept: one vocabulary with sweep and worklist is --database
        dest="database",
        metavar="URL",
        help="store URL (default $CDS_CYTO_DATABASE_URL or the service's SQLite file)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from cds_cyto.cli.store_open import open_existing_store, shown_url
    from cds_cyto.settings import Settings

    url = args.database or Settings().database_url
    store = open_existing_store(url)
    try:
        rows = store.feedback(args.limit)
    except SQLAlchemyError as exc:
        raise CliError(f"cannot read feedback from {shown_url(url)} ({type(exc).__name__})") from None
    finally:
        store.dispose()
    if args.format == "json":
        payload = [
            {
                "service": r.service_id,
                "card": r.card_uuid,
                "outcome": r.outcome,
                "accepted_suggestions": r.accepted_suggestions,
                "override_reason": r.override_reason,
                "user_comment": r.user_comment,
                "outcome_timestamp": r.outcome_timestamp.isoformat(),
                "client": r.client,
            }
            for r in rows
        ]
        sys.stdout.buffer.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    if not rows:
        print("no feedback yet")
        return 0
    print(f"{'received':20} {'service':18} {'outcome':10} {'card':36}  reason")
    for r in rows:
        reason = (r.override_reason or {}).get("code", "") if r.outcome == "overridden" else ""
        print(f"{r.outcome_timestamp:%Y-%m-%d %H:%M:%S} {r.service_id:18} {r.outcome:10} {r.card_uuid:36}  {reason}")
    return 0
