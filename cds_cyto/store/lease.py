"""A database lease: at most one holder at a time, across processes and replicas.

Taken with one conditional UPDATE (`… WHERE name = ? AND (expires_at < now OR holder = me)`): the database makes
the check and the write one atomic step, so of several replicas that try together exactly one sees a changed row.
Renewal is the same UPDATE conditioned on still being the holder; a holder that could not renew in time has lost
the lease and must stop. Instants come from the callers' clocks (UTC); the TTL must dwarf the clock skew between
replicas.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cds_cyto.store.tables import Lease

__all__ = ["LeaseInfo", "acquire", "holder_name", "read", "release", "renew"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    name: str
    holder: str | None
    acquired_at: datetime | None
    expires_at: datetime


def holder_name(tag: str) -> str:
    """host:pid:tag — the host and pid let a restarted process on the same host see that the holder is dead."""
    return f"{socket.gethostname()}:{os.getpid()}:{tag}"


def _ensure_row(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        if conn.execute(select(Lease.name).where(Lease.name == name)).first() is not None:
            return
    try:
        with engine.begin() as conn:
            conn.execute(insert(Lease).values(name=name, holder=None, acquired_at=None, expires_at=_EPOCH))
    except IntegrityError:
        pass  # another process created it first: fine, the UPDATE below decides


def acquire(engine: Engine, name: str, holder: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Take the lease if it is free, expired, or already ours (then it is extended). True when we hold it."""
    now = now or datetime.now(UTC)
    _ensure_row(engine, name)
    with engine.begin() as conn:
        result = conn.execute(
            update(Lease)
            .where(and_(Lease.name == name, or_(Lease.expires_at < now, Lease.holder == holder)))
            .values(holder=holder, acquired_at=now, expires_at=now + ttl)
        )
        if result.rowcount == 1:
            return True
    stale = _dead_local_holder(engine, name)
    if stale is None:
        return False
    # The holder was a process on this host that no longer exists (killed): take over from exactly that holder.
    with engine.begin() as conn:
        result = conn.execute(
            update(Lease)
            .where(and_(Lease.name == name, Lease.holder == stale))
            .values(holder=holder, acquired_at=now, expires_at=now + ttl)
        )
        return result.rowcount == 1


def renew(engine: Engine, name: str, holder: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Extend our lease. False: it is no longer ours (expired and taken, or released)."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        result = conn.execute(
            update(Lease)
            # Still the holder means nobody took it, even if we renew late: extending is safe.
            .where(and_(Lease.name == name, Lease.holder == holder))
            .values(expires_at=now + ttl)
        )
        return result.rowcount == 1


def release(engine: Engine, name: str, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(Lease).where(and_(Lease.name == name, Lease.holder == holder)).values(holder=None, expires_at=_EPOCH)
        )


def read(engine: Engine, name: str) -> LeaseInfo | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(Lease.name, Lease.holder, Lease.acquired_at, Lease.expires_at).where(Lease.name == name)
        ).first()
    return None if row is None else LeaseInfo(row[0], row[1], row[2], row[3])


def _dead_local_holder(engine: Engine, name: str) -> str | None:
    info = read(engine, name)
    if info is None or info.holder is None:
        return None
    host, _, rest = info.holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return None  # another holder in this very process (a second sweeper object): alive by definition
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return info.holder
    except PermissionError:
        return None  # exists, owned by someone else
    return None
