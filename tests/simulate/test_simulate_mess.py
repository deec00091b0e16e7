"""Each mess switch produces what it claims, is recorded, and keeps out of the ground truth where it should."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from cds_cyto.simulate import CohortSpec, SimulatedPatient, plan_cohort, simulate_patient
from cds_cyto.simulate.catalogue import ANALYTES, MANUAL_ANC, UCUM
from cds_cyto.simulate.mess import DATA_PROBLEM_KINDS, canonical_value, plausible_bounds

ALL_KINDS = {
    "unit_variant",
    "manual_code",
    "amended",
    "entered_in_error",
    "duplicate",
    "missing_day",
    "weekend_gap",
    "unparseable_unit",
    "implausible_value",
}
_BY_LOINC = {spec.coding.code: spec for spec in ANALYTES.values()}


def resources_by_id(patient: SimulatedPatient) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in patient.resources()}


def day_of(patient: SimulatedPatient, timestamp: str) -> int:
    return (date.fromisoformat(timestamp[:10]) - patient.plan.infusion_date).days


def test_no_mess_means_no_items_final_results_and_canonical_units(clean_patients: list[SimulatedPatient]) -> None:
    for p in clean_patients:
        assert p.mess == [] and p.truth["mess"] == []
        for r in p.resources():
            if r["resourceType"] != "Observation":
                continue
            assert r["status"] == "final"
            q = r.get("valueQuantity")
            if q is not None:
                spec = _BY_LOINC.get(r["code"]["coding"][0]["code"]) or ANALYTES["marrow_blasts"]
                assert (q["system"], q["code"], q["unit"]) == (UCUM, spec.unit, spec.unit)


def test_heavy_mess_injects_every_kind(heavy_patients: list[SimulatedPatient]) -> None:
    kinds = Counter(m.kind for p in heavy_patients for m in p.mess)
    assert set(kinds) == ALL_KINDS, kinds


def test_each_item_is_what_it_claims(heavy_patients: list[SimulatedPatient]) -> None:
    for p in heavy_patients:
        res = resources_by_id(p)
        charted = {c.id: c for c in p.charted}
        anc_days = {
            day_of(p, r["effectiveDateTime"])
            for r in res.values()
            if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] in ("751-8", "753-4")
        }
        for m in p.mess:
            if m.resource is None:
                assert m.kind in ("missing_day", "weekend_gap")
                assert m.day not in anc_days
                if m.kind == "weekend_gap":
                    assert (p.plan.infusion_date.weekday() + m.day) % 7 in (5, 6)
                continue
            r = res[m.resource.removeprefix("Observation/")]
            q = r.get("valueQuantity", {})
            assert day_of(p, r["effectiveDateTime"]) == m.day
            if m.kind == "unit_variant":
                spec = ANALYTES[m.analyte]
                assert q["code"] == m.detail != spec.unit
                assert charted[r["id"]].canonical == canonical_value(m.analyte, q["value"], q["code"])
                if "referenceRange" in r:
                    assert r["referenceRange"][0]["low"]["code"] == q["code"]
            elif m.kind == "manual_code":
                assert r["code"]["coding"][0]["code"] == MANUAL_ANC.code
            elif m.kind == "amended":
                prelim = res[f"{r['id']}-p"]
                assert (r["status"], prelim["status"]) == ("amended", "preliminary")
                assert prelim["code"] == r["code"] and prelim["effectiveDateTime"] == r["effectiveDateTime"]
                assert prelim["valueQuantity"]["value"] != q["value"]
            elif m.kind == "entered_in_error":
                original = res[r["id"].removesuffix("-e")]
                assert r["status"] == "entered-in-error"
                assert (original["code"], original["effectiveDateTime"]) == (r["code"], r["effectiveDateTime"])
            elif m.kind == "duplicate":
                original = res[r["id"].removesuffix("-d")]
                assert {**original, "id": r["id"]} == r
            elif m.kind == "unparseable_unit":
                assert q["unit"] == "cells" and "code" not in q and "system" not in q
            elif m.kind == "implausible_value":
                lo, hi = plausible_bounds(m.analyte)
                assert not lo <= q["value"] <= hi
                assert q["code"] == ANALYTES[m.analyte].unit
            else:
                raise AssertionError(m.kind)


def test_data_problems_are_flagged_and_kept_out_of_the_truth(heavy_patients: list[SimulatedPatient]) -> None:
    for p in heavy_patients:
        charted = {c.id: c for c in p.charted}
        problems = [m for m in p.mess if m.data_problem]
        assert {m.kind for m in problems} <= DATA_PROBLEM_KINDS
        for m in problems:
            assert m.resource is not None
            assert charted[m.resource.removeprefix("Observation/")].counts is False
        assert [m["data_problem"] for m in p.truth["mess"]] == [m.data_problem for m in p.mess]
        for lineage, entry in p.truth["lineages"].items():
            lo, hi = plausible_bounds(lineage)
            for profile in ("seed000", "seed001"):
                for ep in entry[profile]["episodes"]:
                    assert lo <= ep["nadir_value"] <= hi


def test_only_one_copy_of_a_repeated_result_counts(heavy_patients: list[SimulatedPatient]) -> None:
    for p in heavy_patients:
        counted = Counter((c.analyte, c.day, c.minute) for c in p.charted if c.counts)
        assert max(counted.values()) == 1


def test_default_mess_is_light(cut_patients: list[SimulatedPatient]) -> None:
    per_patient = [len(p.mess) for p in cut_patients]
    problems = sum(m.data_problem for p in cut_patients for m in p.mess)
    assert 1 <= sum(per_patient) / len(per_patient) <= 20
    assert problems <= len(cut_patients)


def test_mess_does_not_change_the_clinical_course() -> None:
    clean, messy = (
        simulate_patient(plan_cohort(spec)[1], spec)
        for spec in (CohortSpec(n=2, seed=3, mess="none"), CohortSpec(n=2, seed=3, mess="heavy"))
    )
    assert clean.truth["latent"] == messy.truth["latent"]
    assert clean.events == messy.events
    untouched = {c.id: c for c in messy.charted if c.counts and c.status == "final"}
    touched = {m.resource.removeprefix("Observation/") for m in messy.mess if m.resource}
    for c in clean.charted:
        if c.id in untouched and c.id not in touched:
            assert untouched[c.id].value == c.value


def test_without_mess_every_value_is_plausible() -> None:
    spec = CohortSpec(n=100, disease="mixed", seed=17, mess="none")
    for plan in plan_cohort(spec):
        for c in simulate_patient(plan, spec).charted:
            if c.analyte != "crs_grade":
                lo, hi = plausible_bounds(c.analyte)
                assert c.canonical is not None and lo <= c.canonical <= hi, (plan.patient_id, c)


def test_the_truth_only_shortcut_gives_the_same_truth() -> None:
    spec = CohortSpec(n=4, disease="mixed", seed=8, mess="none")
    for plan in plan_cohort(spec):
        assert simulate_patient(plan, spec, truth_only=True).truth == simulate_patient(plan, spec).truth
