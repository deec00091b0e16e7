"""Backoff for a patient a sweep could not assess: 15 min, 30 min, 1 h, … doubling up to one day.

A patient whose data breaks the reader breaks it again on the next sweep; the backoff keeps it from costing every
sweep a fetch, while a passing fault (a server's 500 for one patient) is retried within the quarter hour.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["FIRST_RETRY", "LONGEST_RETRY", "backoff"]

FIRST_RETRY = timedelta(minutes=15)
LONGEST_RETRY = timedelta(hours=24)


def backoff(failures: int) -> timedelta:
    """How long to wait after the `failures`-th consecutive failure (1 = the first)."""
    if failures < 1:
        return timedelta(0)
    # capped before the power, so a patient failing for years does not overflow
    wait: timedelta = FIRST_RETRY * 2 ** min(failures - 1, 16)
    return min(wait, LONGEST_RETRY)
