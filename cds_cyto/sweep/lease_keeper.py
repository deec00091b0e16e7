"""The sweep lease held for the length of a sweep: taken once, renewed in the background, released at the end.

Renewal runs every third of the lease's life, so one missed renewal still leaves time for the next. If a renewal
finds the lease gone (this process stalled past its expiry and another sweeper took over), `lost` is set and the
sweep stops starting patients; the unique open-alert index keeps the overlap harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cds_cyto.store import lease

__all__ = ["SWEEP_LEASE", "SweepLease"]

SWEEP_LEASE = "cohort-sweep"
log = logging.getLogger("cds_cyto.sweep")


class SweepLease:
    def __init__(self, engine: Engine, holder: str, seconds: float, name: str = SWEEP_LEASE) -> None:
        self.engine = engine
        self.holder = holder
        self.name = name
        self.ttl = timedelta(seconds=seconds)
        self.lost = False

    def acquire(self) -> bool:
        return lease.acquire(self.engine, self.name, self.holder, self.ttl)

    def release(self) -> None:
        lease.release(self.engine, self.name, self.holder)

    @asynccontextmanager
    async def kept(self) -> AsyncIterator[SweepLease]:
        """Renew in the background while the body runs."""
        task = asyncio.create_task(self._renew_forever())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _renew_forever(self) -> None:
        interval = self.ttl.total_seconds() / 3
        while not self.lost:
            await asyncio.sleep(interval)
            try:
                still_ours = await asyncio.to_thread(lease.renew, self.engine, self.name, self.holder, self.ttl)
            except SQLAlchemyError:
                log.warning("sweep lease: renewal failed; will retry")
                continue
            if not still_ours:
                self.lost = True
                log.error("sweep lease lost: another sweeper holds it; stopping after the patients in flight")
