"""Bundles in the shapes other systems write (issue 19 item 3), built from tests/support/fhir.py's resources:

- `cerner_bundle`: an EHR export with numeric ids (Cerner's Patient/3998008) and references by `Type/id`;
- `us_core_bundle`: US Core example style, a collection whose resources refer to an Organization and a
  Practitioner the Bundle does not carry (a sandbox with referential integrity would refuse it);
- `synthea_transaction`: Synthea's one transaction per patient, every entry a POST with a `urn:uuid:` fullUrl and
  every reference by urn:uuid, large (thousands of entries).

Each patient has a CAR-T infusion on DAY0 and a severe count course, so each evaluates to cards.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.fhir import at, infusion, obs, patient

__all__ = ["cerner_bundle", "synthea_transaction", "us_core_bundle"]

Json = dict[str, Any]

_NORMAL = (("neutrophils", 3.2, "10*9/L"), ("hemoglobin", 132.0, "g/L"), ("platelets", 240.0, "10*9/L"))
_COURSE = [(1, 2.1, 110.0, 90.0), (3, 0.9, 95.0, 40.0), (5, 0.3, 72.0, 15.0), (7, 0.2, 58.0, 12.0)]


def _labs(start_id: int | None, prefix: str) -> list[Json]:
    out: list[Json] = []
    n = 0
    for day, anc, hb, plt in _COURSE:
        for analyte, value, unit in (
            ("neutrophils", anc, "10*9/L"),
            ("hemoglobin", hb, "g/L"),
            ("platelets", plt, "10*9/L"),
        ):
            n += 1
            oid = str(start_id + n) if start_id is not None else f"{prefix}-{n}"
            out.append(obs(analyte, value, unit, when=at(day), id=oid))
    return out


def _subject(resources: list[Json], reference: str) -> list[Json]:
    for r in resources:
        if "subject" in r:
            r["subject"] = {"reference": reference}
    return resources


def cerner_bundle(pid: str) -> Json:
    """`pid` all digits; the Observations' ids are numbers too."""
    base = int(pid) * 100
    resources = _subject([infusion(0, id=str(base + 99)), *_labs(base, "")], f"Patient/{pid}")
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in [patient(id=pid), *resources]],
    }


def us_core_bundle(pid: str) -> Json:
    person = patient("female", id=pid)
    person["meta"] = {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]}
    person["managingOrganization"] = {"reference": f"Organization/{pid}-acme-not-here"}
    labs = _subject(_labs(None, f"{pid}-lab"), f"Patient/{pid}")
    for lab in labs:
        lab["meta"] = {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-lab"]}
        lab["performer"] = [{"reference": f"Practitioner/{pid}-not-here"}]
    infused = _subject([infusion(0, id=f"{pid}-cart")], f"Patient/{pid}")
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in [person, *infused, *labs]],
    }


def synthea_transaction(padding: int) -> tuple[str, Json]:
    """(the patient's id as the server will store it, the transaction): the patient, its course, and `padding`
    more normal daily counts before infusion, so the Bundle is large; all by urn:uuid."""
    pid = str(uuid.uuid4())
    subject = f"urn:uuid:{pid}"
    encounter = str(uuid.uuid4())
    resources: list[Json] = [
        patient("male", id=pid),
        {"resourceType": "Encounter", "id": encounter, "status": "finished", "class": {"code": "IMP"}},
        infusion(0, id=str(uuid.uuid4())),
    ]
    for i in range(padding):
        day = -(i // 3) - 30  # well before baseline windows: normal counts that grade nothing
        analyte, value, unit = (
            ("neutrophils", 3.2, "10*9/L"),
            ("hemoglobin", 132.0, "g/L"),
            ("platelets", 240.0, "10*9/L"),
        )[i % 3]
        resources.append(obs(analyte, value, unit, when=at(day), id=str(uuid.uuid4())))
    resources += [dict(r, id=str(uuid.uuid4())) for r in _labs(None, "s")]
    _subject(resources, subject)
    entries = []
    for r in resources:
        if r["resourceType"] == "Observation":
            r["encounter"] = {"reference": f"urn:uuid:{encounter}"}
        rid = r.pop("id")
        entries.append(
            {"fullUrl": f"urn:uuid:{rid}", "resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
        )
    return pid, {"resourceType": "Bundle", "type": "transaction", "entry": entries}
