"""One real `cds-cyto serve --demo` process for the browser tests of this room (its demo sweep fills the worklist)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.serve import Served, served


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("screen"), {}, "--demo") as server:
        yield server
