"""One real `cds-cyto serve --demo` process for the browser tests of this room (its demo sweep fills the worklist)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.serve import Served, served


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("screen"), {}, "--demo") as server:
        yield server


# The sessions table runs on both backends, as tests/store does: the same fixtures (a SQLite file; PostgreSQL).
from tests.store.conftest import postgres_server, store_url  # noqa: E402, F401
