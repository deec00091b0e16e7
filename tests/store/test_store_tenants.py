"""Tenants and failed patients in the store (issue 15), on SQLite and PostgreSQL: every read for a caller is scoped,
a scope without a tenant matches nothing, a sweep resolves only its own tenant's alerts, and a failed patient keeps
its count, reason and backoff until a success clears them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from cds_cyto.store import Store
from cds_cyto.store.alerts import (
    ALL_TENANTS,
    Finding,
    Scope,
    acknowledge,
    alerts_for_worklist,
    resolve_left_cohort,
    tenant_alerts_of,
)
from cds_cyto.store.patients import (
    Evaluation,
    PatientUpdate,
    deferred_patients,
    done_in_run,
    failed_patients,
    load_patient,
    patient_summaries,
    record_failure,
    save_patient,
)
from cds_cyto.store.runs import finish_run, get_run, start_run
from cds_cyto.sweep.retry import backoff
from cds_cyto.sweep.worklist import build_worklist, patient_entries, patient_entry, render_csv, render_table
from tests.support.serve import served

T0 = datetime(2032, 7, 1, 6, 0, tzinfo=UTC)
AS_OF = date(2032, 7, 1)
PLT = Finding("platelet-transfusion", "critical", "PLT 12", "PLT < 20", "ref", [], 9)


def _save(
    store: Store, run: int, patient: str, tenant: str | None, day: int = 9, findings: tuple[Finding, ...] = (PLT,)
) -> None:
    digest = f"h-{patient}-{tenant}-{day}" if day != 9 else f"h-{patient}"
    evaluation = Evaluation({"day": day}, digest, "p", AS_OF, day, {"ICAHT early": "I"}, list(findings))
    save_patient(store.engine, PatientUpdate(patient, run, T0, True, 3, {}, "s", evaluation, tenant), T0)


def test_each_scope_sees_its_own_tenant_and_no_tenant_sees_nothing(store: Store) -> None:
    run = start_run(store.engine, "full", AS_OF, "t", T0)
    _save(store, run, "pa", "ward-a")
    _save(store, run, "pb", "ward-b")
    _save(store, run, "p-untenanted", None)
    seen = {
        name: (
            {a.patient_id for a in alerts_for_worklist(store.engine, run, scope=s)},
            {pid for _, pid in patient_summaries(store.engine, scope=s)},
        )
        for name, s in {"a": Scope("ward-a"), "none": Scope(None), "all": ALL_TENANTS}.items()
    }
    assert seen["a"] == ({"pa"}, {"pa"})
    assert seen["none"] == (set(), set())
    assert seen["all"] == ({"pa", "pb", "p-untenanted"},) * 2

    [b_alert] = alerts_for_worklist(store.engine, run, scope=Scope("ward-b"))
    assert acknowledge(store.engine, b_alert.uid, "dr-a", T0, scope=Scope("ward-a")) is None
    assert acknowledge(store.engine, b_alert.uid, "dr-x", T0, scope=Scope(None)) is None
    [still] = alerts_for_worklist(store.engine, run, scope=Scope("ward-b"))
    assert still.state == "new"
    acked = acknowledge(store.engine, b_alert.uid, "dr-b", T0, scope=Scope("ward-b"))
    assert acked is not None and (acked.state, acked.acknowledged_by) == ("acknowledged", "dr-b")


def test_a_sweep_resolves_only_its_own_tenants_alerts(store: Store) -> None:
    run = start_run(store.engine, "full", AS_OF, "t", T0)
    _save(store, run, "pa", "ward-a")
    _save(store, run, "pb", "ward-b")
    assert resolve_left_cohort(store.engine, set(), run, T0, "ward-a") == 1, "ward-a's sweep: pa left its cohort"
    assert [a.state for a in alerts_for_worklist(store.engine, run + 1, scope=Scope("ward-b"))] == ["new"]


def test_a_failed_patient_backs_off_and_a_success_clears_it(store: Store) -> None:
    run = start_run(store.engine, "full", AS_OF, "t", T0)

    def fail(now: datetime) -> int:
        return record_failure(
            store.engine, "px", run, "ward-a", "fetch: fhir-protocol", lambda n: now + backoff(n), now
        )

    assert fail(T0) == 1
    assert load_patient(store.engine, "px", "ward-a") is None, "never fetched whole: still new to the sweep"
    assert done_in_run(store.engine, run) == set(), "a failed patient is not done"
    assert deferred_patients(store.engine, ["px", "other"], T0 + timedelta(minutes=14), "ward-a") == {
        "px": T0 + timedelta(minutes=15)
    }
    assert deferred_patients(store.engine, ["px"], T0 + timedelta(minutes=15), "ward-a") == {}
    assert deferred_patients(store.engine, ["px"], T0, "ward-b") == {}, "ward-b's px has not failed"
    assert fail(T0 + timedelta(minutes=15)) == 2
    [failed] = failed_patients(store.engine, scope=Scope("ward-a"))
    assert (failed.failures, failed.reason, failed.retry_after) == (
        2,
        "fetch: fhir-protocol",
        T0 + timedelta(minutes=15 + 30),
    )
    assert failed_patients(store.engine, scope=Scope("ward-b")) == []
    assert patient_summaries(store.engine, scope=ALL_TENANTS) == {}, "no assessment to show yet"
    run_row = get_run(store.engine, run)
    assert run_row is not None and run_row.failed == 2

    _save(store, run, "px", "ward-a")
    assert failed_patients(store.engine, scope=ALL_TENANTS) == []
    assert deferred_patients(store.engine, ["px"], T0, "ward-a") == {}
    state = load_patient(store.engine, "px", "ward-a")
    assert state is not None and state.assessment_hash == "h-px"
    summary = patient_summaries(store.engine, scope=Scope("ward-a"))["ward-a", "px"]
    assert summary.grades_changed_run_id is None, "a first assessment is not a change of grades"


def test_backoff_doubles_from_a_quarter_hour_to_a_day() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (15, 30, 60)]
    assert backoff(7) == timedelta(hours=16)
    assert backoff(8) == backoff(1000) == timedelta(hours=24)


ANC = Finding("gcsf-therapeutic", "warning", "ANC 0.3", "ANC < 0.5", "ref", [], 12)


def test_two_tenants_with_the_same_patient_id_each_see_and_acknowledge_only_their_own(store: Store) -> None:
    a_run = start_run(store.engine, "full", AS_OF, "sweep-a", T0)
    b_run = start_run(store.engine, "full", AS_OF, "sweep-b", T0)
    _save(store, a_run, "p-1", "ward-a", day=9, findings=(PLT,))
    _save(store, b_run, "p-1", "ward-b", day=12, findings=(PLT, ANC))  # another hospital's Patient/p-1
    _save(store, a_run, "p-1", "ward-a", day=9, findings=(PLT,))  # ward-a sweeps again: b's row stays b's

    a_state, b_state = load_patient(store.engine, "p-1", "ward-a"), load_patient(store.engine, "p-1", "ward-b")
    assert a_state is not None and b_state is not None
    assert (a_state.assessment_hash, b_state.assessment_hash) == ("h-p-1", "h-p-1-ward-b-12")
    assert load_patient(store.engine, "p-1") is None, "no untenanted p-1 was swept"
    assert patient_summaries(store.engine, scope=Scope("ward-a"))["ward-a", "p-1"].day == 9
    assert patient_summaries(store.engine, scope=Scope("ward-b"))["ward-b", "p-1"].day == 12

    def codes(tenant: str) -> dict[str, str]:
        return {a.code: a.uid for a in alerts_for_worklist(store.engine, 0, scope=Scope(tenant))}

    a_alerts, b_alerts = codes("ward-a"), codes("ward-b")
    assert set(a_alerts) == {"platelet-transfusion"}
    assert set(b_alerts) == {"platelet-transfusion", "gcsf-therapeutic"}, "one open alert per tenant and code"
    assert a_alerts["platelet-transfusion"] != b_alerts["platelet-transfusion"]

    b_plt = b_alerts["platelet-transfusion"]
    assert acknowledge(store.engine, b_plt, "dr-a", T0, scope=Scope("ward-a")) is None, "not a's to acknowledge"
    acked = acknowledge(store.engine, a_alerts["platelet-transfusion"], "dr-a", T0, scope=Scope("ward-a"))
    assert acked is not None and acked.state == "acknowledged"
    states = {a.code: a.state for a in alerts_for_worklist(store.engine, 0, scope=Scope("ward-b"))}
    assert states == {"platelet-transfusion": "new", "gcsf-therapeutic": "new"}, "b's alerts untouched"

    # A failure of b's p-1 is b's: a's p-1 is neither deferred nor listed as failed.
    record_failure(store.engine, "p-1", b_run, "ward-b", "fetch: fhir-protocol", lambda n: T0 + backoff(n), T0)
    assert deferred_patients(store.engine, ["p-1"], T0, "ward-a") == {}
    assert set(deferred_patients(store.engine, ["p-1"], T0, "ward-b")) == {"p-1"}
    assert [f.patient_id for f in failed_patients(store.engine, scope=Scope("ward-a"))] == []
    assert [f.patient_id for f in failed_patients(store.engine, scope=Scope("ward-b"))] == ["p-1"]
    # b's sweep: p-1 left its cohort; a's alert stays open.
    assert resolve_left_cohort(store.engine, set(), b_run, T0, "ward-b") == 2
    assert [a.state for a in alerts_for_worklist(store.engine, 0, scope=Scope("ward-a"))] == ["acknowledged"]


def test_every_tenants_reader_sees_two_tenants_patients_of_one_id_apart(store: Store) -> None:
    """Auth disabled (ALL_TENANTS): ward-a's and ward-b's Patient/p-1 and an untenanted p-1 keep their own day,
    grades and alerts; none is merged into another's row."""
    a_run = start_run(store.engine, "full", AS_OF, "sweep-a", T0)
    b_run = start_run(store.engine, "full", AS_OF, "sweep-b", T0)
    _save(store, a_run, "p-1", "ward-a", day=9, findings=(PLT,))
    _save(store, b_run, "p-1", "ward-b", day=12, findings=(ANC,))
    _save(store, b_run, "p-1", None, day=20, findings=())

    summaries = patient_summaries(store.engine, ["p-1"], scope=ALL_TENANTS)
    assert {k: (s.tenant, s.day) for k, s in summaries.items()} == {
        ("ward-a", "p-1"): ("ward-a", 9),
        ("ward-b", "p-1"): ("ward-b", 12),
        (None, "p-1"): (None, 20),
    }
    assert list(patient_summaries(store.engine, scope=Scope("ward-b"))) == [("ward-b", "p-1")]

    rows = {r.tenant: r for r in build_worklist(store.engine, scope=ALL_TENANTS).rows}
    assert set(rows) == {"ward-a", "ward-b"}, "the untenanted p-1 has no alert and no change of grades to show"
    assert (rows["ward-a"].day, [a.code for a in rows["ward-a"].alerts]) == (9, ["platelet-transfusion"])
    assert (rows["ward-b"].day, [a.code for a in rows["ward-b"].alerts]) == (12, ["gcsf-therapeutic"])
    assert rows["ward-a"].to_json()["tenant"] == "ward-a"
    everyone = build_worklist(store.engine, scope=ALL_TENANTS)
    assert {"p-1 (ward-a)", "p-1 (ward-b)"} <= _cells(render_table(everyone))
    assert sorted(r["tenant"] for r in csv.DictReader(io.StringIO(render_csv(everyone)))) == ["ward-a", "ward-b"]
    [own] = build_worklist(store.engine, scope=Scope("ward-b")).rows
    assert own.tenant is None and "tenant" not in own.to_json(), "a tenant's own reader needs no tenant column"
    assert (own.day, [a.code for a in own.alerts]) == (12, ["gcsf-therapeutic"])


def _cells(table: str) -> set[str]:
    return {cell.strip() for line in table.splitlines() for cell in line.split("  ") if cell.strip()}


def _two_tenants_one_id(store: Store) -> None:
    """ward-a's and ward-b's Patient/p-1 (each with alerts and a day of its own) and an untenanted p-1 that failed."""
    a_run = start_run(store.engine, "full", AS_OF, "sweep-a", T0)
    b_run = start_run(store.engine, "full", AS_OF, "sweep-b", T0)
    _save(store, a_run, "p-1", "ward-a", day=9, findings=(PLT,))
    _save(store, b_run, "p-1", "ward-b", day=12, findings=(ANC,))
    record_failure(store.engine, "p-1", b_run, None, "fetch: fhir-protocol", lambda n: T0 + backoff(n), T0)
    finish_run(store.engine, a_run, "completed")
    finish_run(store.engine, b_run, "completed")


def test_one_patients_entry_is_one_tenants_never_a_merge(store: Store) -> None:
    _two_tenants_one_id(store)
    entries = patient_entries(store.engine, "p-1", scope=ALL_TENANTS)
    seen = [(e.get("tenant"), e["day"], [a["code"] for a in e["alerts"]], e["failure"] is not None) for e in entries]
    assert seen == [
        (None, None, [], True),  # the untenanted p-1: failed, never assessed
        ("ward-a", 9, ["platelet-transfusion"], False),
        ("ward-b", 12, ["gcsf-therapeutic"], False),
    ]
    b = patient_entry(store.engine, "p-1", scope=ALL_TENANTS, tenant="ward-b")
    assert b is not None and b["grades"] == {"ICAHT early": "I"} and b["day"] == 12
    [own] = patient_entries(store.engine, "p-1", scope=Scope("ward-a"))
    assert "tenant" not in own and own["day"] == 9 and own["failure"] is None
    assert patient_entry(store.engine, "p-1", scope=Scope("ward-a")) == own
    assert patient_entries(store.engine, "p-1", scope=Scope(None)) == []
    assert patient_entry(store.engine, "p-1", scope=Scope("ward-c")) is None
    # what ward-a's sweep writes back to ward-a's FHIR server: ward-a's alerts only
    assert [a.code for a in tenant_alerts_of(store.engine, "p-1", "ward-a")] == ["platelet-transfusion"]
    assert tenant_alerts_of(store.engine, "p-1", None) == []


def test_the_http_entry_of_an_id_two_tenants_hold_is_chosen_never_merged(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """Through `cds-cyto serve` with auth disabled (every tenant's reader) on this backend's database."""
    _two_tenants_one_id(store)
    with served(tmp_path, {"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_DATABASE_URL": store_url}) as server:

        def get(query: str) -> httpx.Response:
            return httpx.get(f"{server.url}/worklist/patients/p-1{query}", timeout=30, trust_env=False)

        several = get("")
        assert several.status_code == 409 and several.json()["tenants"] == ["", "ward-a", "ward-b"]
        a, b, untenanted = get("?tenant=ward-a").json(), get("?tenant=ward-b").json(), get("?tenant=").json()
        assert (a["tenant"], a["day"], [x["code"] for x in a["alerts"]]) == ("ward-a", 9, ["platelet-transfusion"])
        assert (b["tenant"], b["day"], [x["code"] for x in b["alerts"]]) == ("ward-b", 12, ["gcsf-therapeutic"])
        assert "tenant" not in untenanted and untenanted["failure"]["failures"] == 1
        assert get("?tenant=ward-c").status_code == 404
        assert get("?tenant=a&tenant=b").status_code == 400 and get("?colour=red").status_code == 400
        listed = httpx.get(f"{server.url}/worklist", timeout=30, trust_env=False).json()
        assert sorted(p["tenant"] for p in listed["patients"]) == ["ward-a", "ward-b"]
