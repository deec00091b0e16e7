"""Scheduled sweeps (APScheduler 3): an interval or a crontab line from settings, one sweep at a time.

Inside `serve` the job runs on a background thread with its own event loop, so a sweep never stalls the CDS Hooks
requests on the service's loop. `cds-cyto sweep` without `--once` runs the same job in the foreground. Several
replicas may all schedule it: the database lease lets one sweep at a time, and the others skip that turn.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from cds_cyto.core.profile import Profile
from cds_cyto.settings import Settings
from cds_cyto.store import Store
from cds_cyto.sweep.config import SweepConfig, backend_auth, sweep_config
from cds_cyto.sweep.runner import SweepReport, run_sweep

__all__ = ["SweepScheduler", "schedule_trigger"]

log = logging.getLogger("cds_cyto.sweep")
JOB_ID = "cohort-sweep"


def schedule_trigger(settings: Settings) -> BaseTrigger | None:
    """The configured schedule, or None when sweeps are not scheduled. A bad crontab line raises ValueError."""
    zone = ZoneInfo(settings.timezone)
    if settings.sweep_cron:
        return CronTrigger.from_crontab(settings.sweep_cron, timezone=zone)
    if settings.sweep_interval_minutes:
        return IntervalTrigger(minutes=settings.sweep_interval_minutes, timezone=zone)
    return None


class SweepScheduler:
    """Runs a sweep on the settings' schedule. `configure` may adjust each run's config (the CLI's flags)."""

    def __init__(
        self,
        settings: Settings,
        profile: Profile,
        store: Store,
        *,
        blocking: bool = False,
        configure: Callable[[SweepConfig], SweepConfig] | None = None,
    ) -> None:
        trigger = schedule_trigger(settings)
        if trigger is None:
            raise ValueError("no sweep schedule: set CDS_CYTO_SWEEP_INTERVAL_MINUTES or CDS_CYTO_SWEEP_CRON")
        sweep_config(settings)  # fail now, not at the first run, when no FHIR server is configured
        self.settings = settings
        self.profile = profile
        self.store = store
        self.configure = configure
        self.stop = threading.Event()
        self.last_report: SweepReport | None = None
        scheduler_type: type[BaseScheduler] = BlockingScheduler if blocking else BackgroundScheduler
        self.scheduler = scheduler_type(
            timezone=ZoneInfo(settings.timezone),
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            # a sweep that overruns its slot is not queued twice, and one missed while the service was busy runs
            # once when it can
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 3600},
        )
        self.scheduler.add_job(self.run_once, trigger, id=JOB_ID, name="cohort sweep")

    def start(self) -> None:
        """Background: returns at once. Blocking: runs until interrupted."""
        log.info("sweep schedule started")
        self.scheduler.start()

    def shutdown(self) -> None:
        """Ask a running sweep to stop after its patients in flight (it resumes next time), then stop."""
        self.stop.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def run_once(self) -> SweepReport | None:
        config = sweep_config(self.settings)  # the door: today's date is read now, per run
        if self.configure is not None:
            config = self.configure(config)
        try:
            auth = backend_auth(self.settings, config.write_back)
            report = asyncio.run(run_sweep(config, self.store, self.profile, auth=auth, stop=self.stop))
        except Exception as exc:  # the scheduler must survive a failed run; the next one resumes it
            log.error("scheduled sweep failed", extra={"error": type(exc).__name__})
            return None
        self.last_report = report
        return report
