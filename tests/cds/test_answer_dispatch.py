"""Which large calls the answer pool lets the service answer in-thread: one at a time, only while the pool is idle,
and none above `inline_max_bytes` (0: none at all). No process is started: the choice is made before any."""

from __future__ import annotations

import pytest

from cds_cyto.cds.answer_pool import AnswerPool
from cds_cyto.settings import Settings


def _pool(inline_max_bytes: int) -> AnswerPool:
    return AnswerPool(
        Settings(auth="disabled"), processes=1, queue_limit=4, min_bytes=10, inline_max_bytes=inline_max_bytes
    )


@pytest.mark.parametrize(
    ("size", "limit", "inline"),
    [(999, 1000, True), (1000, 1000, True), (1001, 1000, False), (10, 0, False), (1, 0, False)],
)
def test_the_size_bound(size: int, limit: int, inline: bool) -> None:
    assert _pool(limit).claim_inline(size) is inline


def test_one_in_thread_at_a_time_and_again_once_it_is_done() -> None:
    pool = _pool(1000)
    assert pool.claim_inline(500)
    assert not pool.claim_inline(500), "a second overlapping call goes to the pool"
    pool.release_inline()
    assert pool.claim_inline(500)


def test_not_while_the_pool_has_a_call() -> None:
    pool = _pool(1000)
    pool._in_pool = 1  # a call running or waiting in a worker process
    assert not pool.claim_inline(500)
    pool._in_pool = 0
    assert pool.claim_inline(500)
