"""`cds-cyto serve`: the CDS Hooks service under uvicorn."""

from __future__ import annotations

import argparse
import os
from typing import Any

from pydantic import ValidationError

from cds_cyto.cli import CliError

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the CDS Hooks service (settings from CDS_CYTO_* environment variables)")
    p.add_argument("--host", help="bind address (default $CDS_CYTO_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default $CDS_CYTO_PORT or 8000)")
    p.add_argument(
        "--demo",
        action="store_true",
        help="local demo: auth disabled, the bundled synthetic cohort as FHIR source, evaluated as of its data cut",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from cds_cyto.cds.app import create_app
    from cds_cyto.logs import configure_logging
    from cds_cyto.profile import ProfileError
    from cds_cyto.settings import Settings

    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    if args.demo:
        overrides.setdefault("auth", "disabled")
        overrides.setdefault("as_of", os.environ.get("CDS_CYTO_AS_OF") or DEMO_AS_OF)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise CliError(
            "configuration: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except ProfileError as exc:  # a bad site file or site model stops the start, said in one line
        raise CliError(f"configuration: {exc}") from None
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


# The bundled cohort's data cut (fixtures/cohort/README.md): the demo evaluates as of that day so its cards do not
# go stale as the calendar moves on.
DEMO_AS_OF = "2026-11-20"
