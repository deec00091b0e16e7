"""`cds-cyto sweep`: assess the CAR-T cohort on a FHIR server and keep alerts for the worklist.

`--once` runs one sweep now; without it the sweep runs on the configured schedule (CDS_CYTO_SWEEP_INTERVAL_MINUTES
or CDS_CYTO_SWEEP_CRON) until interrupted. Other settings come from CDS_CYTO_* variables; flags override them.

Exit codes: 0 done, 1 done but some patients (or the cohort search) failed, 2 bad input, 3 another sweep holds the
lease, 130 interrupted (the run resumes next time).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from cds_cyto.cli import CliError
from cds_cyto.cli.common import add_site_argument, load_site_profile, parse_day

if TYPE_CHECKING:
    from cds_cyto.core.profile import Profile
    from cds_cyto.settings import Settings
    from cds_cyto.store import Store
    from cds_cyto.sweep import SweepConfig

__all__ = ["register", "run"]

EXIT_PARTIAL = 1
EXIT_BUSY = 3


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="assess the CAR-T cohort on a FHIR server; alerts go to the worklist",
        description="Assess every recent CAR-T patient on a FHIR server (incrementally: only what changed since the "
        "last sweep) and keep the worklist's alerts. Once with --once, else on the configured schedule.",
    )
    p.add_argument("--once", action="store_true", help="one sweep now (default: run on the configured schedule)")
    p.add_argument("--fhir", metavar="URL", help="FHIR server base URL (default $CDS_CYTO_FHIR_BASE_URL)")
    p.add_argument("--database", metavar="URL", help="store URL (default $CDS_CYTO_DATABASE_URL)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--since-days", type=_positive, metavar="N", help="cohort: a CAR-T infusion in the last N days")
    who.add_argument("--group", metavar="ID", help="cohort: the members of FHIR Group/ID")
    who.add_argument(
        "--ids",
        type=Path,
        metavar="FILE",
        help="cohort: exactly the patient ids in a file, one a line (as with any cohort, other patients' open alerts "
        "are resolved as left-cohort)",
    )
    p.add_argument("--full", action="store_true", help="refetch everything (sees deletions) instead of changes")
    p.add_argument("--concurrency", type=_positive, metavar="N", help="patients in flight (default 4)")
    p.add_argument("--write-back", action="store_true", help="PUT a RiskAssessment and Flags to the FHIR server")
    p.add_argument("--as-of", type=parse_day, metavar="DATE", help="assess as of this day (default: today, site zone)")
    p.add_argument("--lease-seconds", type=_positive, metavar="S", help="sweep lease lifetime (default 300)")
    p.add_argument(
        "--no-batch", action="store_true", help="ask the CapabilityStatement before using batch (default: use batch)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO (JSON lines on stderr)")
    add_site_argument(p)
    p.set_defaults(func=run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _settings(args: argparse.Namespace) -> Settings:
    from cds_cyto.settings import Settings

    overrides: dict[str, Any] = {}
    for flag, name in (
        ("fhir", "fhir_base_url"),
        ("database", "database_url"),
        ("since_days", "sweep_lookback_days"),
        ("group", "sweep_group_id"),
        ("concurrency", "sweep_concurrency"),
        ("as_of", "as_of"),
        ("lease_seconds", "sweep_lease_seconds"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides[name] = value
    if args.write_back:
        overrides["sweep_write_back"] = True
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise CliError(
            "configuration: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from cds_cyto.cli.tenant_check import sweep_tenant_warning
    from cds_cyto.logs import configure_logging
    from cds_cyto.store import Store
    from cds_cyto.sweep import CohortError, CohortQuery, read_ids_file, sweep_config

    settings = _settings(args)
    configure_logging("INFO" if args.verbose else "WARNING")
    profile = load_site_profile(args.site, args.site_model)
    try:
        ids = read_ids_file(args.ids) if args.ids else None
    except CohortError as exc:
        raise CliError(str(exc)) from None

    def adjust(config: SweepConfig) -> SweepConfig:
        changes: dict[str, Any] = {"full": args.full}
        if ids is not None:
            changes["cohort"] = CohortQuery(patient_ids=ids)
        if args.no_batch:
            changes["use_batch"] = None
        return replace(config, **changes)

    try:
        adjust(sweep_config(settings))  # a missing FHIR URL is a usage error: say so before anything runs
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if warning := sweep_tenant_warning(settings):
        logging.getLogger("cds_cyto.cli").warning(warning)
    store = Store(settings.database_url)
    try:
        store.migrate()
        if args.once:
            return _once(settings, profile, store, adjust(sweep_config(settings)), progress=not args.no_progress)
        return _scheduled(settings, profile, store, adjust)
    except SQLAlchemyError as exc:
        # The type only: a driver's message quotes SQL parameters, patient ids among them.
        raise CliError(f"database error ({type(exc).__name__}); a sweep resumes where it stopped") from None
    finally:
        store.dispose()


def _once(settings: Settings, profile: Profile, store: Store, config: SweepConfig, *, progress: bool) -> int:
    from cds_cyto.sweep import backend_auth, run_sweep

    try:
        auth = backend_auth(settings, config.write_back)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    bar = _Progress(enabled=progress)
    try:
        report = asyncio.run(run_sweep(config, store, profile, auth=auth, on_cohort=bar.cohort, on_patient=bar.patient))
    finally:
        bar.close()
    print(report.summary())
    if report.status == "skipped":
        return EXIT_BUSY
    if report.status == "failed" or report.failed:
        return EXIT_PARTIAL
    return 0


def _scheduled(settings: Settings, profile: Profile, store: Store, adjust: Callable[[SweepConfig], SweepConfig]) -> int:
    from cds_cyto.sweep.scheduler import SweepScheduler

    try:
        scheduler = SweepScheduler(settings, profile, store, blocking=True, configure=adjust)
    except ValueError as exc:
        raise CliError(f"{exc} (or use --once)") from None
    print("sweeping on schedule; Ctrl-C stops", file=sys.stderr)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown()
    return 0


class _Progress:
    """A tqdm bar on stderr (only on a terminal): patients done of the cohort, with counts."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.counts: Counter[str] = Counter()
        self.bar: Any = None

    def cohort(self, size: int, already_done: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        # disable=None: off when stderr is not a terminal (logs, cron mails)
        self.bar = tqdm(total=size, initial=already_done, unit="patient", file=sys.stderr, disable=None)

    def patient(self, outcome: str) -> None:
        self.counts[outcome] += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(self.counts, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
