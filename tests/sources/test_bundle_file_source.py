"""BundleFileSource: directories of Bundles, NDJSON, urn:uuid references, shared Medications."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from cds_cyto.core.extract import NoPatient, extract_record
from cds_cyto.sources import BundleFileSource, PatientCatalog, PatientNotFound, SourceFileError
from tests.support.fhir import as_dict, bare_observation, resource_ids, search_bundle


def write(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(value))
    return path


def patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid}


async def test_directory_of_bundles_of_any_type(tmp_path: Path) -> None:
    write(tmp_path / "a" / "p1.json", search_bundle(patient("p1"), bare_observation("o1", "p1"), kind="collection"))
    write(tmp_path / "b" / "p2.json", search_bundle(patient("p2"), bare_observation("o2", "p2"), kind="transaction"))
    write(tmp_path / "b" / "more.json", search_bundle(bare_observation("o3", "p1"), bare_observation("o1", "p1")))
    write(tmp_path / "truth.json", {"patients": {"p1": {"grade": 4}}})  # not FHIR: skipped
    (tmp_path / "README.md").write_text("not read")
    source = BundleFileSource(tmp_path)
    assert isinstance(source, PatientCatalog)
    assert await source.patient_ids() == ["p1", "p2"]
    # every copy, in file order: the core settles copies and versions (o1 is in two files)
    assert resource_ids(await source.patient_resources("p1")) == ["p1", "o1", "o3", "o1"]
    assert resource_ids(await source.patient_resources("p2")) == ["p2", "o2"]


async def test_ndjson_and_absolute_or_versioned_references(tmp_path: Path) -> None:
    lines = [
        patient("p1"),
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "https://ehr.test/fhir/Patient/p1"}},
        {"resourceType": "Procedure", "id": "pr1", "subject": {"reference": "Patient/p1/_history/3"}},
        {"resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": "Patient/p1"}},
    ]
    (tmp_path / "data.ndjson").write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n\n")
    resources = await BundleFileSource(tmp_path / "data.ndjson").patient_resources("p1")
    assert resource_ids(resources) == ["p1", "c1", "pr1", "a1"]


async def test_urn_uuid_references_look_like_a_loaded_server(tmp_path: Path) -> None:
    pat_url = "urn:uuid:0b1c5e2e-6d4b-4a53-9a3e-3a3f1c1b0001"
    med_url = "urn:uuid:0b1c5e2e-6d4b-4a53-9a3e-3a3f1c1b0002"
    doc: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": pat_url, "resource": {"resourceType": "Patient"}},
            {"fullUrl": med_url, "resource": {"resourceType": "Medication", "code": {"text": "tocilizumab"}}},
            {
                "fullUrl": "urn:uuid:0b1c5e2e-6d4b-4a53-9a3e-3a3f1c1b0003",
                "resource": {
                    "resourceType": "MedicationAdministration",
                    "subject": {"reference": pat_url},
                    "medicationReference": {"reference": med_url},
                },
            },
        ],
    }
    write(tmp_path / "tx.json", doc)
    source = BundleFileSource(tmp_path)
    (pid,) = await source.patient_ids()
    assert pid == "0b1c5e2e-6d4b-4a53-9a3e-3a3f1c1b0001"
    by_type = {as_dict(r)["resourceType"]: as_dict(r) for r in await source.patient_resources(pid)}
    assert set(by_type) == {"Patient", "MedicationAdministration", "Medication"}  # the Medication comes along
    admin = by_type["MedicationAdministration"]
    assert admin["subject"] == {"reference": f"Patient/{pid}"}
    assert admin["medicationReference"] == {"reference": "Medication/0b1c5e2e-6d4b-4a53-9a3e-3a3f1c1b0002"}
    assert doc["entry"][2]["resource"]["subject"]["reference"] == pat_url  # the input is not modified


async def test_unknown_patient(tmp_path: Path) -> None:
    write(tmp_path / "p1.json", search_bundle(patient("p1")))
    with pytest.raises(PatientNotFound):
        await BundleFileSource(tmp_path).patient_resources("p9")


async def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.ndjson").write_bytes(orjson.dumps(patient("p1")) + b"\n{oops\n")
    with pytest.raises(SourceFileError, match=r"bad.ndjson:2: not valid JSON"):
        await BundleFileSource(tmp_path).patient_ids()
    with pytest.raises(SourceFileError, match="no such file or directory"):
        await BundleFileSource(tmp_path / "missing").patient_ids()


def _anc(oid: str, pid: str, value: float, version: str) -> dict[str, Any]:
    res = bare_observation(oid, pid)
    res.update(
        status="final",
        code={"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
        effectiveDateTime="2026-03-08T08:00:00Z",
        valueQuantity={"value": value, "unit": "10*9/L", "system": "http://unitsofmeasure.org", "code": "10*9/L"},
        meta={"versionId": version},
    )
    return res


async def test_every_copy_is_handed_over_and_the_core_keeps_the_newest(tmp_path: Path) -> None:
    """Older first, newer after (and in another file): the source keeps both, the core grades the newer."""
    write(tmp_path / "a.json", search_bundle(patient("p1"), _anc("o1", "p1", 0.3, "1")))
    write(tmp_path / "b.json", search_bundle(_anc("o1", "p1", 0.7, "2")))
    resources = await BundleFileSource(tmp_path).patient_resources("p1")
    assert len(resources) == 3
    record = extract_record(resources, patient_id="p1")
    assert [r.value for r in record.series("neutrophils")] == [0.7]


async def test_a_medication_in_another_file_goes_with_who_references_it(tmp_path: Path) -> None:
    admin = {
        "resourceType": "MedicationAdministration",
        "id": "ma1",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": "Medication/m1"},
    }
    write(tmp_path / "p1.json", search_bundle(patient("p1"), admin))
    write(tmp_path / "p2.json", search_bundle(patient("p2")))
    write(tmp_path / "medications.json", search_bundle({"resourceType": "Medication", "id": "m1"}))
    source = BundleFileSource(tmp_path)
    assert resource_ids(await source.patient_resources("p1")) == ["p1", "ma1", "m1"]
    assert resource_ids(await source.patient_resources("p2")) == ["p2"]


async def test_a_result_naming_no_patient_is_nobodys_in_a_file_of_several(tmp_path: Path) -> None:
    loose = {"resourceType": "Observation", "id": "loose"}
    write(tmp_path / "one.json", search_bundle(patient("p1"), loose))
    write(tmp_path / "two.json", search_bundle(patient("p2"), patient("p3"), {**loose, "id": "loose2"}))
    source = BundleFileSource(tmp_path)
    assert resource_ids(await source.patient_resources("p1")) == ["p1", "loose"]  # its own one-patient file
    for pid in ("p2", "p3"):
        assert await source.patient_resources(pid) == [patient(pid), NoPatient("Observation/loose2")]
