"""Behaviour fixed after the clinical review of the core (each test names the rule it protects)."""

from __future__ import annotations

from cds_cyto.core.extract import extract_record
from tests.core.harness import problem_codes, run
from tests.support.fhir import bundle, infusion, obs, patient


def test_a_repeated_resource_id_keeps_the_newest_copy_so_an_amendment_supersedes() -> None:
    # §1: amended/corrected supersede — also when the amendment reuses the resource id.
    first = obs("neutrophils", 0.3, "10*9/L", day=5, id="anc-x")
    amended = obs("neutrophils", 0.7, "10*9/L", day=5, id="anc-x", status="amended")
    record = extract_record(bundle(patient(), infusion(), first, amended))
    assert [r.value for r in record.series("neutrophils")] == [0.7]
    assert "duplicate" in [p.code for p in record.problems]


def test_an_older_version_listed_later_does_not_win() -> None:
    newer = obs("neutrophils", 0.7, "10*9/L", day=5, id="anc-y", status="amended")
    newer["meta"] = {"versionId": "2", "lastUpdated": "2024-03-06T10:00:00Z"}
    older = obs("neutrophils", 0.3, "10*9/L", day=5, id="anc-y")
    older["meta"] = {"versionId": "1", "lastUpdated": "2024-03-06T08:00:00Z"}
    record = extract_record(bundle(patient(), infusion(), newer, older))
    assert [r.value for r in record.series("neutrophils")] == [0.7]


def test_an_unusable_reference_low_is_reported_not_silently_dropped() -> None:
    a = run(patient(), infusion(), obs("neutrophils", 1.6, "10*9/L", day=3, low=1800, low_unit="10*9/L"))
    assert a.lineages["neutrophils"].ctcae["5.0"] is None  # no LLN: grade 0 vs 1 cannot be told
    assert "lln-unusable" in problem_codes(a)


def test_a_range_without_low_is_not_a_problem() -> None:
    o = obs("neutrophils", 1.6, "10*9/L", day=3)
    o["referenceRange"] = [{"high": {"value": 7.5, "unit": "10*9/L"}}]
    assert "lln-unusable" not in problem_codes(run(patient(), infusion(), o))


def test_derived_anc_is_rounded_like_a_converted_value() -> None:
    wbc = obs("leukocytes", 0.7, "10*9/L", day=4, id="wbc-1")
    pct = obs("neutrophils_pct", 70, "%", day=4, id="pct-1")
    record = extract_record(bundle(patient(), infusion(), wbc, pct))
    (anc,) = record.series("neutrophils")
    assert anc.derived and anc.value == 0.49
