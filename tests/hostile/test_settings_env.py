"""The limit settings (issue 15 item 1) read from the real environment: wired where they act, and refused in one
line when out of range. Their effect under attack is tests/hostile/test_hostile_fhir.py's."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_cyto.app import create_app
from cds_cyto.settings import Settings
from tests.support.cli import assert_one_line_error, run_cds_cyto


def test_every_limit_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "CDS_CYTO_AUTH": "disabled",
        "CDS_CYTO_DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite'}",
        "CDS_CYTO_FHIR_MAX_RESPONSE_BYTES": "2000000",
        "CDS_CYTO_HOOK_MAX_FETCH_BYTES": "3000000",
        "CDS_CYTO_FHIR_MAX_PAGE_ENTRIES": "700",
        "CDS_CYTO_FHIR_MAX_PAGES": "7",
        "CDS_CYTO_HOOK_DEADLINE_S": "6.5",
        "CDS_CYTO_FHIR_POOL_CONNECTIONS": "3",
        "CDS_CYTO_FHIR_POOL_ORIGINS": "5",
        "CDS_CYTO_MAX_REQUEST_BYTES": "4000000",
        "CDS_CYTO_REQUEST_READ_TIMEOUT_S": "1.5",
        "CDS_CYTO_PARSE_PROCESSES": "3",
        "CDS_CYTO_PARSE_QUEUE": "9",
        "CDS_CYTO_PARSE_PROCESS_MIN_BYTES": "123456",
        "CDS_CYTO_PARSE_INLINE_MAX_BYTES": "654321",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runtime = create_app(Settings()).state.runtime
    handler = runtime.handlers["cyto-patient-view"]
    assert (handler.limits.max_response_bytes, handler.limits.max_client_bytes) == (2_000_000, 3_000_000)
    assert (handler.limits.max_page_entries, handler.limits.max_pages, handler.deadline_s) == (700, 7, 6.5)
    assert (runtime.pool.max_connections, runtime.pool.max_origins) == (3, 5)
    assert (runtime.settings.max_request_bytes, runtime.settings.request_read_timeout_s) == (4_000_000, 1.5)
    assert runtime.answers is not None  # built, not started: its processes spawn with the app's lifespan
    assert (runtime.answers.processes, runtime.answers.queue_limit, runtime.answers.min_bytes) == (3, 9, 123456)
    assert runtime.answers.inline_max_bytes == 654321
    runtime.store.dispose()


def test_no_answer_processes_answers_in_thread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CDS_CYTO_AUTH", "disabled")
    monkeypatch.setenv("CDS_CYTO_DATABASE_URL", f"sqlite:///{tmp_path / 's.sqlite'}")
    monkeypatch.setenv("CDS_CYTO_PARSE_PROCESSES", "0")
    runtime = create_app(Settings()).state.runtime
    assert runtime.answers is None
    runtime.store.dispose()


LIMIT_SETTINGS = (
    "CDS_CYTO_FHIR_MAX_RESPONSE_BYTES",
    "CDS_CYTO_HOOK_MAX_FETCH_BYTES",
    "CDS_CYTO_FHIR_MAX_PAGE_ENTRIES",
    "CDS_CYTO_FHIR_MAX_PAGES",
    "CDS_CYTO_HOOK_DEADLINE_S",
    "CDS_CYTO_FHIR_POOL_CONNECTIONS",
    "CDS_CYTO_FHIR_POOL_ORIGINS",
    "CDS_CYTO_MAX_REQUEST_BYTES",
    "CDS_CYTO_REQUEST_READ_TIMEOUT_S",
    "CDS_CYTO_PARSE_QUEUE",
)


def test_limits_of_zero_stop_serve_in_one_line_naming_each(tmp_path: Path) -> None:
    env = dict.fromkeys(LIMIT_SETTINGS, "0") | {"CDS_CYTO_AUTH": "disabled"}
    assert_one_line_error(run_cds_cyto(tmp_path, "serve", "--check", env=env), "configuration", *LIMIT_SETTINGS)


def test_a_negative_process_count_or_size_stops_serve_in_one_line(tmp_path: Path) -> None:
    names = ("CDS_CYTO_PARSE_PROCESSES", "CDS_CYTO_PARSE_PROCESS_MIN_BYTES", "CDS_CYTO_PARSE_INLINE_MAX_BYTES")
    env = dict.fromkeys(names, "-1") | {"CDS_CYTO_AUTH": "disabled"}
    assert_one_line_error(run_cds_cyto(tmp_path, "serve", "--check", env=env), "configuration", *names)
