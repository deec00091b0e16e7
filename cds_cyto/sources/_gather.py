"""Run awaitables concurrently, at most `limit` at a time, all-or-nothing."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterable
from typing import TypeVar

from ._errors import SourceError

__all__ = ["gather_bounded"]

T = TypeVar("T")


async def gather_bounded(awaitables: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """Results in order. On the first failure the rest are cancelled and that failure is raised as itself
    (a SourceError preferred), not wrapped in an ExceptionGroup, so callers see what a sequential loop raises."""
    gate = asyncio.Semaphore(max(1, limit))
    items = list(awaitables)

    async def gated(awaitable: Awaitable[T]) -> T:
        async with gate:
            return await awaitable

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(gated(a)) for a in items]
    except ExceptionGroup as failed:
        leaves = _leaves(failed)
        raise next((e for e in leaves if isinstance(e, SourceError)), leaves[0]) from None
    finally:
        # Cancelled before they began (a failure or a deadline): close them, or each is "never awaited".
        for a in items:
            if inspect.iscoroutine(a) and inspect.getcoroutinestate(a) == inspect.CORO_CREATED:
                a.close()
    return [task.result() for task in tasks]


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out
