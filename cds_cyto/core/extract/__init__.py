"""Raw FHIR R4 JSON → a typed, unit-normalised `PatientRecord`, for ONE patient.

Bad content never raises: whatever cannot be used becomes a `DataProblem` naming the resource and the reason.

Every door reaches the core the same way: bytes or files → `read_resources` (the one reader, `extract.lean`:
Bundles, NDJSON, fullUrls settled) → `extract_record` (or `split_by_patient` / `extract_records` for data that may
hold several patients). The rules the core applies whatever the door:

- Versions and duplicates: copies of one resource (Type/id) count once, the newest (`version_key`) superseding the
  others, in any order they came.
- The patient's own data only: a resource whose subject/patient is another patient is never read (`other-patient`).
  A resource of patient data that names no patient (an Observation without subject, say) is never read as a
  patient's: it is left out and reported (`no-subject`, warning); only data that name no patient at all read it
  (`no-subject`, info). Resources that are nobody's by nature (a Medication) go with whoever references them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cds_cyto.core.extract.events import MEDICATION_TYPES, EventReader
from cds_cyto.core.extract.fhir_json import (
    NoPatient,
    flat_resources,
    patient_of,
    reference_key,
    resource_label,
    version_key,
)
from cds_cyto.core.extract.labs import finalise_labs
from cds_cyto.core.extract.lean import LeanObservation, read_resources, resources_from_json
from cds_cyto.core.extract.observations import ObservationReader
from cds_cyto.core.extract.problems import ProblemLog
from cds_cyto.core.extract.record import Demographics, PatientRecord
from cds_cyto.core.profile import Profile, default_profile

__all__ = [
    "NoPatient",
    "extract_record",
    "extract_record_json",
    "extract_records",
    "patient_of",
    "read_resources",
    "split_by_patient",
    "unresolved_medication_ids",
    "version_key",
]

_DEFERRED = frozenset({"Procedure", "Condition"}) | MEDICATION_TYPES
# Resources that are some patient's by nature: one without a subject is not silently anyone's.
_PATIENT_DATA = frozenset({"Observation", "MedicationRequest"}) | _DEFERRED
_MEDICATION_USES = MEDICATION_TYPES | {"MedicationRequest"}

Data = Mapping[str, Any] | Iterable[Any]


def extract_record(data: Data, profile: Profile | None = None, *, patient_id: str | None = None) -> PatientRecord:
    """Build the record of ONE patient from a Bundle (any type), a resource, or a list of either (lab results may
    come as `LeanObservation`s from `extract.lean`).

    `patient_id`: whose record it is; every other patient's resources are left out and reported (`other-patient`).
    Without it the patient is the one the data name; data naming several get the first Patient resource's (else
    the first named) and a `several-patients` warning — doors that may hold several use `extract_records`.
    """
    profile = profile or default_profile()
    problems = ProblemLog()
    kept, labels, owners, named = _newest_copies(data, problems)
    if patient_id is None and len(named) > 1:
        problems.warn("Bundle", "several-patients", f"resources of {len(named)} patients in one record")
    patient = patient_id if patient_id is not None else _chosen_patient(kept, owners, named)
    others = {p: 0 for p in named if p != patient}
    observations = ObservationReader(profile, problems)
    events = EventReader(profile, problems)
    deferred: list[tuple[dict[str, Any], str, str]] = []
    for res, label, owner in zip(kept, labels, owners, strict=True):
        if res is None:
            continue
        if owner is not None and owner != patient:
            others[owner] += 1
            continue
        try:
            if res.__class__ is LeanObservation:
                if owner is None and not _unowned_kept(label, patient, others, problems):
                    continue
                observations.read_lean(res, label)
                continue
            if res.__class__ is NoPatient:
                problems.warn(res.label, "no-subject", _NOBODYS)
                continue
            rtype = res.get("resourceType")
            if rtype.__class__ is not str:  # also a list or object, which no set lookup below could take
                problems.warn(label, "not-a-resource", "entry has no resourceType")
                continue
            if owner is None and rtype in _PATIENT_DATA and not _unowned_kept(label, patient, others, problems):
                continue
            if rtype == "Observation":
                observations.read(res, label)
            elif rtype == "Patient":
                events.read_patient(res)
            elif rtype == "Medication":
                events.read_medication(res)
            elif rtype in _DEFERRED:
                deferred.append((res, label, rtype))  # after all Medications are known
        except Exception as exc:  # bad content must become a data problem, never a crash
            problems.warn(label, "unreadable", f"resource could not be read ({type(exc).__name__})")

    for res, label, rtype in deferred:
        try:
            if rtype == "Procedure":
                events.read_procedure(res, label)
            elif rtype == "Condition":
                events.read_condition(res, label)
            else:
                events.read_medication_use(res, label, rtype)
        except Exception as exc:
            problems.warn(label, "unreadable", f"resource could not be read ({type(exc).__name__})")
    for other, count in others.items():
        if count:
            problems.warn(
                f"Patient/{other}",
                "other-patient",
                f"{count} resource(s) of another patient were left out of this patient's record",
            )

    labs = finalise_labs(observations.labs, problems, profile.analytes["neutrophils"].plausible)
    return PatientRecord(
        patient_id=patient,
        demographics=events.demographics or Demographics(),
        labs=labs,
        events=sorted(events.events, key=lambda e: (e.start, e.kind)),
        crs_episodes=sorted(events.crs, key=lambda c: (c.onset is None, c.onset)),
        crs_grades=sorted(observations.crs_grades, key=lambda g: g.day_date),
        diagnosis=events.diagnosis(),  # before `problems`: a conflict is one of them
        problems=problems.items,
        unresolved_medications=sorted(events.unresolved, key=lambda u: (u.when is None, u.when, u.source_id or "")),
    )


_NOBODYS = "names no patient, and the data it came with hold several patients: not used for any of them"
_NOT_THEIRS = "names no patient (no subject or patient reference to a Patient): not read as this patient's"


def _unowned_kept(label: str, patient: str | None, others: Mapping[str, int], problems: ProblemLog) -> bool:
    """A resource naming no patient is never read as a patient's (issue 15: a prefetch or a server's answer with a
    result lacking its subject must not give that result to the context patient). Only data that name no patient
    at all — a record of nobody in particular — read it, and say so."""
    if others:
        problems.warn(label, "no-subject", _NOBODYS)
        return False
    if patient is not None:
        problems.warn(label, "no-subject", _NOT_THEIRS)
        return False
    problems.info(label, "no-subject", "names no patient; read as this record's, since the data name no patient")
    return True


def _chosen_patient(kept: list[Any], owners: list[str | None], named: Mapping[str, None]) -> str | None:
    for res, owner in zip(kept, owners, strict=True):
        if owner is not None and res.__class__ is dict and res.get("resourceType") == "Patient":
            return owner
    return next(iter(named), None)


def _newest_copies(data: Data, problems: ProblemLog) -> tuple[list[Any], list[str], list[str | None], dict[str, None]]:
    """Every resource once: of copies of one Type/id the newest (`version_key`; on a tie the later copy), the
    others None. With each, its label and the patient it names (`patient_of`); and the patients named, in order."""
    chosen: dict[str, int] = {}  # label → index in `kept`
    kept: list[Any] = []
    labels: list[str] = []
    owners: list[str | None] = []
    named: dict[str, None] = {}
    last_ref: Any = None  # a patient's lab results repeat one subject reference: look it up once
    last_owner: str | None = None
    last_named: str | None = None
    for position, res in enumerate(flat_resources(data)):
        if res.__class__ is LeanObservation:
            rid = res.id
            label = "Observation/" + rid if rid else f"Observation[#{position}]"
            subject = res.subject
            ref = subject.reference if subject is not None and res.patient is None else None
            if ref is None or ref != last_ref:
                last_owner = patient_of(res)
                last_ref = ref
            owner = last_owner
        elif res.__class__ is NoPatient:
            kept.append(res)
            labels.append(res.label)
            owners.append(None)
            continue
        elif not isinstance(res, dict):
            problems.warn(resource_label(res, position), "not-a-resource", "entry is not a FHIR resource")
            continue
        else:
            rtype = res.get("resourceType")
            rid = res.get("id")
            ok = isinstance(rid, str) and rid and isinstance(rtype, str)
            label = f"{rtype}/{rid}" if ok else resource_label(res, position)
            rid = rid if ok else None
            owner = patient_of(res)
        if rid:
            earlier = chosen.get(label)
            if earlier is not None:
                problems.info(label, "duplicate", "resource appears more than once; the newest copy is used")
                if version_key(kept[earlier]) > version_key(res):
                    continue
                kept[earlier] = None
            chosen[label] = len(kept)
        kept.append(res)
        labels.append(label)
        owners.append(owner)
        if owner is not last_named and owner is not None:  # lab results repeat one owner: record it once
            named[owner] = None
            last_named = owner
    return kept, labels, owners, named


def split_by_patient(data: Data) -> dict[str | None, list[Any]]:
    """Data that may hold several patients → each patient's share, by patient id, in order of first mention.

    A share holds the resources naming that patient (Patient, subject, patient), and the resources that are
    nobody's by nature (a Medication) that its medication uses reference. A resource of patient data that names no
    patient goes to the only patient when the data name one; when they name several it goes to nobody, and each
    share holds a `NoPatient` in its place so that each record says so. Data naming no patient at all come back
    whole under None. Copies and versions are left for `extract_record` to settle.
    """
    items = flat_resources(data)
    owners = [patient_of(res) for res in items]
    shares: dict[str | None, list[Any]] = {}
    for res, owner in zip(items, owners, strict=True):
        if owner is not None:
            shares.setdefault(owner, []).append(res)
    if not shares:
        return {None: items}
    shared: dict[str, list[Any]] = {}
    unowned: list[Any] = []
    for position, (res, owner) in enumerate(zip(items, owners, strict=True)):
        if owner is not None:
            continue
        rtype = _type_of(res)
        if rtype is None:
            unowned.append(res)  # not a resource: each record reports it
        elif rtype in _PATIENT_DATA:
            unowned.append(res if len(shares) == 1 else NoPatient(_label(res, position)))
        else:
            rid = res.get("id")
            if isinstance(rid, str) and rid:
                shared.setdefault(f"{rtype}/{rid}", []).append(res)
    for share in shares.values():
        missing = unresolved_medication_ids(share)
        share.extend(r for mid in missing for r in shared.get(f"Medication/{mid}", ()))
        share.extend(unowned)
    return shares


def extract_records(data: Data, profile: Profile | None = None) -> list[PatientRecord]:
    """One record per patient the data hold (`split_by_patient`), never merged."""
    return [extract_record(share, profile, patient_id=pid) for pid, share in split_by_patient(data).items()]


def unresolved_medication_ids(resources: Iterable[Any]) -> list[str]:
    """Ids of the Medications that medication uses reference (not contained ones) but that are not among the
    resources: what a source should still read from its FHIR server, in order of first reference."""
    present: set[str] = set()
    wanted: dict[str, None] = {}
    for res in resources:
        if res.__class__ is LeanObservation or not isinstance(res, dict):
            continue
        rtype = res.get("resourceType")
        if rtype == "Medication":
            rid = res.get("id")
            if isinstance(rid, str):
                present.add(rid)
        elif rtype.__class__ is str and rtype in _MEDICATION_USES:  # a list is unhashable
            ref = res.get("medicationReference")
            reference = ref.get("reference") if isinstance(ref, dict) else None
            if isinstance(reference, str) and not reference.startswith("#"):
                key = reference_key(reference)
                if key is not None and key.startswith("Medication/"):
                    wanted[key[11:]] = None
    return [mid for mid in wanted if mid not in present]


def _type_of(res: Any) -> str | None:
    if res.__class__ is LeanObservation:
        return "Observation"
    rtype = res.get("resourceType") if isinstance(res, dict) else None
    return rtype if isinstance(rtype, str) else None


def _label(res: Any, position: int) -> str:
    if res.__class__ is LeanObservation:
        return "Observation/" + res.id if res.id else f"Observation[#{position}]"
    return resource_label(res, position)


def extract_record_json(body: bytes | bytearray | memoryview | str, profile: Profile | None = None) -> PatientRecord:
    """`extract_record(orjson.loads(body))`, the same record, about twice as fast for a Bundle of lab results
    (`extract.lean`). Raises `orjson.JSONDecodeError` when the bytes are not JSON."""
    return extract_record(resources_from_json(body), profile)
