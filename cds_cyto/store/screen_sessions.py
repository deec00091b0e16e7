"""The screen's sealed rows (table `screen_session`): put one, take one (once, atomically), read one, drop one,
purge the expired. What a row holds is the caller's ciphertext; this module never sees a secret.

Taking a launch is one `DELETE … RETURNING`: of two workers that receive the same callback, exactly one gets it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, select

from cds_cyto.store.screen_tables import ScreenSession

__all__ = ["count_live", "drop", "purge_expired", "put", "read", "take"]


def put(engine: Engine, key: str, kind: str, sealed: bytes, expires_at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(insert(ScreenSession).values(key=key, kind=kind, sealed=sealed, expires_at=expires_at))


def read(engine: Engine, key: str, kind: str, now: datetime) -> tuple[bytes, datetime] | None:
    """The live row's ciphertext and expiry; None when there is none or it has expired."""
    stmt = select(ScreenSession.sealed, ScreenSession.expires_at).where(
        ScreenSession.key == key, ScreenSession.kind == kind, ScreenSession.expires_at > now
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    return None if row is None else (bytes(row[0]), row[1])


def take(engine: Engine, key: str, kind: str, now: datetime) -> bytes | None:
    """Delete the row and return its ciphertext if it was live: one use, whichever process asks first."""
    stmt = (
        delete(ScreenSession)
        .where(ScreenSession.key == key, ScreenSession.kind == kind)
        .returning(ScreenSession.sealed, ScreenSession.expires_at)
    )
    with engine.begin() as conn:
        row = conn.execute(stmt).first()
    return None if row is None or row[1] <= now else bytes(row[0])


def drop(engine: Engine, key: str) -> bool:
    with engine.begin() as conn:
        return conn.execute(delete(ScreenSession).where(ScreenSession.key == key)).rowcount > 0


def purge_expired(engine: Engine, now: datetime) -> int:
    with engine.begin() as conn:
        return conn.execute(delete(ScreenSession).where(ScreenSession.expires_at <= now)).rowcount


def count_live(engine: Engine, kind: str, now: datetime) -> int:
    stmt = (
        select(func.count())
        .select_from(ScreenSession)
        .where(ScreenSession.kind == kind, ScreenSession.expires_at > now)
    )
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())
