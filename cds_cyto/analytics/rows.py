"""Assessments → one flat row per patient, and rows → a pandas table (the input of every analysis).

A row holds only scalars and three short daily series (days -7 to 30), so a 10,000-patient cohort is a few MB: the
raw bundles are read, assessed and dropped one patient at a time (`rows_from_files`, in a process pool).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record, extract_records, read_resources
from cds_cyto.core.extract.lean import JsonLineError, NotFhirError
from cds_cyto.core.extract.record import LabResult
from cds_cyto.core.grading.interval import ctcae_grade
from cds_cyto.core.profile import Profile, default_profile, load_profile

__all__ = [
    "DAILY_DAYS",
    "LINEAGE_KEYS",
    "MARKERS",
    "PatientRow",
    "assessment_row",
    "bundle_files",
    "cohort_table",
    "daily_table",
    "row_from_resources",
    "rows_from_files",
    "rows_from_resources",
    "support_table",
]

PatientRow = dict[str, Any]
# lineage → the short name the seeds use (SN / SA / ST)
LINEAGE_KEYS: dict[str, str] = {"neutrophils": "sn", "hemoglobin": "sa", "platelets": "st"}
MARKERS = ("il6", "il10", "ifng", "ferritin", "ddimer", "crp", "il2", "il4", "tnfa", "ldh")
DAILY_DAYS = range(-7, 31)
_PROFILES = ("seed000", "seed001")


def _f(x: float | int | None) -> float:
    return math.nan if x is None else float(x)


def _episode_fields(a: Assessment, lineage: str, profile: Profile, prefix: str, name: str) -> PatientRow:
    lin = a.lineages.get(lineage)
    row: PatientRow = {}
    threshold = profile.definitions[name].severe[lineage]
    base = None if lin is None or lin.baseline is None else lin.baseline.value
    row[f"{prefix}_before"] = math.nan if base is None else float(base < threshold)
    # no result from infusion to the as-of day (not yet infused, no counts since): unknown after infusion, never
    # "no cytopenia" — such a patient is left out of every after-infusion denominator
    observed = lin is not None and lin.nadir is not None and a.day is not None
    eps = [] if lin is None else [e for e in lin.episodes if e.profile == name]
    row[f"{prefix}_after"] = float(bool(eps)) if observed else math.nan
    new = [e for e in eps if e.new_onset and e.onset_day >= 0]
    first = new[0] if new else None
    row[f"{prefix}_new"] = float(first is not None) if observed or first is not None else math.nan
    row[f"{prefix}_onset_day"] = _f(None if first is None else first.onset_day)
    row[f"{prefix}_nadir"] = _f(None if first is None else first.nadir_value)
    # a cytopenia present before infusion and still there at day 0 is counted from day 0, not as 0 days: it is not
    # 'no cytopenia' (seed 000 Figure 4A-C and Supplementary Table 1 durations)
    carried = next((e for e in eps if e.onset_day < 0 and (e.recovery_day is None or e.recovery_day > 0)), None)
    episodes = new if new else [carried] if carried is not None else []
    row[f"{prefix}_episode"] = "new-onset" if new else "pre-existing" if carried is not None else "none"
    if episodes and a.day is not None:
        # every episode counts, as in the generator's truth (simulate/truth.py, calibration `_duration_by_marker`):
        # duration = days in severe cytopenia summed over the episodes (an open one to the as-of day); recovered =
        # the last episode recovered; recovery day = the last episode's (a later relapse is not a recovery)
        end = [e.recovery_day if e.recovery_day is not None else a.day for e in episodes]
        days = [max(x - max(e.onset_day, 0), 0) for e, x in zip(episodes, end, strict=True)]
        row[f"{prefix}_duration"] = float(sum(days))
        row[f"{prefix}_recovery_day"] = float(end[-1])
        done = float(episodes[-1].recovery_day is not None)
        row[f"{prefix}_episode_recovered"] = done
        row[f"{prefix}_recovered"] = done if new else math.nan
        row[f"{prefix}_episodes"] = float(len(episodes))
    else:
        # seed 000 Figure 4A-C: "the duration of patients without cytopenia after CAR-T cell infusion was defined
        # as 0" — only when the counts after infusion show none
        row[f"{prefix}_duration"] = 0.0 if not episodes and observed else math.nan
        row[f"{prefix}_recovery_day"] = math.nan
        row[f"{prefix}_episode_recovered"] = math.nan
        row[f"{prefix}_recovered"] = math.nan
        row[f"{prefix}_episodes"] = 0.0 if observed else math.nan
    row[f"{prefix}_nadir_day"] = _f(None if not episodes else episodes[0].nadir_day)
    return row


def _any_grade(r: LabResult | None, lineage: str, profile: Profile) -> float:
    """1 when the result is CTCAE v4.03 grade >= 1 (seed 001's version), 0 when grade 0, NaN when it cannot be told
    (no result, or no LLN for a value in the grade-1 band)."""
    if r is None:
        return math.nan
    lln = r.lln if r.lln is not None else profile.lln_defaults.get(lineage)
    g = ctcae_grade(profile.ctcae["4.03"][lineage], r, lln)
    if g is None:
        return math.nan
    return float(g.lowest >= 1)


def _daily(a: Assessment, lineage: str) -> list[float]:
    day0 = a.infusion_date
    lows: dict[int, float] = {}
    if day0 is not None:
        for r in a.record.series(lineage):
            d = (r.local_date - day0).days
            if d in DAILY_DAYS and (d not in lows or r.value < lows[d]):
                lows[d] = r.value
    return [lows.get(d, math.nan) for d in DAILY_DAYS]


def assessment_row(a: Assessment, profile: Profile | None = None) -> PatientRow:
    """The analysis row of one Assessment (`evaluate(..., disease=...)` so the risk part is filled in)."""
    profile = profile or default_profile()
    rec = a.record
    day0 = a.infusion_date
    birth = rec.demographics.birth_date
    death = rec.demographics.death_date
    death_day = None if death is None or day0 is None else (death - day0).days
    # a death dated before the infusion is a data problem (the patient was infused), not a competing death on day 0:
    # the death is not used, and the report counts such records
    bad_death = death_day is not None and death_day < 0
    row: PatientRow = {
        "patient_id": a.patient_id,
        "sex": rec.demographics.sex,
        # a birthDate after the infusion is a data problem: age unknown, never negative
        "age": math.nan if birth is None or day0 is None or birth > day0 else float(_years(birth, day0)),
        "birth_after_infusion": float(birth is not None and day0 is not None and birth > day0),
        "follow_up_day": _f(a.day),
        # Patient.deceased[x]: a death competes with every event still to come (Aalen-Johansen in survival.py)
        "deceased": math.nan
        if bad_death
        else _f(None if rec.demographics.deceased is None else int(rec.demographics.deceased)),
        "death_day": math.nan if bad_death else _f(death_day),
        "death_before_infusion": float(bad_death),
        "pht_seed000": _f(None if a.pht_day28["seed000"] is None else int(bool(a.pht_day28["seed000"]))),
        "nonrec28_seed001": _f(None if a.pht_day28["seed001"] is None else int(bool(a.pht_day28["seed001"]))),
    }
    for lineage, key in LINEAGE_KEYS.items():
        lin = a.lineages.get(lineage)
        row[f"baseline_{key}_last_pre_infusion"] = _f(
            None if lin is None or lin.baseline is None else lin.baseline.value
        )
        row[f"nadir_{key}"] = _f(None if lin is None or lin.nadir is None else lin.nadir[0])
        row[f"nadir_day_{key}"] = _f(None if lin is None or lin.nadir is None else lin.nadir[1])
        # seed 000 cytopenia (not severe), anywhere after infusion
        cut = profile.definitions["seed000"].cytopenia.get(lineage)
        if cut is None and lineage in profile.definitions["seed000"].cytopenia_by_sex and rec.demographics.sex:
            cut = profile.definitions["seed000"].cytopenia_by_sex[lineage].get(rec.demographics.sex)
        row[f"cyto_{key}_after"] = (
            math.nan if cut is None or lin is None or lin.nadir is None else float(lin.nadir[0] < cut)
        )
        # seed 001 Results 'Occurrence of cytopenia': cytopenia of any CTCAE grade (v4.03, below the LLN) at the
        # nadir after infusion (at baseline: below, from the CAR-HEMATOTOX window, as seed 001's baseline counts)
        row[f"ctcae1_{key}_after"] = _any_grade(None if lin is None or lin.nadir is None else lin.nadir[2], lineage,
                                                profile)  # fmt: skip
        row[f"ctcae1_{key}_baseline"] = math.nan
        row.update(_episode_fields(a, lineage, profile, key, "seed000"))
        row.update(_episode_fields(a, lineage, profile, f"g3_{key}", "seed001"))
    risk = a.risk
    if risk is not None:
        ht = risk.hematotox
        row["hematotox_score"] = _f(ht.score)
        row["hematotox_high"] = _f(None if ht.high_risk is None else int(ht.high_risk))
        for c in ht.components:
            row[f"baseline_{c.analyte}"] = _f(None if c.result is None else c.result.value)
            if c.analyte in LINEAGE_KEYS:  # before lymphodepletion: seed 001's "baseline cytopenia"
                row[f"ctcae1_{LINEAGE_KEYS[c.analyte]}_baseline"] = _any_grade(c.result, c.analyte, profile)
        # seed 000 Figure 1B T1: severe cytopenia before lymphodepletion (the CAR-HEMATOTOX baseline window)
        for lineage, key in LINEAGE_KEYS.items():
            v = row.get(f"baseline_{lineage}", math.nan)
            cut = profile.definitions["seed000"].severe[lineage]
            row[f"{key}_before_ld"] = math.nan if math.isnan(v) else float(v < cut)
        crs = risk.crs
        row["crs_grade"] = _f(crs.max_grade)
        row["crs_onset_day"] = _f(crs.onset_day)
        row["crs_peak_day"] = _f(crs.peak_day)
        row["crs_recovery_day"] = _f(crs.recovery_day)
        row["tocilizumab"] = float(crs.tocilizumab)
        row["corticosteroid"] = float(crs.corticosteroid)
        row["toci_or_steroid"] = float(crs.tocilizumab or crs.corticosteroid)
        for m in MARKERS:
            peak = risk.markers.get(m)
            row[f"max_lg_{m}"] = _f(None if peak is None else peak.max_lg)
        from cds_cyto.core.risk.baseline import baseline_result, marrow_baseline

        il6 = baseline_result(rec, "il6", ht.window, risk.as_of)
        row["baseline_il6"] = _f(None if il6 is None else il6.value)
        marrow = marrow_baseline(rec, risk.data, risk.as_of)
        row["tumour_burden_pct"] = _f(None if marrow is None else marrow.value)
        # the site model is fitted on the risk engine's own inputs (NaN: not known or not final), which read the
        # CRS-derived ones on the landmark day: later data cannot leak into a model scored from that day
        for name, given in risk.site_inputs.items():
            row[f"input_{name}"] = _f(given.value)
            row[f"why_{name}"] = given.missing or ""  # the participant flow says why a patient is outside the model
    events = {e.kind for e in rec.events}
    row["any_gcsf"] = float("gcsf" in events)
    row["any_rbc"] = float("rbc_transfusion" in events)
    row["any_platelet_tx"] = float("platelet_transfusion" in events)
    row["daily"] = {lineage: _daily(a, lineage) for lineage in LINEAGE_KEYS}
    row["support_days"] = _support_days(a)
    return row


# seed 000 Figure 6: supportive care by day (an event spanning days counts on each of them)
SUPPORT_KINDS: dict[str, tuple[str, ...]] = {
    "G-CSF": ("gcsf",),
    "red-cell transfusion": ("rbc_transfusion",),
    "platelet transfusion": ("platelet_transfusion",),
    "tocilizumab or corticosteroid": ("tocilizumab", "corticosteroid"),
}
SUPPORT_DAYS = range(0, 31)


def _support_days(a: Assessment) -> dict[str, list[int]]:
    day0 = a.infusion_date
    out: dict[str, list[int]] = {}
    for label, kinds in SUPPORT_KINDS.items():
        days: set[int] = set()
        if day0 is not None:
            for e in a.record.events:
                if e.kind in kinds:
                    first = (e.start - day0).days
                    last = (e.end - day0).days if e.end is not None and e.end > e.start else first
                    days.update(d for d in range(first, last + 1) if d in SUPPORT_DAYS)
        out[label] = sorted(days)
    return out


def _years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def row_from_resources(
    data: Any, as_of: date | None, disease: str | None, profile: Profile | None = None, *, patient_id: str | None = None
) -> PatientRow:
    """The row of one patient's resources (`patient_id`: whose; any other patient's are left out)."""
    profile = profile or default_profile()
    a = evaluate(extract_record(data, profile, patient_id=patient_id), as_of, profile, disease)
    return assessment_row(a, profile)


def rows_from_resources(
    data: Any, as_of: date | None, disease: str | None, profile: Profile | None = None
) -> list[PatientRow]:
    """One row per patient the data hold (`extract_records`): patients are never merged."""
    profile = profile or default_profile()
    return [assessment_row(evaluate(r, as_of, profile, disease), profile) for r in extract_records(data, profile)]


@lru_cache(maxsize=4)
def _site_profile(site: Path | None) -> Profile:
    return default_profile() if site is None else load_profile(site)


def _rows_from_file(args: tuple[Path, date | None, str | None, Path | None]) -> tuple[list[PatientRow], str | None]:
    """The file's rows, or why it cannot be read (a bad file is named and skipped, as `evaluate DIR` does)."""
    path, as_of, disease, site = args
    try:
        data = read_resources(path.read_bytes(), ndjson=path.suffix == ".ndjson")
    except OSError as exc:
        return [], f"{path}: cannot read ({exc.strerror})"
    except JsonLineError as exc:
        return [], f"{path}:{exc.line}: not valid JSON"
    except orjson.JSONDecodeError as exc:
        return [], f"{path}: not valid JSON ({exc})"
    except NotFhirError:
        return [], f"{path}: expected a FHIR Bundle or resource"
    return rows_from_resources(data, as_of, disease, _site_profile(site)), None


def bundle_files(directory: Path) -> list[Path]:
    """Patient bundle files of a directory (truth.json and NDJSON are not patients)."""
    return sorted(f for f in directory.glob("*.json") if f.name != "truth.json")


def rows_from_files(
    files: Sequence[Path],
    as_of: date | None,
    disease: str | None,
    jobs: int | None = None,
    site: Path | None = None,
    unreadable: list[str] | None = None,
) -> Iterator[PatientRow]:
    """Rows in file order, one per patient a file holds; with jobs > 1 a process pool reads, extracts and assesses
    (one bundle per task). `site`: a site file whose profile assesses every patient (each worker reads it once).
    A file that cannot be read: its reason is appended to `unreadable` and the others are read (without the list:
    ValueError)."""
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    tasks = [(f, as_of, disease, site) for f in files]

    def each(results: Iterable[tuple[list[PatientRow], str | None]]) -> Iterator[PatientRow]:
        for rows, why in results:
            if why is not None:
                if unreadable is None:
                    raise ValueError(why)
                unreadable.append(why)
            yield from rows

    if jobs <= 1 or len(files) < 8:
        yield from each(map(_rows_from_file, tasks))
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from each(pool.map(_rows_from_file, tasks, chunksize=8))


def cohort_table(rows: Iterable[PatientRow]) -> pd.DataFrame:
    """One row per patient, indexed by patient id; the daily series are left out (see `daily_table`)."""
    flat = [{k: v for k, v in r.items() if k not in ("daily", "support_days")} for r in rows]
    frame = pd.DataFrame(flat)
    if not frame.empty:
        frame = frame.set_index("patient_id", drop=False)
    return frame


def support_table(rows: Iterable[PatientRow]) -> dict[str, pd.DataFrame]:
    """support → patients × days (0..30), 1 when the patient was given it that day (seed 000 Figure 6)."""
    ids: list[str] = []
    per: dict[str, list[list[int]]] = {k: [] for k in SUPPORT_KINDS}
    for r in rows:
        ids.append(str(r["patient_id"]))
        given = r.get("support_days", {})
        for k in SUPPORT_KINDS:
            on = set(given.get(k, []))
            per[k].append([int(d in on) for d in SUPPORT_DAYS])
    return {k: pd.DataFrame(v, index=ids, columns=list(SUPPORT_DAYS)) for k, v in per.items()}


def daily_table(rows: Iterable[PatientRow]) -> dict[str, pd.DataFrame]:
    """lineage → patients × days (-7..30) of daily lowest values (NaN: no result that day)."""
    per: dict[str, list[list[float]]] = {lin: [] for lin in LINEAGE_KEYS}
    ids: list[str] = []
    for r in rows:
        ids.append(str(r["patient_id"]))
        for lin in LINEAGE_KEYS:
            per[lin].append(r["daily"][lin])
    return {lin: pd.DataFrame(v, index=ids, columns=list(DAILY_DAYS)) for lin, v in per.items()}
