"""Sweep runs belong to a tenant (issue 15, migration 0006), on SQLite and PostgreSQL: each tenant's worklist
measures "changed" against, and shows, its own tenant's last completed sweep; a scope with no tenant sees no run;
a reader of every tenant gets each row measured against its own tenant's run."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import text

from cds_cyto.store import Store
from cds_cyto.store.alerts import ALL_TENANTS, Finding, Scope, resolve_left_cohort
from cds_cyto.store.patients import Evaluation, PatientUpdate, save_patient
from cds_cyto.store.runs import finish_run, last_completed_run, start_run, unfinished_run
from cds_cyto.sweep.worklist import build_worklist, patient_entries, render_table
from tests.support.cli import run_cds_cyto

T0 = datetime(2032, 7, 1, 6, 0, tzinfo=UTC)
AS_OF = date(2032, 7, 1)
PLT = Finding("platelet-transfusion", "critical", "PLT 12", "PLT < 20", "ref", [], 9)


def _save(store: Store, run: int, patient: str, tenant: str | None, findings: tuple[Finding, ...] = (PLT,)) -> None:
    evaluation = Evaluation({"day": 9}, f"h-{patient}-{run}", "p", AS_OF, 9, {"ICAHT early": "I"}, list(findings))
    save_patient(store.engine, PatientUpdate(patient, run, T0, True, 3, {}, "s", evaluation, tenant), T0)


def _changes(store: Store, scope: Scope) -> dict[tuple[str | None, str], list[str]]:
    worklist = build_worklist(store.engine, scope=scope)
    return {(r.tenant, r.patient_id): [a.change for a in r.alerts] for r in worklist.rows}


def _two_tenants_swept(store: Store) -> tuple[int, int]:
    """ward-b sweeps first (run b: pb's alert is new, pb-gone's resolved), then ward-a (run a, the newer)."""
    old = start_run(store.engine, "full", AS_OF, "t", T0, tenant="ward-b")
    _save(store, old, "pb-gone", "ward-b")
    finish_run(store.engine, old, "completed", now=T0)
    run_b = start_run(store.engine, "full", AS_OF, "t", T0, tenant="ward-b")
    _save(store, run_b, "pb", "ward-b")
    resolve_left_cohort(store.engine, {"pb"}, run_b, T0, "ward-b")
    finish_run(store.engine, run_b, "completed", note="ward-b's note", now=T0)
    run_a = start_run(store.engine, "full", AS_OF, "t", T0, tenant="ward-a")
    _save(store, run_a, "pa", "ward-a")
    finish_run(store.engine, run_a, "completed", note="ward-a's note", now=T0)
    return run_b, run_a


def test_each_tenant_is_measured_against_and_shown_only_its_own_sweep(store: Store) -> None:
    run_b, run_a = _two_tenants_swept(store)
    b = build_worklist(store.engine, scope=Scope("ward-b"))
    assert b.since_run is not None and (b.since_run.id, b.since_run.note) == (run_b, "ward-b's note")
    assert _changes(store, Scope("ward-b")) == {(None, "pb"): ["new"], (None, "pb-gone"): ["resolved"]}
    assert f"changes since sweep {run_b} " in render_table(b)
    a = build_worklist(store.engine, scope=Scope("ward-a"))
    assert a.since_run is not None and (a.since_run.id, a.since_run.note) == (run_a, "ward-a's note")
    assert _changes(store, Scope("ward-a")) == {(None, "pa"): ["new"]}
    [entry] = patient_entries(store.engine, "pb", scope=Scope("ward-b"))
    assert [x["change"] for x in entry["alerts"]] == ["new"]


def test_an_issuer_with_no_tenant_sees_no_run_at_all(store: Store) -> None:
    _two_tenants_swept(store)
    nobody = build_worklist(store.engine, scope=Scope(None))
    assert (nobody.since_run, nobody.rows) == (None, [])
    assert nobody.to_json()["since_run"] is None
    assert "no completed sweep yet" in render_table(nobody)


def test_a_tenant_with_no_completed_sweep_is_not_shown_anothers(store: Store) -> None:
    _two_tenants_swept(store)
    c = build_worklist(store.engine, scope=Scope("ward-c"))
    assert (c.since_run, c.rows) == (None, [])


def test_every_tenants_reader_gets_each_row_against_its_own_tenants_sweep(store: Store) -> None:
    _run_b, run_a = _two_tenants_swept(store)
    assert _changes(store, ALL_TENANTS) == {
        ("ward-a", "pa"): ["new"],
        ("ward-b", "pb"): ["new"],
        ("ward-b", "pb-gone"): ["resolved"],
    }
    everyone = build_worklist(store.engine, scope=ALL_TENANTS)
    assert everyone.since_run is not None and everyone.since_run.id == run_a  # the newest of any tenant


def test_a_crashed_run_is_resumed_only_by_its_own_tenant(store: Store) -> None:
    crashed = start_run(store.engine, "full", AS_OF, "t", T0, tenant="ward-a")
    assert unfinished_run(store.engine, "ward-b") is None
    assert unfinished_run(store.engine, None) is None
    found = unfinished_run(store.engine, "ward-a")
    assert found is not None and (found.id, found.tenant) == (crashed, "ward-a")
    assert last_completed_run(store.engine, "ward-a") is None


def test_the_migration_gives_existing_runs_the_tenant_they_swept(store: Store) -> None:
    run_b, run_a = _two_tenants_swept(store)
    untouched = start_run(store.engine, "full", AS_OF, "t", T0)
    migration = importlib.import_module("cds_cyto.store.migrations.versions.0006_sweep_run_tenant")
    with store.engine.begin() as conn:  # as just after 0006 added the column: every run untenanted
        conn.execute(text("UPDATE sweep_run SET tenant = ''"))
        conn.execute(text(migration._BACKFILL))
        rows = {i: t for i, t in conn.execute(text("SELECT id, tenant FROM sweep_run"))}
    assert (rows[run_b], rows[run_a], rows[untouched]) == ("ward-b", "ward-a", "")


def test_the_cli_worklist_of_a_tenant_names_only_that_tenants_sweep(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    run_b, run_a = _two_tenants_swept(store)
    for tenant, run in (("ward-a", run_a), ("ward-b", run_b)):
        result = run_cds_cyto(tmp_path, "worklist", "--database", store_url, "--format", "json", "--tenant", tenant)
        assert result.returncode == 0, result.stderr
        body = json.loads(result.stdout)
        assert (body["since_run"]["id"], body["last_sweep"]["id"]) == (run, run), tenant
    nobody = run_cds_cyto(tmp_path, "worklist", "--database", store_url, "--format", "json", "--tenant", "ward-c")
    assert (json.loads(nobody.stdout)["since_run"], json.loads(nobody.stdout)["last_sweep"]) == (None, None)
