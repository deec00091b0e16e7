from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_cyto.app import create_app
from cds_cyto.settings import Settings


@pytest.fixture
def service_settings(tmp_path: Path) -> Settings:
    """Auth disabled, a fresh SQLite file, no demo cohort (so missing data is a 412), evaluated as of day 7."""
    return Settings(
        auth="disabled",
        database_url=f"sqlite:///{tmp_path / 'store.sqlite'}",
        demo_dir=tmp_path / "no-demo",
        as_of=date(2026, 3, 8),
    )


@pytest.fixture
def client(service_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(service_settings)) as c:
        yield c


def make_client(**overrides: Any) -> TestClient:
    return TestClient(create_app(Settings(**overrides)))
