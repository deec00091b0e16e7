"""The patient's disease (clinical-reference.md §9): read from the Conditions (ICD-10-CM C91.0x B-ALL, C83.3x
DLBCL/LBCL, C85.2x primary mediastinal, C82.x follicular, C83.1x mantle cell, C90.0x myeloma; SNOMED CT codes a site
adds), else the disease a caller states for a patient without one, else the site's setting, else unknown — and
the same disease reaches every door (the CLI, the hook, the sweep, the analytics)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.profile import ProfileError, default_profile, load_profile
from cds_cyto.core.risk import assess_risk
from tests.risk.risk_fhir import FLUDARABINE, baseline_labs, bundle, infusion, med, record_of
from tests.support.fhir import ICD10CM, SNOMED, Json, day_date

REPO = Path(__file__).resolve().parents[2]


def diagnosis(code: str, *, system: str = ICD10CM, status: str | None = None, id: str = "dx1") -> Json:
    res: Json = {
        "resourceType": "Condition",
        "id": id,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"},
    }
    if status is not None:
        res["verificationStatus"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": status}]
        }
    return res


def _risk(*resources: Json, disease: str | None = None, profile: Any = None) -> Any:
    record = record_of(infusion(), med(FLUDARABINE, -5), baseline_labs(-6), *resources)
    return assess_risk(record, day_date(0), profile or default_profile(), disease)


# (code, the family the rules apply, the group) — written from §9, not read from codes.toml
FAMILIES = [
    ("C91.00", "ALL", "B-ALL"),
    ("C91.01", "ALL", "B-ALL"),
    ("C83.30", "NHL", "DLBCL"),
    ("C8338", "NHL", "DLBCL"),  # written without the dot
    ("C85.20", "NHL", "PMBCL"),
    ("C82.0", "NHL", "FL"),
    ("C82.99", "NHL", "FL"),
    ("C83.10", "NHL", "MCL"),
    ("C90.00", "MM", "MM"),
    ("c90.01", "MM", "MM"),  # case folded
]


@pytest.mark.parametrize(("code", "family", "group"), FAMILIES)
def test_each_code_family(code: str, family: str, group: str) -> None:
    record = record_of(diagnosis(code))
    assert record.diagnosis is not None
    assert (record.diagnosis.disease, record.diagnosis.groups, record.diagnosis.source_id) == (
        family,
        (group,),
        "Condition/dx1",
    )
    risk = _risk(diagnosis(code))
    assert (risk.disease, risk.disease_choice.source) == (family, "condition")


@pytest.mark.parametrize("code", ["C92.00", "C83.50", "C91.10", "C90.10", "C85.10", "D89.832"])
def test_other_codes_are_no_disease(code: str) -> None:
    # AML, lymphoblastic lymphoma, CLL, plasma-cell leukaemia, unspecified B-cell lymphoma, CRS
    assert record_of(diagnosis(code)).diagnosis is None


def test_the_prefix_is_matched_only_in_icd10cm() -> None:
    assert record_of(diagnosis("C83.30", system="http://example.org/local")).diagnosis is None


@pytest.mark.parametrize("status", ["refuted", "entered-in-error"])
def test_a_refuted_diagnosis_does_not_count(status: str) -> None:
    record = record_of(diagnosis("C91.00", status=status))
    assert record.diagnosis is None
    assert [(p.code, p.severity) for p in record.problems] == [("status-excluded", "info")]
    assert record_of(diagnosis("C91.00", status="confirmed")).diagnosis is not None


def test_two_conflicting_diseases_are_a_data_problem_and_no_disease() -> None:
    record = record_of(diagnosis("C91.00", id="a"), diagnosis("C83.30", id="b"))
    assert record.diagnosis is None
    (problem,) = [p for p in record.problems if p.code == "disease-conflict"]
    assert problem.severity == "warning" and "Condition/a" in problem.reason and "Condition/b" in problem.reason
    assert _risk(diagnosis("C91.00", id="a"), diagnosis("C83.30", id="b")).disease_choice.source == "unknown"


def test_two_groups_of_one_family_are_that_family() -> None:
    # a transformed follicular lymphoma charted beside its DLBCL
    dx = record_of(diagnosis("C82.00", id="a"), diagnosis("C83.30", id="b")).diagnosis
    assert dx is not None and (dx.disease, dx.groups) == ("NHL", ("FL", "DLBCL"))


def test_a_site_adds_snomed_codes() -> None:
    profile = load_profile(site={"disease": {"groups": {"DLBCL": {"extra_codes": [f"{SNOMED}|1187248008"]}}}})
    assert record_of(diagnosis("1187248008", system=SNOMED)).diagnosis is None
    dx = extract_record(bundle(diagnosis("1187248008", system=SNOMED)), profile).diagnosis
    assert dx is not None and dx.disease == "NHL"


def test_the_site_setting_stands_in_without_a_problem_list() -> None:
    profile = load_profile(site={"disease": {"default": "b-all"}})
    risk = _risk(profile=profile)
    assert (risk.disease, risk.disease_choice.source) == ("ALL", "site setting")
    assert "poor discrimination" in risk.to_json()["hematotox"]["caveat"]
    # a recorded diagnosis wins over the setting
    assert _risk(diagnosis("C83.30"), profile=profile).disease == "NHL"
    with pytest.raises(ProfileError, match="unknown disease"):
        load_profile(site={"disease": {"default": "leukaemia"}})


def test_a_given_disease_stands_in_only_without_a_recorded_one() -> None:
    given = _risk(disease="nhl")
    assert (given.disease, given.disease_choice.source) == ("NHL", "given")
    recorded = _risk(diagnosis("C91.00"), disease="NHL")
    assert (recorded.disease, recorded.disease_choice.source) == ("ALL", "condition")
    problem = recorded.disease_choice.problem
    assert problem is not None and problem.code == "disease-given-differs" and problem.severity == "info"
    record = record_of(infusion(), med(FLUDARABINE, -5), baseline_labs(-6), diagnosis("C91.00"))
    a = evaluate(record, day_date(0), default_profile(), "NHL")
    assert any(p.code == "disease-given-differs" for p in a.data_problems)
    assert a.to_json()["risk"]["disease"] == {
        "value": "ALL",
        "source": "condition",
        "evidence": "Condition/dx1: C91.00 (B-ALL)",
    }


def test_the_hook_and_the_cli_see_the_same_disease() -> None:
    # evaluate() without a disease (what the hook and the sweep call) reads it from the record
    record = record_of(infusion(), med(FLUDARABINE, -5), baseline_labs(-6), diagnosis("C91.00"))
    risk = evaluate(record, day_date(0), default_profile()).risk
    assert risk is not None and risk.disease == "ALL" and "caveat" in risk.to_json()["hematotox"]


# ---- one vocabulary for every command's --disease ----------------------------------------------------------------


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_CYTO_")}
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "cds_cyto", *argv]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


SPELLINGS = [("ALL", "ALL"), ("all", "ALL"), ("B-ALL", "ALL"), ("b-all", "ALL"), ("nhl", "NHL"), ("B-NHL", "NHL")]
BUNDLE = REPO / "fixtures" / "cohort" / "syn-all-0000.json"


@pytest.mark.parametrize(("spelling", "disease"), SPELLINGS)
def test_every_command_takes_the_same_spellings(spelling: str, disease: str, tmp_path: Path) -> None:
    out = _cli("evaluate", str(BUNDLE), "--as-of", "2026-06-21", "--format", "json", "--disease", spelling)
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout)["risk"]["disease"]["value"] == disease
    # analyze and simulate parse the value and go on to the next check (an error after argument parsing)
    out = _cli("analyze", "--bundles", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--disease", spelling)
    assert out.returncode == 2 and "not a directory" in out.stderr, out.stderr
    out = _cli("simulate", "--disease", spelling)
    assert out.returncode == 2 and "--out DIR is required" in out.stderr, out.stderr


@pytest.mark.parametrize(
    "command", [["evaluate", str(BUNDLE)], ["analyze", "--bundles", ".", "--out", "."], ["simulate"]]
)
def test_every_command_refuses_an_unknown_disease_alike(command: list[str]) -> None:
    out = _cli(*command, "--disease", "leukaemia")
    assert out.returncode == 2 and "unknown disease 'leukaemia'" in out.stderr, out.stderr


def test_help_text_is_the_same_vocabulary() -> None:
    for command in ("evaluate", "analyze", "simulate"):
        text = " ".join(_cli(command, "--help").stdout.split())
        assert (
            "ALL (also B-ALL), NHL (also B-NHL, LBCL, DLBCL, PMBCL, FL, MCL) or MM (also myeloma), in any case" in text
        )


def test_a_command_refuses_a_disease_it_cannot_use() -> None:
    out = _cli("simulate", "--disease", "mm")
    assert out.returncode == 2 and "this command takes ALL, NHL" in out.stderr, out.stderr


# ---- the prefix match, as a property ------------------------------------------------------------------------------

PREFIXES = {"C91.0": "ALL", "C83.3": "NHL", "C85.2": "NHL", "C82": "NHL", "C83.1": "NHL", "C90.0": "MM"}


@given(
    prefix=st.sampled_from(sorted(PREFIXES)),
    tail=st.text(alphabet="0123456789ABXZ", max_size=3),
    dotted=st.booleans(),
    lower=st.booleans(),
)
def test_every_code_under_a_prefix_is_its_family(prefix: str, tail: str, dotted: bool, lower: bool) -> None:
    code = prefix + tail if dotted or "." not in prefix else prefix.replace(".", "") + tail
    if lower:
        code = code.lower()
    group = default_profile().disease.group_of(f"{ICD10CM}|{code}")
    assert group is not None and group.family == PREFIXES[prefix]


@given(code=st.text(alphabet="CD0123456789.", min_size=1, max_size=7))
def test_no_code_outside_the_prefixes_is_a_disease(code: str) -> None:
    plain = code.replace(".", "").upper()
    inside = any(plain.startswith(p.replace(".", "")) for p in PREFIXES)
    assert (default_profile().disease.group_of(f"{ICD10CM}|{code}") is not None) is inside
