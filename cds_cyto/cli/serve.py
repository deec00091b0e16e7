"""`cds-cyto serve`: the CDS Hooks service under uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from cds_cyto.cli import CliError
from cds_cyto.cli.store_open import shown_url, store_problem

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the CDS Hooks service (settings from CDS_CYTO_* environment variables)",
        description="Run the CDS Hooks service: discovery, the patient-view hook, feedback, rule pages, the worklist "
        "API and health checks. Settings come from CDS_CYTO_* environment variables (README, Configuration); a bad "
        "setting stops the start with one line and exit 2.",
    )
    p.add_argument("--host", help="bind address (default $CDS_CYTO_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default $CDS_CYTO_PORT or 8000)")
    p.add_argument(
        "--workers",
        type=int,
        help="worker processes (default $CDS_CYTO_WORKERS or 1); they share the database's token-replay store",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="local demo: auth disabled, the bundled synthetic cohort as FHIR source, evaluated as of its data cut",
    )
    p.add_argument(
        "--check", action="store_true", help="check the configuration and build the app, then exit (0 = would start)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from cds_cyto.app import create_app
    from cds_cyto.app.head_timeout import HeadTimeoutH11
    from cds_cyto.cds.auth import parse_trusted_issuers
    from cds_cyto.cds.header_limit import MAX_REQUEST_HEAD_BYTES
    from cds_cyto.cli.tenant_check import sweep_tenant_warning
    from cds_cyto.core.profile import ProfileError
    from cds_cyto.logs import configure_logging
    from cds_cyto.settings import Settings, describe_settings_error
    from cds_cyto.sweep.config import sweep_config
    from cds_cyto.sweep.scheduler import schedule_trigger

    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    if args.workers is not None:
        overrides["workers"] = args.workers
    if args.demo:
        overrides["demo"] = True
        overrides["demo_public_bind"] = bool(args.host)  # only a host given on the command line, not the env's
        overrides.setdefault("auth", "disabled")
        overrides.setdefault("as_of", os.environ.get("CDS_CYTO_AS_OF") or DEMO_AS_OF)
    try:
        settings = Settings(**overrides)
    except (ValidationError, SettingsError) as exc:
        raise CliError("configuration: " + describe_settings_error(exc)) from None
    if settings.auth == "required":  # checked here, not in Settings: sweeps and other commands need no issuers
        try:
            parse_trusted_issuers(settings.trusted_issuers)
        except ValueError as exc:
            raise CliError(
                f"configuration: CDS_CYTO_TRUSTED_ISSUERS: {exc} (auth is required; CDS_CYTO_AUTH=disabled is for"
                " local development)"
            ) from None
    sweeping = bool(settings.sweep_cron or settings.sweep_interval_minutes)  # a hook-only service needs no tenant
    if sweeping:
        # before anything is built or migrated: a sweep that cannot run is a configuration error
        try:
            schedule_trigger(settings)
        except ValueError as exc:
            raise CliError(f"configuration: CDS_CYTO_SWEEP_CRON: not a crontab line ({exc})") from None
        try:
            sweep_config(settings)
        except ValueError as exc:
            raise CliError(f"configuration: {exc}") from None
    if not args.check:
        _check_free(settings.host, settings.port)  # before the first log line, so this one is not lost among them
    configure_logging(settings.log_level)
    # the unset tenant matters only to a serve that sweeps; a tenant no issuer has is a mistake wherever it is set
    if (sweeping or settings.sweep_tenant) and (warning := sweep_tenant_warning(settings)):
        logging.getLogger("cds_cyto.cli").warning(warning)
    _check_database_url(settings.database_url)
    try:
        # Built here even for several workers: a bad configuration stops the start in one line, and the database is
        # migrated once, before the workers start together on it.
        app = create_app(settings)
    except ProfileError as exc:  # a bad site file or site model stops the start, said in one line
        raise CliError(f"configuration: {exc}") from None
    except SQLAlchemyError as exc:  # unreachable, refused, no such database: one line, never the password
        raise CliError(f"configuration: CDS_CYTO_DATABASE_URL: {store_problem(settings.database_url, exc)}") from None
    except ImportError as exc:  # e.g. postgresql+asyncpg without that driver installed
        raise CliError(f"configuration: CDS_CYTO_DATABASE_URL: no database driver {exc.name or ''} installed") from None
    if args.check:
        origins = ",".join(settings.cors_origins) or "-"
        where = f"{settings.host}:{settings.port}"
        print(
            f"configuration ok: {where} auth={settings.auth} demo={settings.demo} cors={origins}"
            f" workers={settings.workers}"
        )
        return 0
    if settings.workers == 1:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,  # oversized headers reach HeaderLimit's 431
            http=HeadTimeoutH11,  # a request head must arrive within the read timeout (slowloris)
        )
        return 0
    asyncio.run(app.state.runtime.aclose())  # this process only supervises; each worker builds its own app
    # Each worker is a new interpreter that reads its settings from the environment: the command line's choices
    # must be there too, or a worker would serve with other settings than the ones just checked.
    os.environ.update(as_environment(overrides))
    uvicorn.run(
        "cds_cyto.service:worker_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        http=HeadTimeoutH11,
    )
    return 0


def _check_free(host: str, port: int) -> None:
    """A port already taken stops the start in one line before any log line, not in uvicorn's log among them. The
    probe binds as uvicorn will (SO_REUSEADDR), so it refuses exactly what uvicorn would refuse."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise CliError(f"cannot bind {host}:{port}: {exc.strerror or exc} (check --host / CDS_CYTO_HOST)") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise CliError(
                f"port {port} on {host} is not available ({exc.strerror or exc}): choose another with --port, "
                "CDS_CYTO_PORT or `make run PORT=...`"
            ) from None


def as_environment(overrides: dict[str, Any]) -> dict[str, str]:
    """`Settings` field values as the CDS_CYTO_* variables that set them."""
    return {
        f"CDS_CYTO_{name.upper()}": (str(value).lower() if isinstance(value, bool) else str(value))
        for name, value in overrides.items()
    }


# The bundled cohort's data cut (fixtures/cohort/README.md): the demo evaluates as of that day so its cards do not
# go stale as the calendar moves on.
DEMO_AS_OF = "2026-11-20"


_SUPPORTED_STORES = ("sqlite", "postgresql")


def _check_database_url(url: str) -> None:
    """A URL of a database this service does not support (or no URL at all) stops the start in one line."""
    try:
        family = make_url(url).get_backend_name()
    except ArgumentError:
        family = None
    if family not in _SUPPORTED_STORES:
        raise CliError(
            "configuration: CDS_CYTO_DATABASE_URL: not a supported database URL: expected sqlite:///PATH or"
            f" postgresql://USER@HOST/DB (got {shown_url(url)})"
        )
