"""The sweep's pure parts: snapshot merging, cohort searches and id files, fingerprints, write-back resources,
schedules and settings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import ValidationError

from cds_cyto.core.profile import default_profile
from cds_cyto.settings import Settings
from cds_cyto.store.alerts import AlertView
from cds_cyto.sweep import CohortError, read_ids_file, site_today, sweep_config
from cds_cyto.sweep.cohort_query import infusion_searches, patient_of
from cds_cyto.sweep.fingerprint import grade_changes, grade_summary, profile_hash
from cds_cyto.sweep.scheduler import schedule_trigger
from cds_cyto.sweep.snapshot import merge, rebuild, snapshot_hash
from cds_cyto.sweep.writeback import WriteBackError, flag, risk_assessment, write_back_bundle


def obs(oid: str, version: str | None = None, updated: str | None = None, value: float = 1.0) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Observation", "id": oid, "valueQuantity": {"value": value}}
    if version or updated:
        res["meta"] = {k: v for k, v in (("versionId", version), ("lastUpdated", updated)) if v}
    return res


# --- snapshot ---------------------------------------------------------------------------------------------------


def test_merge_adds_new_and_keeps_the_newest_version() -> None:
    base = rebuild([obs("a", "1"), obs("b", "2", value=2.0)])
    merged, changed = merge(base, [obs("a", "2", value=9.0), obs("b", "1", value=0.0), obs("c", "1")])
    assert changed
    assert merged["Observation/a"]["valueQuantity"]["value"] == 9.0, "a newer version replaces"
    assert merged["Observation/b"]["valueQuantity"]["value"] == 2.0, "an older copy never replaces"
    assert set(merged) == {"Observation/a", "Observation/b", "Observation/c"}
    assert base == rebuild([obs("a", "1"), obs("b", "2", value=2.0)]), "the stored snapshot is not mutated"


def test_merge_of_what_is_known_changes_nothing() -> None:
    base = rebuild([obs("a", "3", "2031-01-01T00:00:00Z")])
    merged, changed = merge(base, [obs("a", "3", "2031-01-01T00:00:00Z"), {"resourceType": "Observation"}])
    assert not changed and merged == base
    assert snapshot_hash(merged) == snapshot_hash(base)


def test_snapshot_hash_follows_versions_or_content() -> None:
    assert snapshot_hash(rebuild([obs("a", "1")])) != snapshot_hash(rebuild([obs("a", "2")]))
    assert snapshot_hash(rebuild([obs("a", value=1.0)])) != snapshot_hash(rebuild([obs("a", value=2.0)]))
    assert snapshot_hash(rebuild([obs("a"), obs("b")])) == snapshot_hash(rebuild([obs("b"), obs("a")]))


# --- cohort -----------------------------------------------------------------------------------------------------


def test_infusion_searches_use_the_profile_codes_and_the_window() -> None:
    searches = infusion_searches(default_profile(), date(2031, 4, 11), 100)
    by_type = [(rtype, sorted(params)) for rtype, params in searches]
    assert by_type == [
        ("MedicationAdministration", ["_count", "_elements", "code", "effective-time"]),
        ("MedicationAdministration", ["_count", "_elements", "effective-time", "medication.code"]),
        ("Procedure", ["_count", "_elements", "code", "date"]),
    ]
    procedure = dict(searches[2][1])
    assert procedure["code"] == "http://snomed.info/sct|1156961008"
    assert procedure["date"] == ["ge2031-01-01", "lt2031-04-12"]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ({"reference": "Patient/p-1"}, "p-1"),
        ({"reference": "Patient/p-1/_history/3"}, "p-1"),
        ({"reference": "https://fhir.example/r4/Patient/p.2"}, "p.2"),
        ({"reference": "Group/g"}, None),
        ({"display": "someone"}, None),
        ("Patient/p-1", None),
    ],
)
def test_subject_references(reference: object, expected: str | None) -> None:
    assert patient_of(reference) == expected


def test_ids_file(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("# ward 7\np-2\n\nPatient/p-1  # from the EHR\np-2\n", encoding="utf-8")
    assert read_ids_file(path) == ("p-2", "p-1")
    path.write_text("p-1\nnot an id!\n", encoding="utf-8")
    with pytest.raises(CohortError, match=r"ids.txt:2"):
        read_ids_file(path)
    with pytest.raises(CohortError, match="cannot read"):
        read_ids_file(tmp_path / "missing.txt")


# --- fingerprints -----------------------------------------------------------------------------------------------


def test_grade_summary_and_changes() -> None:
    assessment = {
        "icaht": {"early": {"grade": "II"}, "late": {"grade": None}},
        "t_icaht": {"early": {"grade": "I"}, "late": {"grade": None}},
        "lineages": {"neutrophils": {"ctcae": {"v4.03": 3, "v5.0": 4}}, "platelets": {"ctcae": {"v5.0": 2}}},
    }
    grades = grade_summary(assessment)
    assert grades == {
        "ICAHT early": "II",
        "ICAHT late": None,
        "T-ICAHT early": "I",
        "T-ICAHT late": None,
        "neutrophils CTCAE v5.0": 4,
        "platelets CTCAE v5.0": 2,
    }
    assert grade_changes(None, grades) == {}
    assert grade_changes(grades, {**grades, "ICAHT early": "III"}) == {"ICAHT early": ["II", "III"]}
    site = {"outcome": {"name": "pht_seed000"}, "probability": None}
    before = grade_summary({**assessment, "risk": {"site_model": site}})
    after = grade_summary({**assessment, "risk": {"site_model": {**site, "probability": 0.2349}}})
    assert grade_changes(before, after) == {"site model pht_seed000": [None, "23%"]}


def test_profile_hash_is_stable_and_sees_thresholds() -> None:
    profile = default_profile()
    assert profile_hash(profile) == profile_hash(default_profile())
    changed = type(profile)(**{**profile.__dict__, "thresholds": {**profile.thresholds, "x": 1}})
    assert profile_hash(changed) != profile_hash(profile)


# --- write-back -------------------------------------------------------------------------------------------------

T0 = datetime(2031, 1, 2, 3, 4, tzinfo=UTC)


def _alert(code: str, state: str, urgency: str = "critical") -> AlertView:
    resolved = T0 if state == "resolved" else None
    return AlertView(
        f"uid-{code}", "p1", code, state, urgency, None, None, "summary", "rule", "cite", [], 5, 1, 1, None, T0,
        None, None, resolved, None,
    )  # fmt: skip


def test_write_back_resources_validate_and_update_by_identifier() -> None:
    alerts = [_alert("platelet-transfusion", "new"), _alert("gcsf-therapeutic", "resolved", "warning")]
    ra = risk_assessment("p1", {"as_of": "2031-01-02"}, {"ICAHT early": "II", "ICAHT late": None}, alerts)
    assert ra["occurrenceDateTime"] == "2031-01-02"
    assert [p["qualitativeRisk"]["coding"][0]["code"] for p in ra["prediction"]] == ["high"], "open alerts only"
    flags = [flag("p1", a) for a in alerts]
    assert [f["status"] for f in flags] == ["active", "inactive"]
    assert flags[1]["period"] == {"start": T0.isoformat(), "end": T0.isoformat()}
    bundle = write_back_bundle([ra, *flags])
    assert [e["request"]["url"] for e in bundle["entry"]] == [
        "RiskAssessment?identifier=urn:cds-cyto:risk-assessment|p1",
        "Flag?identifier=urn:cds-cyto:alert|uid-platelet-transfusion",
        "Flag?identifier=urn:cds-cyto:alert|uid-gcsf-therapeutic",
    ]
    assert {e["request"]["method"] for e in bundle["entry"]} == {"PUT"}


def test_write_back_carries_the_site_models_probability_with_its_validation() -> None:
    site = {
        "label": "Site-calibrated model",
        "status": "scored",
        "probability": 0.2345,
        "outcome": {"definition": "prolonged hematological toxicity"},
        "validation": {
            "auc_cv": 0.74,
            "auc_cv_ci95": [0.68, 0.8],
            "calibration_slope": 0.91,
            "calibration_intercept": -0.04,
        },
        "training": {"n": 300, "events": 80, "created": "2026-12-01"},
    }
    ra = risk_assessment("p1", {"as_of": "2031-01-02", "risk": {"site_model": site}}, {}, [])
    (pred,) = ra["prediction"]
    assert pred["probabilityDecimal"] == 0.2345
    assert "AUC 0.74 (95% CI 0.68-0.80), calibration slope 0.91" in pred["rationale"]
    write_back_bundle([ra])  # validates against the FHIR models
    not_scored = {**site, "status": "not-scored", "probability": None}
    assert "prediction" not in risk_assessment("p1", {"risk": {"site_model": not_scored}}, {}, [])


def test_an_invalid_resource_is_never_sent() -> None:
    bad = flag("p1", _alert("platelet-transfusion", "new")) | {"period": {"start": "yesterday"}}
    with pytest.raises(WriteBackError, match="Flag does not validate"):
        write_back_bundle([bad])


# --- settings and schedules -------------------------------------------------------------------------------------


def test_schedules_from_settings() -> None:
    assert schedule_trigger(Settings()) is None
    assert isinstance(schedule_trigger(Settings(sweep_interval_minutes=30)), IntervalTrigger)
    assert isinstance(schedule_trigger(Settings(sweep_cron="0 6 * * *", timezone="Europe/Berlin")), CronTrigger)
    with pytest.raises(ValueError):
        schedule_trigger(Settings(sweep_cron="every morning"))
    with pytest.raises(ValidationError, match="not both"):
        Settings(sweep_interval_minutes=5, sweep_cron="0 6 * * *")
    with pytest.raises(ValidationError, match="together"):
        Settings(smart_token_url="https://auth.example/token")


def test_today_is_the_site_calendar_day() -> None:
    late_evening_utc = datetime(2031, 6, 1, 23, 30, tzinfo=UTC)
    assert site_today(Settings(timezone="Europe/Berlin"), late_evening_utc) == date(2031, 6, 2)
    assert site_today(Settings(timezone="America/New_York"), late_evening_utc) == date(2031, 6, 1)
    assert site_today(Settings(as_of=date(2030, 1, 1)), late_evening_utc) == date(2030, 1, 1)


def test_sweep_config_needs_a_fhir_server() -> None:
    with pytest.raises(ValueError, match="no FHIR server"):
        sweep_config(Settings())
    config = sweep_config(
        Settings(fhir_base_url="http://127.0.0.1:1/fhir", sweep_lookback_days=30), as_of=date(2031, 1, 1)
    )
    assert (config.cohort.lookback_days, config.as_of, config.write_back) == (30, date(2031, 1, 1), False)
