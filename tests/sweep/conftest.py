"""Sweep tests: a fresh SQLite store per test, and a one-call sweep against the session's HAPI server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds_cyto.core.profile import default_profile
from cds_cyto.store import Store
from cds_cyto.sweep import SweepConfig, SweepReport, run_sweep


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "sweep.sqlite"


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{store_path}")
    s.migrate()
    try:
        yield s
    finally:
        s.dispose()


async def sweep(store: Store, base_url: str, as_of: date, **config: Any) -> SweepReport:
    # overlap 0: the tests' server shares our clock, and they count what each incremental fetch brings
    config.setdefault("overlap_seconds", 0.0)
    return await run_sweep(SweepConfig(fhir_base_url=base_url, as_of=as_of, **config), store, default_profile())
