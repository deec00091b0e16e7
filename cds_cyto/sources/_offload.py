"""CPU-heavy work (JSON parsing, record extraction) on a worker thread, off the event loop.

A 30 MB body parsed on the loop stalls every other request, `/healthz` included, for the whole parse. Here it
waits for the worker thread instead; small inputs stay inline, where a thread hop costs more than
the work. The pool is process-wide and bounded, so a burst of large answers queues rather than multiplying threads.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["INLINE_BYTES", "THREADS", "offload"]

T = TypeVar("T")

# One: orjson and msgspec hold the GIL while they parse, so a second thread adds no throughput, only a second
# contender the event loop must wait for (bench/bench_hostile.py: /healthz p99 under load about half with one).
THREADS = 1
INLINE_BYTES = 256 * 1024  # below this, parsing takes well under a millisecond

_executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="cds-cyto-parse")


async def offload(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` on a worker thread; cancelling the caller abandons the wait, the thread finishes its item."""
    context = contextvars.copy_context()  # the request id and the deadline travel with the work, as in to_thread
    return await asyncio.get_running_loop().run_in_executor(_executor, context.run, fn, *args)
