"""Server-side state of SMART launches, in the store (table `screen_session`), so every worker and replica — and a
restarted process — sees the same sign-ins: the launches under way (by `state`) and the signed-in sessions (by an
opaque id in an HttpOnly cookie). The FHIR token lives here and only here.

At rest, each row is sealed by the browser's own secret, not by a server key: the row's key is a hash of the secret
(the 256-bit `state` or session id, which the database never holds), and its content — the FHIR token, the PKCE
verifier, the patient, the user — is AES-256-GCM under a key derived from that secret (HKDF-SHA256), with the row's
key as associated data. So a copy of the database (a backup, a replica's administrator, an SQL injection elsewhere)
yields no token, no session id to replay and no patient id; and there is no server key to configure, share between
replicas, rotate or leak. The cost: a row opens only while its browser presents the cookie — which is what a session
is. Expired rows are purged; logging out deletes the row.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine

from cds_cyto.screen.smart import Endpoints
from cds_cyto.store import screen_sessions as rows

__all__ = ["MAX_PENDING", "PENDING_TTL", "Launch", "Session", "Sessions", "TooManyLaunches"]

PENDING_TTL = timedelta(minutes=10)  # a sign-in not finished in 10 minutes starts over
MAX_PENDING = 10_000  # sign-ins under way at once: a flood of launches cannot grow the table without bound
PURGE_EVERY = timedelta(minutes=1)
_NONCE = 12


class TooManyLaunches(Exception):
    """More sign-ins are under way than MAX_PENDING: the launch is refused until some finish or expire."""


@dataclass(frozen=True, slots=True)
class Launch:
    iss: str
    endpoints: Endpoints
    verifier: str

    def __repr__(self) -> str:  # never the verifier
        return f"Launch(iss={self.iss!r})"


@dataclass(frozen=True, slots=True)
class Session:
    iss: str
    access_token: str
    patient: str
    user: str | None
    tenant: str | None
    expires_at: datetime

    def __repr__(self) -> str:  # never the token, even in a traceback
        return f"Session(iss={self.iss!r}, user={'set' if self.user else None}, expires_at={self.expires_at})"


def _row_key(kind: str, secret: str) -> str:
    return hashlib.sha256(b"cds-cyto screen\0" + kind.encode() + b"\0" + secret.encode()).hexdigest()


def _aead(kind: str, secret: str) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"cds-cyto screen " + kind.encode())
    return AESGCM(hkdf.derive(secret.encode()))


def seal(kind: str, secret: str, content: dict[str, Any]) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + _aead(kind, secret).encrypt(nonce, orjson.dumps(content), _row_key(kind, secret).encode())


def unseal(kind: str, secret: str, sealed: bytes) -> dict[str, Any] | None:
    try:
        plain = _aead(kind, secret).decrypt(sealed[:_NONCE], sealed[_NONCE:], _row_key(kind, secret).encode())
    except InvalidTag:
        return None  # not sealed by this secret: treated as no row
    content = orjson.loads(plain)
    return content if isinstance(content, dict) else None


def _usable(secret: str | None) -> bool:
    # our secrets are token_urlsafe(32): 43 characters; anything else is no sign-in, never a database lookup
    return secret is not None and 32 <= len(secret) <= 64 and secret.replace("-", "").replace("_", "").isalnum()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Sessions:
    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime] = _utc_now, max_pending: int = MAX_PENDING
    ) -> None:
        self._engine = engine
        self._clock = clock  # UTC wall time: rows are shared by processes, so no monotonic clock
        self._max_pending = max_pending
        self._next_purge = datetime.min.replace(tzinfo=UTC)

    def _purge(self, now: datetime) -> None:
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            rows.purge_expired(self._engine, now)

    def begin(self, iss: str, endpoints: Endpoints, verifier: str) -> str:
        """A new sign-in under way; its `state` (the browser's secret for it)."""
        now = self._clock()
        self._purge(now)
        if rows.count_live(self._engine, "launch", now) >= self._max_pending:
            raise TooManyLaunches
        state = secrets.token_urlsafe(32)
        content = {"iss": iss, "endpoints": asdict(endpoints), "verifier": verifier}
        rows.put(self._engine, _row_key("launch", state), "launch", seal("launch", state, content), now + PENDING_TTL)
        return state

    def finish(self, state: str | None) -> Launch | None:
        """The sign-in for `state`, once: a second callback with the same state (any worker) finds nothing."""
        if not _usable(state):
            return None
        assert state is not None
        sealed = rows.take(self._engine, _row_key("launch", state), "launch", self._clock())
        content = None if sealed is None else unseal("launch", state, sealed)
        if content is None:
            return None
        return Launch(content["iss"], Endpoints(**content["endpoints"]), content["verifier"])

    def open(self, session: Session) -> str:
        """A new signed-in session (always a new id: a session id is never chosen by the browser); its id."""
        self._purge(self._clock())
        sid = secrets.token_urlsafe(32)
        content = {k: v for k, v in asdict(session).items() if k != "expires_at"}
        sealed = seal("session", sid, content)
        rows.put(self._engine, _row_key("session", sid), "session", sealed, session.expires_at)
        return sid

    def get(self, sid: str | None) -> Session | None:
        if not _usable(sid):
            return None
        assert sid is not None
        found = rows.read(self._engine, _row_key("session", sid), "session", self._clock())
        content = None if found is None else unseal("session", sid, found[0])
        if found is None or content is None:
            return None
        return Session(**content, expires_at=found[1])

    def close(self, sid: str | None) -> bool:
        """Log out: the session's row is gone for every worker."""
        return _usable(sid) and rows.drop(self._engine, _row_key("session", sid or ""))
