"""Early death: some patients die after infusion, before the day-28 assessment (the competing risk of every event).

Drawn from its own random stream, so every other draw of every patient — and so every surviving patient's data — is
as without it. A patient who dies has nothing charted after the day of death, and Patient.deceasedDateTime says when.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_cyto.simulate.params import Disease
from cds_cyto.simulate.rng import PatientRandom

__all__ = ["EARLY_DEATH", "EarlyDeath", "draw_death_day"]


@dataclass(frozen=True, slots=True)
class EarlyDeath:
    probability: float
    first_day: int  # uniform over first_day..last_day after infusion
    last_day: int
    source: str


_SEED001 = "seed 001 Abstract: 3 of 63 patients died early (before the day +28 assessment) and were excluded"
EARLY_DEATH: dict[Disease, EarlyDeath] = {
    "nhl": EarlyDeath(3 / 63, 3, 27, _SEED001),
    # seed 000 gives no early-death count (only 'non-relapse mortality', P = 0.79): seed 001's rate is assumed
    "all": EarlyDeath(3 / 63, 3, 27, f"assumption: seed 000 states none; {_SEED001}"),
}


def draw_death_day(rng: PatientRandom, disease: Disease) -> int | None:
    """The day of death after infusion, or None (the patient survives the observation window)."""
    model = EARLY_DEATH[disease]
    if rng.random() >= model.probability:
        return None
    return rng.randint(model.first_day, model.last_day)
