"""Server-side state of SMART launches: the launches under way (by `state`) and the signed-in sessions (by an opaque
id in an HttpOnly cookie). The FHIR token lives here and only here.

In this process's memory: a restart signs everyone out, and with several workers a launch must come back to the
worker that began it (run the SMART app with one worker, or sticky sessions, until the store keeps them).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from cds_cyto.screen.smart import Endpoints

__all__ = ["Launch", "Session", "Sessions"]

PENDING_TTL_S = 600.0  # a sign-in not finished in 10 minutes starts over
MAX_ENTRIES = 10_000  # oldest dropped first: a flood of launches cannot grow the process without bound


@dataclass(frozen=True, slots=True)
class Launch:
    iss: str
    endpoints: Endpoints
    verifier: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Session:
    iss: str
    access_token: str
    patient: str
    user: str | None
    tenant: str | None
    expires_at: float

    def __repr__(self) -> str:  # never the token, even in a traceback
        return f"Session(iss={self.iss!r}, user={'set' if self.user else None}, expires_at={self.expires_at})"


T = TypeVar("T", Launch, Session)


class _Expiring(Generic[T]):
    def __init__(self) -> None:
        self._items: OrderedDict[str, T] = OrderedDict()

    def put(self, key: str, item: T) -> None:
        self._items[key] = item
        while len(self._items) > MAX_ENTRIES:
            self._items.popitem(last=False)

    def get(self, key: str | None) -> T | None:
        item = self._items.get(key) if key else None
        if item is not None and item.expires_at < time.monotonic():
            del self._items[key]  # type: ignore[arg-type]
            return None
        return item

    def pop(self, key: str | None) -> T | None:
        item = self.get(key)
        if item is not None:
            del self._items[key]  # type: ignore[arg-type]
        return item


class Sessions:
    def __init__(self) -> None:
        self.launches: _Expiring[Launch] = _Expiring()
        self.sessions: _Expiring[Session] = _Expiring()

    def begin(self, iss: str, endpoints: Endpoints, verifier: str) -> str:
        state = secrets.token_urlsafe(32)
        self.launches.put(state, Launch(iss, endpoints, verifier, time.monotonic() + PENDING_TTL_S))
        return state

    def open(self, session: Session) -> str:
        sid = secrets.token_urlsafe(32)
        self.sessions.put(sid, session)
        return sid
