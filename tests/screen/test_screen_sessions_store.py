"""The screen's SMART sign-ins and sessions live in the store (migration 0004), on SQLite and PostgreSQL: another
process on the same database (a second worker, a replica, the same service restarted) sees them; a launch is used
once; sessions expire and end at logout; and the database never holds a token, a session id or a patient id in
clear (each row is sealed by the browser's own secret: cds_cyto/screen/sessions.py)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select, update

from cds_cyto.screen.sessions import PENDING_TTL, Session, Sessions, TooManyLaunches
from cds_cyto.screen.smart import Endpoints
from cds_cyto.store import ScreenSession, Store
from cds_cyto.store.migrate import alembic_config, current_revision, upgrade

T0 = datetime(2032, 7, 1, 6, 0, tzinfo=UTC)
ENDPOINTS = Endpoints("https://as.example/authorize", "https://as.example/token", "https://as.example/jwks", "as")
TOKEN = "at-" + "s3cr3t" * 8
PATIENT = "pat-7781"
USER = "Practitioner/dr-zed"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def stores(store_url: str) -> Iterator[tuple[Store, Store]]:
    """Two processes' views of one database: each its own engine and connection pool."""
    first, second = Store(store_url), Store(store_url)
    first.migrate()
    try:
        yield first, second
    finally:
        first.dispose()
        second.dispose()


def _session(expires_at: datetime = T0 + timedelta(hours=1)) -> Session:
    return Session("https://ehr.example/fhir", TOKEN, PATIENT, USER, "ward-7", expires_at)


def test_a_session_opened_by_one_process_is_read_by_another(stores: tuple[Store, Store]) -> None:
    clock = Clock()
    a, b = Sessions(stores[0].engine, clock=clock), Sessions(stores[1].engine, clock=clock)
    sid = a.open(_session())
    seen = b.get(sid)
    assert seen == _session()
    assert b.get("x" + sid[1:]) is None  # another id opens nothing
    assert b.close(sid) is True  # logged out at one worker…
    assert a.get(sid) is None  # …is logged out at every one
    assert a.close(sid) is False


def test_a_launch_is_finished_once_by_whichever_process_gets_the_callback(stores: tuple[Store, Store]) -> None:
    clock = Clock()
    a, b = Sessions(stores[0].engine, clock=clock), Sessions(stores[1].engine, clock=clock)
    state = a.begin("https://ehr.example/fhir", ENDPOINTS, "verifier-" + "v" * 40)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda s: s.finish(state), (a, b)))
    finished = [r for r in results if r is not None]
    assert len(finished) == 1
    assert finished[0].endpoints == ENDPOINTS and finished[0].verifier == "verifier-" + "v" * 40
    assert a.finish(state) is None and b.finish(state) is None


# Boundary table of expiry: a row is live strictly before its expires_at, and gone from that instant on.
@pytest.mark.parametrize(
    ("offset", "live"),
    [(timedelta(seconds=-1), True), (timedelta(microseconds=-1), True), (timedelta(0), False), (timedelta(1), False)],
)
def test_a_session_expires_at_its_instant(stores: tuple[Store, Store], offset: timedelta, live: bool) -> None:
    clock = Clock()
    sessions = Sessions(stores[0].engine, clock=clock)
    expires = T0 + timedelta(minutes=5)
    sid = sessions.open(_session(expires))
    clock.now = expires + offset
    assert (sessions.get(sid) is not None) is live


@pytest.mark.parametrize(
    ("offset", "live"), [(timedelta(seconds=-1), True), (timedelta(0), False), (timedelta(seconds=1), False)]
)
def test_a_launch_not_finished_within_its_time_is_refused(
    stores: tuple[Store, Store], offset: timedelta, live: bool
) -> None:
    clock = Clock()
    sessions = Sessions(stores[0].engine, clock=clock)
    state = sessions.begin("https://ehr.example/fhir", ENDPOINTS, "v" * 43)
    clock.now = T0 + PENDING_TTL + offset
    assert (sessions.finish(state) is not None) is live


def test_expired_rows_are_purged(stores: tuple[Store, Store]) -> None:
    clock = Clock()
    sessions = Sessions(stores[0].engine, clock=clock)
    sessions.open(_session(T0 + timedelta(minutes=1)))
    sessions.begin("https://ehr.example/fhir", ENDPOINTS, "v" * 43)
    clock.now = T0 + timedelta(hours=2)
    live = sessions.open(_session(T0 + timedelta(hours=3)))  # a new sign-in purges what has expired
    with stores[0].engine.connect() as conn:
        assert conn.execute(select(ScreenSession.kind)).scalars().all() == ["session"]
    assert sessions.get(live) is not None


def test_a_flood_of_launches_is_capped(stores: tuple[Store, Store]) -> None:
    sessions = Sessions(stores[0].engine, clock=Clock(), max_pending=3)
    for _ in range(3):
        sessions.begin("https://ehr.example/fhir", ENDPOINTS, "v" * 43)
    with pytest.raises(TooManyLaunches):
        sessions.begin("https://ehr.example/fhir", ENDPOINTS, "v" * 43)


def test_the_database_holds_no_token_session_id_or_patient_in_clear(
    stores: tuple[Store, Store], store_url: str
) -> None:
    sessions = Sessions(stores[0].engine, clock=Clock())
    sid = sessions.open(_session())
    state = sessions.begin("https://ehr.example/fhir", ENDPOINTS, "pkce-verifier-" + "q" * 30)
    with stores[0].engine.connect() as conn:
        dumped = b"".join(
            r.key.encode() + r.kind.encode() + bytes(r.sealed) for r in conn.execute(select(ScreenSession)).all()
        )
    secrets = (TOKEN, sid, state, PATIENT, USER, "ward-7", "pkce-verifier-")
    for secret in secrets:
        assert secret.encode() not in dumped
    if store_url.startswith("sqlite"):  # and not in the file itself (its write-ahead log included)
        path = Path(store_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())
        for secret in secrets:
            assert secret.encode() not in raw


def test_a_tampered_row_opens_nothing(stores: tuple[Store, Store]) -> None:
    sessions = Sessions(stores[0].engine, clock=Clock())
    sid = sessions.open(_session())
    with stores[0].engine.begin() as conn:
        sealed = conn.execute(select(ScreenSession.sealed)).scalar_one()
        flipped = bytes(sealed[:-1]) + bytes([sealed[-1] ^ 1])
        conn.execute(update(ScreenSession).values(sealed=flipped))
    assert sessions.get(sid) is None


@pytest.mark.parametrize("cookie", [None, "", "short", "a" * 65, "../../etc/passwd" + "x" * 30, "é" * 43])
def test_a_cookie_that_is_not_one_of_ours_is_no_sign_in(stores: tuple[Store, Store], cookie: str | None) -> None:
    sessions = Sessions(stores[0].engine, clock=Clock())
    assert sessions.get(cookie) is None
    assert sessions.finish(cookie) is None
    assert sessions.close(cookie) is False


def test_migration_0004_adds_the_table_and_goes_back(store_url: str) -> None:
    store = Store(store_url)
    try:
        upgrade(store.engine, "0003")
        assert "screen_session" not in inspect(store.engine).get_table_names()
        store.migrate()
        assert "screen_session" in inspect(store.engine).get_table_names()
        config = alembic_config()
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0003")
        assert current_revision(store.engine) == "0003"
        assert "screen_session" not in inspect(store.engine).get_table_names()
    finally:
        store.dispose()
