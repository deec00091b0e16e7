"""Small simulated cohorts shared by the simulator's tests (built once per session)."""

from __future__ import annotations

from datetime import date

import pytest

from cds_cyto.simulate import CohortSpec, SimulatedPatient, plan_cohort, simulate_patient


def simulate(spec: CohortSpec) -> list[SimulatedPatient]:
    return [simulate_patient(plan, spec) for plan in plan_cohort(spec)]


@pytest.fixture(scope="session")
def clean_patients() -> list[SimulatedPatient]:
    return simulate(CohortSpec(n=6, disease="mixed", seed=11, mess="none"))


@pytest.fixture(scope="session")
def heavy_patients() -> list[SimulatedPatient]:
    return simulate(CohortSpec(n=8, disease="mixed", seed=11, mess="heavy"))


@pytest.fixture(scope="session")
def cut_patients() -> list[SimulatedPatient]:
    spec = CohortSpec(n=16, disease="mixed", seed=5, mess="default", data_cut=date(2026, 11, 20))
    return simulate(spec)
