"""The core's one way in (issue 12): one version rule, one patient per record, fullUrls and drugs by reference.

Every door hands the core everything it got; these rules are the core's, so each is tested here once."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import (
    NoPatient,
    extract_record,
    extract_record_json,
    extract_records,
    read_resources,
    split_by_patient,
    unresolved_medication_ids,
)
from tests.core.harness import problem_codes
from tests.core.test_core_invariants import SETTINGS
from tests.support.fhir import DAY0, FILGRASTIM, bundle, day_date, infusion, med_admin, obs, patient

ATC = FILGRASTIM[0]


def medication(mid: str = "filgrastim") -> dict[str, Any]:
    return {"resourceType": "Medication", "id": mid, "code": {"coding": [{"system": ATC, "code": FILGRASTIM[1]}]}}


def by_reference(day: int, reference: str, *, id: str | None = None) -> dict[str, Any]:
    admin = med_admin(FILGRASTIM, day, id=id)
    del admin["medicationCodeableConcept"]
    admin["medicationReference"] = {"reference": reference}
    return admin


def of(pid: str, res: dict[str, Any]) -> dict[str, Any]:
    res = copy.deepcopy(res)
    res["subject"] = {"reference": f"Patient/{pid}"}
    return res


def both_routes(doc: dict[str, Any]) -> Any:
    plain = extract_record(doc)
    assert extract_record_json(orjson.dumps(doc)) == plain
    return plain


# --- versions: one rule ---------------------------------------------------------------------------------------


def _versions(n: int) -> list[dict[str, Any]]:
    base = obs("neutrophils", 0.0, "10*9/L", day=5, id="anc")
    out = []
    for v in range(1, n + 1):
        copy_ = copy.deepcopy(base)
        copy_["valueQuantity"]["value"] = v / 10
        updated = datetime(2024, 3, 6, 8, tzinfo=UTC) + timedelta(hours=v)
        copy_["meta"] = {"versionId": str(v), "lastUpdated": updated.isoformat()}
        out.append(copy_)
    return out


@SETTINGS
@given(order=st.integers(2, 6).flatmap(lambda n: st.permutations(list(range(n)))))
def test_any_order_of_versions_gives_the_newest(order: list[int]) -> None:
    versions = _versions(len(order))
    doc = bundle(infusion(), [versions[i] for i in order])
    record = both_routes(doc)
    assert [r.value for r in record.series("neutrophils")] == [len(order) / 10]


@SETTINGS
@given(order=st.permutations(list(range(4))), hours=st.lists(st.integers(-12, 12), min_size=4, max_size=4))
def test_last_updated_compares_as_instants_in_any_offset(order: list[int], hours: list[int]) -> None:
    """Without versionIds the latest lastUpdated wins, whatever offset each copy writes it in."""
    versions = _versions(4)
    for v, h in zip(versions, hours, strict=True):
        instant = datetime.fromisoformat(v["meta"]["lastUpdated"])
        v["meta"] = {"lastUpdated": instant.astimezone(timezone(timedelta(hours=h))).isoformat()}
    record = both_routes(bundle(infusion(), [versions[i] for i in order]))
    assert [r.value for r in record.series("neutrophils")] == [0.4]


# --- references: urn:uuid, absolute, contained --------------------------------------------------------------


def test_urn_uuid_references_are_settled_the_same_by_both_routes() -> None:
    pat, med = "urn:uuid:11111111-2222-3333-4444-555555555555", "urn:uuid:11111111-2222-3333-4444-666666666666"
    anc = obs("neutrophils", 0.3, "10*9/L", day=6)
    anc["subject"] = {"reference": pat}
    admin = by_reference(5, med)
    admin["subject"] = {"reference": pat}
    medication_ = medication()
    del medication_["id"]
    doc = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": pat, "resource": patient("female")},
            {"fullUrl": med, "resource": medication_},
            {"fullUrl": "urn:uuid:11111111-2222-3333-4444-777777777777", "resource": admin},
            {"resource": infusion()},
            {"resource": anc},
        ],
    }
    record = both_routes(doc)
    assert record.patient_id == "p1"
    assert [e.kind for e in record.events_of("gcsf")] == ["gcsf"]
    assert [r.value for r in record.series("neutrophils")] == [0.3]
    assert record.unresolved_medications == []
    assert "other-patient" not in [p.code for p in record.problems]


def test_absolute_versioned_and_contained_medication_references_resolve() -> None:
    contained = by_reference(4, "#m")
    contained["contained"] = [medication("m"), {"resourceType": "Medication", "id": "other", "code": {}}]
    record = extract_record(
        bundle(
            infusion(),
            medication("f1"),
            by_reference(3, "https://ehr.example/fhir/Medication/f1"),
            by_reference(5, "Medication/f1/_history/2"),
            contained,
        )
    )
    assert [e.start for e in record.events_of("gcsf")] == [day_date(3), day_date(4), day_date(5)]
    assert record.unresolved_medications == []


def test_a_contained_reference_is_only_to_its_own_contained_medication() -> None:
    """ "#f1" names a contained resource: a Medication f1 elsewhere in the data is not it."""
    record = extract_record(bundle(infusion(), medication("f1"), by_reference(3, "#f1")))
    assert record.events_of("gcsf") == []
    assert [u.source_id for u in record.unresolved_medications] == [record.problems[-1].resource]


def test_a_drug_that_cannot_be_identified_is_a_problem_and_listed() -> None:
    record = extract_record(bundle(infusion(), by_reference(3, "Medication/missing", id="given")))
    assert record.events_of("gcsf") == []
    (problem,) = [p for p in record.problems if p.code == "medication-unresolved"]
    assert problem.resource == "MedicationAdministration/given" and problem.when == day_date(3)
    assert [(u.when, u.source_id) for u in record.unresolved_medications] == [
        (day_date(3), "MedicationAdministration/given")
    ]
    assert unresolved_medication_ids([by_reference(3, "Medication/missing"), medication("x")]) == ["missing"]


def test_a_use_not_given_needs_no_drug() -> None:
    admin = by_reference(3, "Medication/missing")
    admin["status"] = "not-done"
    assert extract_record(bundle(infusion(), admin)).unresolved_medications == []


# --- one patient ----------------------------------------------------------------------------------------------


def _two_patients() -> list[dict[str, Any]]:
    return [
        patient("female"),
        infusion(),
        obs("neutrophils", 0.3, "10*9/L", day=6),
        patient("male", id="p2"),
        of("p2", infusion(2, id="p2-infusion")),
        of("p2", obs("neutrophils", 5.0, "10*9/L", day=6)),
        of("p2", by_reference(5, "Medication/filgrastim")),
        medication(),
    ]


def test_another_patients_resources_never_reach_the_record() -> None:
    record = extract_record(bundle(_two_patients()), patient_id="p1")
    assert record.patient_id == "p1" and record.demographics.sex == "female"
    assert [r.value for r in record.series("neutrophils")] == [0.3]
    assert record.infusion_date == DAY0 and record.events_of("gcsf") == []
    (problem,) = [p for p in record.problems if p.code == "other-patient"]
    assert problem.resource == "Patient/p2" and problem.severity == "warning"
    assert "4 resource(s)" in problem.reason


def test_split_by_patient_shares_out_and_medications_go_with_who_uses_them() -> None:
    shares = split_by_patient(bundle(_two_patients()))
    assert list(shares) == ["p1", "p2"]
    assert not any(r.get("resourceType") == "Medication" for r in shares["p1"])
    assert [r["resourceType"] for r in shares["p2"]][-1] == "Medication"
    records = extract_records(bundle(_two_patients()))
    assert [(r.patient_id, [x.value for x in r.series("neutrophils")]) for r in records] == [
        ("p1", [0.3]),
        ("p2", [5.0]),
    ]
    assert [e.kind for e in records[1].events_of("gcsf")] == ["gcsf"]
    assert all("other-patient" not in [p.code for p in r.problems] for r in records)


def test_a_result_naming_no_patient_is_never_a_patients() -> None:
    # issue 15: even in one patient's own data, a result without its subject is not read as that patient's
    loose = obs("neutrophils", 0.2, "10*9/L", day=7, id="loose")
    del loose["subject"]
    alone = extract_record(bundle(patient(), infusion(), loose))
    assert [r.value for r in alone.series("neutrophils")] == []
    (left_out,) = [p for p in alone.problems if p.code == "no-subject"]
    assert left_out.severity == "warning" and left_out.resource == "Observation/loose"

    shares = split_by_patient(bundle(_two_patients(), loose))
    assert all(NoPatient("Observation/loose") in share for share in shares.values())
    for record in extract_records(bundle(_two_patients(), loose)):
        assert 0.2 not in [r.value for r in record.series("neutrophils")]
        (nobodys,) = [p for p in record.problems if p.code == "no-subject"]
        assert nobodys.severity == "warning" and nobodys.resource == "Observation/loose"
    with_others = extract_record(bundle(_two_patients(), loose), patient_id="p1")
    assert 0.2 not in [r.value for r in with_others.series("neutrophils")]


def test_data_naming_no_patient_are_one_record() -> None:
    loose = obs("neutrophils", 0.2, "10*9/L", day=7)
    del loose["subject"]
    (record,) = extract_records([loose])
    assert record.patient_id is None and [r.value for r in record.series("neutrophils")] == [0.2]


def test_without_a_patient_id_several_patients_are_still_flagged() -> None:
    record = extract_record(bundle(_two_patients()))
    assert record.patient_id == "p1"
    assert {"several-patients", "other-patient"} <= set(p.code for p in record.problems)


def test_the_reader_reads_ndjson_and_bundles_alike() -> None:
    lines = [patient(), infusion(), obs("neutrophils", 0.3, "10*9/L", day=6)]
    ndjson = b"\n".join(orjson.dumps(r) for r in lines) + b"\n"
    from_lines = extract_record(read_resources(ndjson, ndjson=True))
    from_bundle = extract_record(read_resources(orjson.dumps(bundle(lines))))
    assert from_lines == from_bundle


# --- advice over an unidentified drug -------------------------------------------------------------------------


def test_the_g_csf_card_never_says_not_given_over_an_unidentified_drug() -> None:
    record = extract_record(
        bundle(infusion(), obs("neutrophils", 0.3, "10*9/L", day=7), by_reference(6, "Medication/x", id="x6"))
    )
    a = evaluate(record, day_date(7))
    (card,) = [r for r in a.recommendations if r.code == "gcsf-therapeutic"]
    assert "consider therapeutic G-CSF" not in card.summary
    assert "check whether G-CSF was given" in card.summary
    assert "MedicationAdministration/x6 on 2024-03-07 could not be identified" in card.text
    assert card.urgency == "warning" and card.facts["unidentified_medication"] is True
    assert "medication-unresolved" in problem_codes(a)


def test_an_unidentified_drug_outside_the_look_back_leaves_the_card_as_it_was() -> None:
    record = extract_record(
        bundle(infusion(), obs("neutrophils", 0.3, "10*9/L", day=7), by_reference(1, "Medication/x"))
    )
    (card,) = [r for r in evaluate(record, day_date(7)).recommendations if r.code == "gcsf-therapeutic"]
    assert "consider therapeutic G-CSF" in card.summary
