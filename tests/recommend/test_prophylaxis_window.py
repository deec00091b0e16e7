"""Prophylactic G-CSF is advice to start it (clinical-reference.md §8): only from day +2 (gcsf_prophylaxis.from_day)
to day +7 (start_until_day), while no G-CSF was given, never once a neutropenia episode has recovered; its rule
text says what was checked of the ANC."""

from __future__ import annotations

import pytest

from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.profile import load_profile
from tests.core.harness import run
from tests.support.fhir import FILGRASTIM, Json, baseline_panel, infusion, med_admin, obs, patient

HIGH_RISK = baseline_panel(plt=100.0, anc=1.0)  # CAR-HEMATOTOX 2


def prophylaxis(a: Assessment) -> list[str]:
    return [r.rule for r in a.recommendations if r.code == "gcsf-prophylaxis"]


@pytest.mark.parametrize(("day", "fires"), [(1, False), (2, True), (7, True), (8, False), (30, False)])
def test_only_inside_the_start_window(day: int, fires: bool) -> None:
    a = run(patient(), infusion(), HIGH_RISK, obs("neutrophils", 2.5, "10*9/L", day=day), as_of_day=day)
    assert bool(prophylaxis(a)) is fires


def test_the_text_says_start_inside_the_window() -> None:
    a = run(patient(), infusion(), HIGH_RISK, obs("neutrophils", 2.5, "10*9/L", day=7), as_of_day=7)
    (rec,) = [r for r in a.recommendations if r.code == "gcsf-prophylaxis"]
    assert "Consider starting prophylactic G-CSF (5 µg/kg/day) now, day +7 (start window day +2 to +7" in rec.text
    assert "starting prophylactic G-CSF" in rec.summary


def test_the_window_is_site_data() -> None:
    wider = load_profile(site={"thresholds": {"gcsf_prophylaxis": {"start_until_day": 10}}})
    resources: list[Json | list[Json]] = [patient(), infusion(), HIGH_RISK, obs("neutrophils", 2.5, "10*9/L", day=10)]
    assert not prophylaxis(run(*resources, as_of_day=10))
    assert prophylaxis(run(*resources, as_of_day=10, profile=wider))


@pytest.mark.parametrize(("gcsf", "fires"), [([], True), ([med_admin(FILGRASTIM, 1)], False)])
def test_not_once_g_csf_was_given(gcsf: list[Json], fires: bool) -> None:
    a = run(patient(), infusion(), HIGH_RISK, gcsf, obs("neutrophils", 2.5, "10*9/L", day=4), as_of_day=4)
    assert bool(prophylaxis(a)) is fires


def test_never_once_anc_has_recovered() -> None:
    # ANC < 0.5 on days 2 to 3, then ≥ 0.5 on three days (4, 5, 6): the seed 000 episode recovered on day 4
    anc = [obs("neutrophils", v, "10*9/L", day=d) for d, v in ((2, 0.4), (3, 0.3), (4, 0.8), (5, 1.1), (6, 1.6))]
    a = run(patient(), infusion(), HIGH_RISK, anc, as_of_day=6)
    assert not prophylaxis(a)
    not_yet = run(patient(), infusion(), HIGH_RISK, anc[:4], as_of_day=5)  # one result ≥ 0.5 so far: not recovered
    assert prophylaxis(not_yet)


@pytest.mark.parametrize(
    ("anc", "said"),
    [
        ([obs("neutrophils", 2.5, "10*9/L", day=4)], "latest ANC 2.5 ×10⁹/L on day +4 not below 0.5"),
        ([obs("neutrophils", 2.5, "10*9/L", day=0)], "latest ANC 2.5 ×10⁹/L on day 0 is 4 days old"),
        ([], "no ANC since infusion"),
        ([obs("neutrophils", 0.8, "10*9/L", day=4, comparator="<")], "cannot tell whether below 0.5"),
    ],
)
def test_the_rule_text_says_what_was_checked_of_the_anc(anc: list[Json], said: str) -> None:
    (rule,) = prophylaxis(run(patient(), infusion(), HIGH_RISK, anc, as_of_day=4))
    assert said in rule
    if "not below" not in said:
        assert "not below" not in rule  # never "latest ANC not below …" over a stale, absent or undecided ANC


@pytest.mark.parametrize(("anc_day", "as_of_day", "both_absent"), [(-1, 2, True), (-1, 3, False), (-2, 2, False)])
def test_one_g_csf_card_when_a_pre_infusion_anc_is_fresh_and_low(
    anc_day: int, as_of_day: int, both_absent: bool
) -> None:
    # ANC 0.3 the day before infusion, none since: on day +2 it is fresh (3 days) and the therapeutic card speaks;
    # prophylaxis must not add a second G-CSF card (and a second draft) with "no ANC since infusion"
    a = run(patient(), infusion(), HIGH_RISK, obs("neutrophils", 0.3, "10*9/L", day=anc_day), as_of_day=as_of_day)
    codes = [r.code for r in a.recommendations]
    assert codes.count("gcsf-therapeutic") + codes.count("gcsf-prophylaxis") <= 1, codes
    assert (not prophylaxis(a)) is both_absent
