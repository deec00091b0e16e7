"""What the simulator charts: codes, canonical units, reported precision and reference ranges per analyte.

Codes and units follow the FHIR conventions of the extraction engine (clinical-reference.md §1, §6, §9); the
analyte keys are those of `cds_cyto/core/profile/data/analytes.toml`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ANALYTES",
    "ATC",
    "CAR_T_SNOMED",
    "CATEGORY_SYSTEM",
    "COUNT_ANALYTES",
    "CRS_CONDITION",
    "CRS_GRADE_CODE",
    "ICD10CM",
    "LOINC",
    "MANUAL_ANC",
    "MARROW_BLASTS_CODE",
    "MEDICATIONS",
    "PLATELET_TX_SNOMED",
    "RBC_TX_SNOMED",
    "RXNORM",
    "SNOMED",
    "UCUM",
    "AnalyteSpec",
    "Coding",
    "reference_range",
]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"


@dataclass(frozen=True, slots=True)
class Coding:
    system: str
    code: str
    display: str


CAR_T_SNOMED = Coding(SNOMED, "1156961008", "Chimeric antigen receptor T-cell immunotherapy")
RBC_TX_SNOMED = Coding(SNOMED, "116863004", "Transfusion of red blood cells")
PLATELET_TX_SNOMED = Coding(SNOMED, "12719002", "Transfusion of platelets")
CRS_GRADE_CODE = Coding("urn:cds-cyto:obs", "crs-grade", "CRS grade (ASTCT), daily")
MARROW_BLASTS_CODE = Coding("urn:cds-cyto:lab", "marrow-blasts", "Bone-marrow blasts")
MANUAL_ANC = Coding(LOINC, "753-4", "Neutrophils [#/volume] in Blood by Manual count")

# Medication kinds as charted (MedicationAdministration.medicationCodeableConcept).
MEDICATIONS: dict[str, Coding] = {
    "fludarabine": Coding(RXNORM, "24698", "fludarabine"),
    "cyclophosphamide": Coding(RXNORM, "3002", "cyclophosphamide"),
    "tocilizumab": Coding(RXNORM, "612865", "tocilizumab"),
    "dexamethasone": Coding(RXNORM, "3264", "dexamethasone"),
    "gcsf": Coding(ATC, "L03AA02", "filgrastim"),
}

# CRS Condition code by maximum ASTCT grade (ICD-10-CM D89.83x).
CRS_CONDITION: dict[int, Coding] = {
    1: Coding(ICD10CM, "D89.831", "Cytokine release syndrome, grade 1"),
    2: Coding(ICD10CM, "D89.832", "Cytokine release syndrome, grade 2"),
    3: Coding(ICD10CM, "D89.833", "Cytokine release syndrome, grade 3"),
    4: Coding(ICD10CM, "D89.834", "Cytokine release syndrome, grade 4"),
}

Category = Literal["laboratory", "vital-signs"]


@dataclass(frozen=True, slots=True)
class AnalyteSpec:
    key: str
    coding: Coding
    unit: str  # canonical UCUM code
    decimals: int  # as the lab reports it in the canonical unit
    category: Category = "laboratory"
    cbc: bool = False  # part of the blood count: carries a reference range


ANALYTES: dict[str, AnalyteSpec] = {
    a.key: a
    for a in (
        AnalyteSpec(
            "neutrophils",
            Coding(LOINC, "751-8", "Neutrophils [#/volume] in Blood by Automated count"),
            "10*9/L",
            2,
            cbc=True,
        ),
        AnalyteSpec("hemoglobin", Coding(LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"), "g/L", 0, cbc=True),
        AnalyteSpec(
            "platelets",
            Coding(LOINC, "777-3", "Platelets [#/volume] in Blood by Automated count"),
            "10*9/L",
            0,
            cbc=True,
        ),
        AnalyteSpec(
            "leukocytes",
            Coding(LOINC, "6690-2", "Leukocytes [#/volume] in Blood by Automated count"),
            "10*9/L",
            2,
            cbc=True,
        ),
        AnalyteSpec("lymphocytes", Coding(LOINC, "731-0", "Lymphocytes [#/volume] in Blood"), "10*9/L", 2, cbc=True),
        AnalyteSpec(
            "neutrophils_pct",
            Coding(LOINC, "770-8", "Neutrophils/100 leukocytes in Blood by Automated count"),
            "%",
            1,
            cbc=True,
        ),
        AnalyteSpec("crp", Coding(LOINC, "1988-5", "C reactive protein [Mass/volume] in Serum or Plasma"), "mg/L", 1),
        AnalyteSpec("ferritin", Coding(LOINC, "2276-4", "Ferritin [Mass/volume] in Serum or Plasma"), "ng/mL", 1),
        AnalyteSpec("il6", Coding(LOINC, "26881-3", "Interleukin 6 [Mass/volume] in Serum or Plasma"), "pg/mL", 1),
        AnalyteSpec("il10", Coding(LOINC, "26848-2", "Interleukin 10 [Mass/volume] in Serum or Plasma"), "pg/mL", 1),
        AnalyteSpec("ifng", Coding(LOINC, "27415-9", "Interferon gamma [Mass/volume] in Serum or Plasma"), "pg/mL", 1),
        AnalyteSpec(
            "tnfa", Coding(LOINC, "3074-2", "Tumor necrosis factor alpha [Mass/volume] in Serum or Plasma"), "pg/mL", 1
        ),
        AnalyteSpec(
            "ddimer",
            Coding(LOINC, "48065-7", "Fibrin D-dimer FEU [Mass/volume] in Platelet poor plasma"),
            "ug/mL{FEU}",
            2,
        ),
        AnalyteSpec(
            "ldh",
            Coding(LOINC, "2532-0", "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma"),
            "U/L",
            0,
        ),
        AnalyteSpec("temperature", Coding(LOINC, "8310-5", "Body temperature"), "Cel", 1, category="vital-signs"),
        AnalyteSpec("marrow_blasts", MARROW_BLASTS_CODE, "%", 1),
    )
}

COUNT_ANALYTES = frozenset({"neutrophils", "platelets", "leukocytes", "lymphocytes"})

# Adult reference intervals in the canonical unit; hemoglobin by sex. Typical laboratory values.
_RANGES: dict[str, tuple[float, float]] = {
    "neutrophils": (1.8, 7.7),
    "platelets": (150.0, 400.0),
    "leukocytes": (4.0, 10.0),
    "lymphocytes": (1.0, 4.0),
    "neutrophils_pct": (40.0, 75.0),
}
_HB_RANGE = {"male": (130.0, 175.0), "female": (120.0, 155.0)}


def reference_range(analyte: str, sex: str) -> tuple[float, float] | None:
    if analyte == "hemoglobin":
        return _HB_RANGE[sex]
    return _RANGES.get(analyte)
