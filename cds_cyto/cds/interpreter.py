"""Interpreter settings for a service whose event loop must keep answering while worker threads compute.

Parsing and evaluation run on a worker thread (`sources._offload`), but they hold the GIL: each time the event loop
wakes (a socket is ready) it waits for the worker to hand the GIL over — up to the switch interval, 5 ms by default,
several times per request. And the cyclic garbage collector's full collections, triggered by the allocation-heavy
reading of a large prefetch, stop every thread while they walk the heap. Measured with bench/bench_hostile.py
(full-prefetch calls, four at a time): `/healthz` p99 120-260 ms with the defaults, 40-70 ms with both changes.
"""

from __future__ import annotations

import gc
import sys

__all__ = ["tune_for_latency"]

SWITCH_INTERVAL_S = 0.001
GC_THRESHOLDS = (50_000, 20, 100)  # young collections every 50k allocations, full ones far rarer


def tune_for_latency() -> None:
    """Set once when the app is built; the objects built so far (profile, services) leave the collector's walk."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.set_threshold(*GC_THRESHOLDS)
    gc.collect()
    gc.freeze()
