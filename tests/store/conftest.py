"""Store tests run twice: against a SQLite file and against a real PostgreSQL server started for the session.

The PostgreSQL server comes from the Debian package (scripts/ensure-postgres.sh installs it). Locally, without
the binaries, the postgres half is skipped with the reason; under CI (CI=true) it fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds_cyto.store import Store
from tests.support.postgres import PostgresServer, postgres_available, start_postgres

IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    ok, why = postgres_available()
    if not ok:
        if IN_CI:
            pytest.fail(f"PostgreSQL unavailable: {why}")
        pytest.skip(f"PostgreSQL unavailable: {why}")
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend, one per test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = "t_" + uuid.uuid4().hex[:12]
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on each backend."""
    s = Store(store_url)
    s.migrate()
    try:
        yield s
    finally:
        s.dispose()
