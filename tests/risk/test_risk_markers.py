"""Marker peaks (seed 000 "max" / "max lg"): maximum, its day, log10, the day-0 … as_of window."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from cds_cyto.core.extract.record import LabResult
from cds_cyto.core.risk import marker_peaks
from tests.risk.risk_fhir import infusion, obs, record_of, risk_of
from tests.support.fhir import day_date

MARKERS = ["il6", "il10", "ifng", "ferritin", "ddimer", "crp", "il2", "il4", "tnfa", "ldh"]


def test_every_marker_is_reported_even_without_results() -> None:
    markers = risk_of(infusion(), as_of_day=10).to_json()["markers"]
    assert list(markers) == MARKERS
    assert all(m == {"max": None, "max_lg": None, "day": None} for m in markers.values())


def test_max_lg_and_day() -> None:
    risk = risk_of(
        infusion(),
        obs("ferritin", 800.0, 1),
        obs("ferritin", 12000.0, 5),
        obs("ferritin", 3000.0, 9),
        obs("il10", 1000.0, 4),
        as_of_day=10,
    )
    f = risk.markers["ferritin"]
    assert (f.max, f.day) == (12000.0, 5)
    assert f.max_lg == pytest.approx(math.log10(12000.0))
    assert risk.to_json()["markers"]["il10"] == {"max": 1000.0, "max_lg": 3.0, "day": 4}


def test_as_of_cut_and_day0_start() -> None:
    resources = [infusion(), obs("il6", 5000.0, -1), obs("il6", 40.0, 0), obs("il6", 900.0, 3), obs("il6", 2000.0, 6)]
    early = risk_of(*resources, as_of_day=2).markers["il6"]
    assert (early.max, early.day) == (40.0, 0)  # the day −1 value is before day 0
    assert risk_of(*resources, as_of_day=5).markers["il6"].max == 900.0
    assert risk_of(*resources, as_of_day=6).markers["il6"].max == 2000.0


def test_first_day_of_a_tied_maximum() -> None:
    risk = risk_of(infusion(), obs("crp", 150.0, 3), obs("crp", 150.0, 5), as_of_day=8)
    assert risk.markers["crp"].day == 3


def test_zero_max_has_no_log() -> None:
    peak = risk_of(infusion(), obs("il6", 0.0, 2), as_of_day=8).markers["il6"]
    assert peak.max == 0.0 and peak.max_lg is None and peak.day == 2
    assert peak.to_json() == {"max": 0.0, "max_lg": None, "day": 2}


def test_negative_max_has_no_log() -> None:
    # Extraction refuses negative values (plausibility bounds); the engine must still never give −inf or NaN.
    record = record_of(infusion())
    record.labs["il6"] = [
        LabResult("il6", -1.0, "pg/mL", datetime(2024, 3, 3, 8, tzinfo=UTC), day_date(2), "x", -1.0, "pg/mL")
    ]
    peak = marker_peaks(record, day_date(8), ("il6",))["il6"]
    assert peak.max == -1.0 and peak.max_lg is None


def test_ddimer_lg_is_in_ug_per_ml_feu() -> None:
    # 3200 ng/mL FEU = 3.2 ug/mL FEU → lg 0.5051
    peak = risk_of(infusion(), obs("ddimer", 3200.0, 4, "ng/mL{FEU}"), as_of_day=8).markers["ddimer"]
    assert peak.max == pytest.approx(3.2)
    assert peak.to_json()["max_lg"] == pytest.approx(0.5051)
