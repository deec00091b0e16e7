"""`evaluate(record, as_of, profile) -> Assessment`: the one pure core every door calls.

No I/O, no clock, no globals: the same record, date and profile always give the same Assessment, so a card, a
sweep row, a CLI line and a report cell cannot disagree. `Assessment.to_json()` is the documented contract
(README, "Assessment JSON").
"""

from __future__ import annotations

from datetime import date

from cds_cyto.core.assessment.result import Assessment, LineageAssessment
from cds_cyto.core.extract.record import DataProblem, LabResult, PatientRecord
from cds_cyto.core.grading.episodes import Episode, find_episodes
from cds_cyto.core.grading.icaht import (
    early_icaht,
    early_t_icaht,
    late_icaht,
    late_t_icaht,
)
from cds_cyto.core.grading.interval import Value, below, ctcae_grade, interval_of, order_key
from cds_cyto.core.grading.pht import pht_seed000, pht_seed001
from cds_cyto.core.profile import LINEAGES, Profile, default_profile
from cds_cyto.core.recommend.cytopenia import recommend
from cds_cyto.core.risk import assess_risk

__all__ = ["evaluate", "latest_result_date"]

EPISODE_LINEAGES = ("neutrophils", "hemoglobin", "platelets")


def _below(r: LabResult, cut: float | None) -> bool | None:
    return None if cut is None else below(r, cut)


def _latest_on_or_before(series: list[LabResult], as_of: date) -> LabResult | None:
    latest = None
    for r in series:
        if r.local_date > as_of:
            break
        latest = r
    return latest


def _lineage(
    lineage: str,
    series: list[LabResult],
    as_of: date,
    day0: date | None,
    record: PatientRecord,
    profile: Profile,
) -> LineageAssessment:
    upto = [r for r in series if r.local_date <= as_of]
    latest = upto[-1] if upto else None
    seed000 = profile.definitions["seed000"]
    seed001 = profile.definitions["seed001"]
    grades: dict[str, int | None] = {}
    exact: dict[str, bool] = {}
    severe = grade3plus = cytopenia = None
    if latest is not None:
        lln = latest.lln if latest.lln is not None else profile.lln_defaults.get(lineage)
        for version, terms in profile.ctcae.items():
            g = ctcae_grade(terms[lineage], latest, lln)
            grades[version] = None if g is None else g.lowest
            exact[version] = g is None or g.exact
        severe = _below(latest, seed000.severe.get(lineage))
        grade3plus = _below(latest, seed001.severe.get(lineage, profile.grade3plus_extra.get(lineage)))
        cut = seed000.cytopenia.get(lineage)
        if cut is None and lineage in seed000.cytopenia_by_sex:
            sex = record.demographics.sex
            cut = seed000.cytopenia_by_sex[lineage].get(sex) if sex else None
        cytopenia = _below(latest, cut)
    else:
        grades = dict.fromkeys(profile.ctcae)
    nadir = None
    baseline = None
    episodes: list[Episode] = []
    if day0 is not None:
        for r in upto:
            if r.local_date < day0:
                baseline = r
                continue
            if nadir is None or r.value < nadir[0] or (r.value == nadir[0] and order_key(r) < order_key(nadir[2])):
                nadir = (r.value, (r.local_date - day0).days, r)
        if lineage in EPISODE_LINEAGES:
            # in the order of their days (the dates as written): with mixed UTC offsets, instant order can put a
            # later day first, and a recovery would then precede its onset
            by_day = sorted(upto, key=lambda r: r.local_date)
            for definition in (seed000, seed001):
                episodes += find_episodes(
                    definition.name,
                    by_day,
                    day0,
                    definition.severe[lineage],
                    definition.recovery[lineage],
                    record.events,
                )
    return LineageAssessment(lineage, latest, grades, severe, grade3plus, cytopenia, nadir, baseline, episodes, exact)


def _points(series: list[LabResult], day0: date, as_of: date) -> list[tuple[int, Value]]:
    """(day, value) with a censored result as its interval: day counting compares intervals, never bounds."""
    return [
        ((r.local_date - day0).days, r.value if r.censored is None else interval_of(r))
        for r in series
        if r.local_date <= as_of
    ]


def latest_result_date(record: PatientRecord) -> date | None:
    # the latest written date, not the date of the latest instant: with mixed UTC offsets they can differ
    dates = [r.local_date for s in record.labs.values() for r in s]
    return max(dates) if dates else None


def evaluate(
    record: PatientRecord, as_of: date | None = None, profile: Profile | None = None, disease: str | None = None
) -> Assessment:
    """Assess `record` as it stood at the end of `as_of` (default: the date of its latest result).

    The patient's disease is the record's (its Conditions); `disease` (any spelling of risk.toml disease_aliases)
    stands in only when the record has none, before the site's setting (risk/disease.py). It selects which
    published risk factors apply, the CAR-HEMATOTOX caveats and whether the site model applies.
    """
    profile = profile or default_profile()
    day0 = record.infusion_date
    if as_of is None:
        as_of = latest_result_date(record) or day0
    lineages: dict[str, LineageAssessment] = {}
    if as_of is not None:
        for lineage in LINEAGES:
            lineages[lineage] = _lineage(lineage, record.series(lineage), as_of, day0, record, profile)
    icaht_early = icaht_late = t_early = t_late = None
    pht: dict[str, bool | None] = {"seed000": None, "seed001": None}
    day = None
    problems = list(record.problems)
    if day0 is None:
        problems.append(
            DataProblem(
                "Patient",
                "no-infusion",
                "no CAR-T infusion found: day numbering, episodes and ICAHT need it",
            )
        )
    elif as_of is not None:
        day = (as_of - day0).days
        anc = _points(record.series("neutrophils"), day0, as_of)
        plt = _points(record.series("platelets"), day0, as_of)
        icaht_early = early_icaht(anc, day, profile.icaht)
        icaht_late = late_icaht(anc, day, profile.icaht)
        t_early = early_t_icaht(plt, day, profile.icaht)
        t_late = late_t_icaht(plt, day, profile.icaht)
        points = {lin: _points(record.series(lin), day0, as_of) for lin in EPISODE_LINEAGES}
        window = (int(profile.pht["window"][0]), int(profile.pht["window"][1]))
        pht["seed000"] = pht_seed000(
            points, profile.definitions["seed000"].severe, day, int(profile.pht["day"]), window
        )
        seed001_eps = {lin: [e for e in lineages[lin].episodes if e.profile == "seed001"] for lin in EPISODE_LINEAGES}
        pht["seed001"] = pht_seed001(seed001_eps, points, day, int(profile.pht["seed001_day"]))
    assessment = Assessment(
        patient_id=record.patient_id,
        as_of=as_of,
        infusion_date=day0,
        day=day,
        lineages=lineages,
        icaht_early=icaht_early,
        icaht_late=icaht_late,
        t_icaht_early=t_early,
        t_icaht_late=t_late,
        pht_day28=pht,
        data_problems=problems,
        profile_versions=dict(profile.versions),
        record=record,
    )
    if as_of is not None:
        assessment.risk = assess_risk(record, as_of, profile, disease)
        if assessment.risk.disease_choice.problem is not None:
            assessment.data_problems.append(assessment.risk.disease_choice.problem)
    assessment.recommendations = recommend(assessment, profile)
    return assessment
