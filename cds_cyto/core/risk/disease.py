"""Which disease the disease-specific rules apply to one patient (clinical-reference §9), the same at every door.

1. "condition" — the record's diagnosis (`record.diagnosis`, read from its Conditions with codes.toml [disease]).
2. "given" — the disease the caller states for patients whose record has none (`cds-cyto evaluate --disease`, the
   cohort of `cds-cyto analyze --disease`). A recorded diagnosis is never overridden: a different given disease is
   noted and the recorded one used, so a card and a report row apply the same rules to the same patient.
3. "site setting" — codes.toml [disease] default (a site file's `[disease] default = "ALL"`), for a site whose EHR
   does not send the problem list.
4. "unknown" — none of these: the published factors of every population are listed and the site model is scored
   only when the site declares its population (thresholds site_model.unknown_disease_in_population).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cds_cyto.core.extract.record import DataProblem, PatientRecord
from cds_cyto.core.profile import Profile
from cds_cyto.core.profile.risk_tables import RiskData, normalise_disease

__all__ = ["DiseaseChoice", "DiseaseSource", "choose_disease"]

DiseaseSource = Literal["condition", "given", "site setting", "unknown"]


@dataclass(frozen=True, slots=True)
class DiseaseChoice:
    disease: str | None  # normalised ("ALL", "NHL", "MM")
    source: DiseaseSource
    evidence: str | None = None  # the Condition and code, or the setting, it rests on
    problem: DataProblem | None = None  # a given disease that differs from the recorded one

    def to_json(self) -> dict[str, Any]:
        return {"value": self.disease, "source": self.source, "evidence": self.evidence}


def choose_disease(record: PatientRecord, profile: Profile, given: str | None, data: RiskData) -> DiseaseChoice:
    """`given` is any spelling of risk.toml [hematotox.disease_aliases]; an unknown spelling is an error."""
    asked = normalise_disease(given, data)
    dx = record.diagnosis
    if dx is not None:
        evidence = f"{dx.source_id or 'Condition'}: {dx.code.rpartition('|')[2]} ({', '.join(dx.groups)})"
        problem = None
        if asked is not None and asked != dx.disease:
            problem = DataProblem(
                dx.source_id or "Condition",
                "disease-given-differs",
                f"the disease given ({given}) differs from the recorded diagnosis ({dx.disease}, {evidence}): "
                "the recorded diagnosis is used",
                "info",
            )
        return DiseaseChoice(dx.disease, "condition", evidence, problem)
    if asked is not None:
        return DiseaseChoice(asked, "given", f"stated by the caller ({given})")
    if profile.disease.default is not None:
        return DiseaseChoice(profile.disease.default, "site setting", "codes.toml [disease] default (site setting)")
    return DiseaseChoice(None, "unknown")
