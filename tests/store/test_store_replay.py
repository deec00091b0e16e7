"""The database token-replay store on SQLite and PostgreSQL: first use wins, a replay is refused while the token
lives, a dead row never blocks, expired rows are purged, and no number of live rows makes it refuse a fresh token."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from cds_cyto.cds.auth import AuthError, ClientAuthenticator, parse_trusted_issuers
from cds_cyto.store import Store
from cds_cyto.store.replay import DatabaseReplayStore, replay_key
from cds_cyto.store.tables import TokenReplay
from tests.support.serve import Signer

T = 1_700_000_000.0
ISS = "https://ehr.example.org"
AUD = "https://cds.example.org/cds-services"
LEEWAY = 60


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_first_use_wins_and_a_second_is_a_replay(store: Store) -> None:
    replay = DatabaseReplayStore(store.engine)
    assert replay.first_use_sync(ISS, "j1", T + 360, T)
    assert not replay.first_use_sync(ISS, "j1", T + 361, T + 1)
    assert replay.first_use_sync("https://other.example.org", "j1", T + 360, T)  # the key is per issuer
    assert replay.count() == 2


def test_the_key_is_a_hash_of_issuer_nul_jti() -> None:
    assert replay_key("ab", "c") != replay_key("a", "bc")  # the NUL keeps issuer and jti apart
    assert len(replay_key(ISS, "x" * 256)) == 64


def test_a_store_of_100k_live_tokens_still_accepts_a_fresh_one_and_purges_them_once_expired(store: Store) -> None:
    rows = [{"key": f"{i:064x}", "expires_at": at(T + 300 + i % 60)} for i in range(100_000)]
    with store.engine.begin() as conn:
        conn.execute(insert(TokenReplay), rows)
    replay = DatabaseReplayStore(store.engine, purge_interval_s=60, purge_grace_s=120)
    assert replay.first_use_sync(ISS, "fresh", T + 360, T)  # no "full": a valid token is never refused for room
    assert not replay.first_use_sync(ISS, "fresh", T + 360, T + 1)
    assert replay.count() == 100_001
    # Past every expiry, the grace and the purge interval, the next use purges them all; only its own row stays.
    assert replay.first_use_sync(ISS, "later", T + 900, T + 360 + 120)
    assert replay.count() == 1


@pytest.mark.parametrize(
    ("grace", "now", "purged"),
    [
        (0, T + 359, False),  # before until (exp + leeway): the token could still be accepted, its row stays
        (0, T + 360, True),  # at until: the token is already refused as expired, so its row is dead
        (0, T + 361, True),
        (120, T + 360, False),  # dead, but a replica whose clock is 2 min behind could still take the token
        (120, T + 479, False),
        (120, T + 480, True),
    ],
)
def test_purge_removes_a_row_once_its_token_has_expired_and_the_grace_passed(
    store: Store, grace: float, now: float, purged: bool
) -> None:
    replay = DatabaseReplayStore(store.engine, purge_grace_s=grace)
    assert replay.first_use_sync(ISS, "j", T + 360, T)
    assert replay.purge(now) == (1 if purged else 0)


@pytest.mark.parametrize(
    ("now", "first"),
    [
        (T + 359, False),  # the row is live: the same iss + jti is a replay
        (T + 360, True),  # dead but not yet purged: taken over, never a reason to refuse
    ],
)
def test_a_dead_row_does_not_block_its_key(store: Store, now: float, first: bool) -> None:
    replay = DatabaseReplayStore(store.engine, purge_interval_s=1e9)  # no purge between: the row is still there
    assert replay.first_use_sync(ISS, "j", T + 360, T)
    assert replay.first_use_sync(ISS, "j", now + 360, now) is first


def test_purging_happens_at_most_once_per_interval(store: Store) -> None:
    replay = DatabaseReplayStore(store.engine, purge_interval_s=60, purge_grace_s=0)
    assert replay.first_use_sync(ISS, "a", T + 10, T)  # purges (nothing), next purge due at T + 60
    assert replay.first_use_sync(ISS, "b", T + 500, T + 30)  # "a" expired but no purge yet
    assert replay.count() == 2
    assert replay.first_use_sync(ISS, "c", T + 500, T + 60)  # due: "a" goes
    assert replay.count() == 2


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("later", "code"),
    [
        (0, "replayed"),
        (LEEWAY - 1, "replayed"),  # exp passed, within the leeway: still a live token, so still a replay
        (LEEWAY, "expired"),  # exp + leeway: refused as expired before the store is asked
    ],
)
async def test_the_authenticator_refuses_a_second_use_until_exp_plus_leeway(
    store: Store, later: int, code: str
) -> None:
    signer = Signer(iss=ISS)
    clock = Clock()
    auth = ClientAuthenticator(
        parse_trusted_issuers(signer.issuers()), clock=clock, leeway=LEEWAY, replay=DatabaseReplayStore(store.engine)
    )
    try:
        header = signer.bearer(AUD, iat=int(T), exp=int(T) + 300)["Authorization"]
        assert (await auth.authenticate(header, AUD)).iss == ISS
        clock.now = T + 300 + later
        with pytest.raises(AuthError) as caught:
            await auth.authenticate(header, AUD)
        assert caught.value.code == code
    finally:
        await auth.aclose()


async def test_a_store_that_cannot_answer_refuses_the_token_as_a_401_code(store: Store) -> None:
    signer = Signer(iss=ISS)
    auth = ClientAuthenticator(parse_trusted_issuers(signer.issuers()), replay=DatabaseReplayStore(store.engine))
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE token_replay")  # the database is there, the store is not
    try:
        with pytest.raises(AuthError) as caught:
            await auth.authenticate(signer.bearer(AUD)["Authorization"], AUD)
        assert caught.value.code == "replay-unavailable"
    finally:
        await auth.aclose()
