"""After reading: supersession, duplicates, ordering, and ANC derived from WBC × neutrophils %."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from cds_cyto.core.extract.observations import RawLab
from cds_cyto.core.extract.problems import ProblemLog
from cds_cyto.core.extract.record import LabResult

__all__ = ["finalise_labs"]


def finalise_labs(
    raw: dict[str, list[RawLab]], problems: ProblemLog, anc_bounds: tuple[float, float]
) -> dict[str, list[LabResult]]:
    labs = {analyte: _settle(items, problems) for analyte, items in raw.items()}
    derived = _derive_anc(
        labs.get("neutrophils", []), labs.get("leukocytes", []), labs.get("neutrophils_pct", []), anc_bounds, problems
    )
    if derived:
        merged = labs.get("neutrophils", []) + derived
        merged.sort(key=_order)
        labs["neutrophils"] = merged
    return labs


def _order(r: LabResult) -> tuple[datetime, str]:
    return r.time, r.source_id or ""


def _settle(items: list[RawLab], problems: ProblemLog) -> list[LabResult]:
    """Per instant: the highest status rank supersedes (amended/corrected > final > other); equal values count once."""
    items.sort()  # by time, then rank (highest first), then source id: the tuple's own order
    out: list[LabResult] = []
    i, n = 0, len(items)
    while i < n:
        j = i + 1
        time = items[i][0]
        while j < n and items[j][0] == time:
            j += 1
        if j == i + 1:
            out.append(items[i][4])
        else:
            top = items[i][1]
            kept: list[LabResult] = []
            for _time, negative_rank, _source, _seq, r in items[i:j]:
                if negative_rank > top:
                    problems.info(
                        r.source_id or "Observation",
                        "superseded",
                        "superseded by an amended/final result",
                        r.local_date,
                    )
                elif any(k.value == r.value and k.censored == r.censored for k in kept):  # "<0.5" is not 0.5
                    problems.info(
                        r.source_id or "Observation",
                        "duplicate",
                        "same analyte, time and value; counted once",
                        r.local_date,
                    )
                else:
                    kept.append(r)
            out.extend(kept)
        i = j
    return out


def _product_comparator(a: str | None, b: str | None) -> str | Literal[False] | None:
    """The comparator of a product of two non-negative values, each exact or censored (an interval, clinical-reference
    §1): "<x" × exact y is "<xy"; "<" × "<=" is "<"; opposite directions give no single comparator (False)."""
    if a is None or b is None:
        return a or b
    if a[0] != b[0]:
        return False
    return a[0] if "=" not in a or "=" not in b else a


def _derive_anc(
    anc: list[LabResult],
    wbc: list[LabResult],
    pct: list[LabResult],
    bounds: tuple[float, float],
    problems: ProblemLog,
) -> list[LabResult]:
    """ANC = WBC × neutrophils % / 100 at a specimen time with no absolute count (clinical-reference §1)."""
    if not wbc or not pct:
        return []
    floor, ceiling = bounds
    have = {r.time for r in anc}
    pct_at = {r.time: r for r in pct}
    out = []
    for w in wbc:
        p = pct_at.get(w.time)
        if p is None or w.time in have:
            continue
        value = round(w.value * p.value / 100.0, 9)
        if not floor <= value <= ceiling:
            continue  # cannot happen with plausible inputs; never grade an implausible derived value
        censored = _product_comparator(w.censored, p.censored)
        if censored is False:  # "<" × ">": the product is no interval a comparator can say
            problems.warn(
                f"{w.source_id}+{p.source_id}",
                "anc-not-derived",
                f"ANC not derived: WBC {w.censored}{w.value:g} × neutrophils {p.censored}{p.value:g} %"
                " is not one bound",
                w.local_date,
                "neutrophils",
            )
            continue
        out.append(
            LabResult(
                analyte="neutrophils",
                value=value,
                unit=w.unit,
                time=w.time,
                local_date=w.local_date,
                source_id=f"{w.source_id}+{p.source_id}",
                original_value=value,
                original_unit=w.unit,
                lln=None,
                censored=censored,
                derived=True,
                note="derived: WBC × neutrophils % / 100",
            )
        )
        have.add(w.time)
    return out
