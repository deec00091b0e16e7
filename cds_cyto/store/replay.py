"""The token-replay store shared by every worker and replica: one `token_replay` row per accepted client JWT.

A token's first use inserts the row `sha256(iss NUL jti)` → `expires_at` (its exp + leeway); a second use finds the
row and is a replay. The database makes "is it there?" and "put it there" one atomic step (an upsert), so of two
workers or replicas that see the same token together exactly one wins. A row whose token has expired is dead: it is
overwritten by a new use of the same key and purged at most every `purge_interval_s` by whichever process comes
first, so the table holds only the tokens still live (and those dead for less than `purge_grace_s`) and is never
"full". The grace is for clocks: a replica whose clock runs ahead must not delete a row that one whose clock is
right still needs to refuse a replay.

Blocking database calls run in a worker thread: the event loop keeps serving while SQLite waits on its lock.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime

from sqlalchemy import Engine, Executable, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from cds_cyto.store.tables import TokenReplay

__all__ = ["DatabaseReplayStore", "replay_key"]

_DIALECTS = ("sqlite", "postgresql")


def replay_key(iss: str, jti: str) -> str:
    """The row key: a hash, so no issuer or token id is stored as written, and any length fits 64 characters."""
    return hashlib.sha256(iss.encode() + b"\0" + jti.encode()).hexdigest()


def _instant(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _claim(dialect: str, key: str, until: datetime, now: datetime) -> Executable:
    """Insert the row; on a live one change nothing (no row returned: a replay); a dead one (its token expired, not yet
    purged) is taken over like a new row. One statement: atomic against every other worker and replica."""
    values = {"key": key, "expires_at": until}
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(TokenReplay).values(values)
    return stmt.on_conflict_do_update(
        index_elements=[TokenReplay.key],
        set_={"expires_at": stmt.excluded.expires_at},
        where=TokenReplay.expires_at <= now,
    ).returning(TokenReplay.key)


class DatabaseReplayStore:
    """`first_use(iss, jti, until, now)`: True the first time a live token is seen, by any process on this database."""

    def __init__(self, engine: Engine, *, purge_interval_s: float = 60.0, purge_grace_s: float = 120.0) -> None:
        if engine.dialect.name not in _DIALECTS:
            raise ValueError(f"the token-replay store needs SQLite or PostgreSQL, not {engine.dialect.name}")
        self._engine = engine
        self._purge_interval_s = purge_interval_s
        self._purge_grace_s = purge_grace_s
        self._next_purge = float("-inf")  # the first use purges what a previous run left behind

    async def first_use(self, iss: str, jti: str, until: float, now: float) -> bool:
        return await asyncio.to_thread(self.first_use_sync, iss, jti, until, now)

    def first_use_sync(self, iss: str, jti: str, until: float, now: float) -> bool:
        if now >= self._next_purge:
            self._next_purge = now + self._purge_interval_s
            self.purge(now)
        stmt = _claim(self._engine.dialect.name, replay_key(iss, jti), _instant(until), _instant(now))
        with self._engine.begin() as conn:
            # RETURNING, not rowcount: psycopg reports no rowcount (-1) for this upsert.
            return conn.execute(stmt).first() is not None

    def purge(self, now: float) -> int:
        """Delete the rows whose token expired `purge_grace_s` ago or more; how many went. One indexed range delete."""
        dead = _instant(now - self._purge_grace_s)
        with self._engine.begin() as conn:
            return conn.execute(delete(TokenReplay).where(TokenReplay.expires_at <= dead)).rowcount

    def count(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(TokenReplay)).scalar_one()
