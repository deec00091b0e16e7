"""The sweep lease: one holder at a time, taken atomically, renewed, released, and recoverable after a crash."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from datetime import UTC, datetime, timedelta

from cds_cyto.store import Store
from cds_cyto.store import lease as leases

TTL = timedelta(seconds=60)
T0 = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)


def test_one_holder_until_expiry(store: Store) -> None:
    e = store.engine
    assert leases.acquire(e, "sweep", "a", TTL, now=T0)
    assert not leases.acquire(e, "sweep", "b", TTL, now=T0 + timedelta(seconds=30))
    assert leases.acquire(e, "sweep", "a", TTL, now=T0 + timedelta(seconds=30)), "the holder may extend"
    assert leases.renew(e, "sweep", "a", TTL, now=T0 + timedelta(seconds=80))
    assert not leases.acquire(e, "sweep", "b", TTL, now=T0 + timedelta(seconds=120)), "renewed until 140 s"
    assert leases.acquire(e, "sweep", "b", TTL, now=T0 + timedelta(seconds=141)), "expired: b takes it"
    assert not leases.renew(e, "sweep", "a", TTL, now=T0 + timedelta(seconds=142)), "a has lost it"
    info = leases.read(e, "sweep")
    assert info is not None and info.holder == "b" and info.expires_at == T0 + timedelta(seconds=201)


def test_release_frees_it_at_once(store: Store) -> None:
    e = store.engine
    assert leases.acquire(e, "sweep", "a", TTL, now=T0)
    leases.release(e, "sweep", "b")  # not b's to release
    assert not leases.acquire(e, "sweep", "b", TTL, now=T0)
    leases.release(e, "sweep", "a")
    assert leases.acquire(e, "sweep", "b", TTL, now=T0)


def test_of_many_concurrent_takers_exactly_one_wins(store: Store, store_url: str) -> None:
    takers = 8
    stores = [Store(store_url) for _ in range(takers)]
    start = threading.Barrier(takers)
    won: list[str] = []
    errors: list[BaseException] = []

    def take(i: int) -> None:
        try:
            start.wait()
            if leases.acquire(stores[i].engine, "sweep", f"holder-{i}", TTL):
                won.append(f"holder-{i}")
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(takers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in stores:
        s.dispose()
    assert errors == []
    assert len(won) == 1
    info = leases.read(store.engine, "sweep")
    assert info is not None and info.holder == won[0]


def test_a_dead_holder_on_this_host_is_replaced_at_once(store: Store) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: its pid names no process now
    e = store.engine
    host = socket.gethostname()
    assert leases.acquire(e, "sweep", f"{host}:{dead.pid}:x", TTL)
    assert leases.acquire(e, "sweep", f"{host}:{os.getpid()}:y", TTL), "the holder's process is gone"


def test_a_live_holder_is_respected(store: Store) -> None:
    alive = subprocess.Popen(["sleep", "30"])
    try:
        e = store.engine
        host = socket.gethostname()
        assert leases.acquire(e, "sweep", f"{host}:{alive.pid}:x", TTL)
        assert not leases.acquire(e, "sweep", f"{host}:{os.getpid()}:y", TTL)
        assert leases.acquire(e, "sweep", f"elsewhere:{alive.pid}:x", TTL) is False
    finally:
        alive.kill()
        alive.wait()
