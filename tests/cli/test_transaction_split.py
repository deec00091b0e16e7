"""Splitting a transaction stores what the whole would have (cds_cyto/cli/transaction_split.py): every resource once,
every urn:uuid reference turned into the `Type/id` its entry is stored as, nothing split that cannot be."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cds_cyto.cli.transaction_split import split_transaction
from tests.support.others import synthea_transaction

Json = dict[str, Any]


def urn_references(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["reference"]] if str(value.get("reference", "")).startswith("urn:uuid:") else []
        return own + [r for v in value.values() for r in urn_references(v)]
    if isinstance(value, list):
        return [r for v in value for r in urn_references(v)]
    return []


@given(padding=st.integers(min_value=0, max_value=60), size=st.integers(min_value=1, max_value=40))
def test_a_synthea_transaction_splits_into_puts_with_no_urn_left(padding: int, size: int) -> None:
    pid, whole = synthea_transaction(padding)
    parts = split_transaction(whole, size)
    entries = [e for part in parts for e in part["entry"]]
    assert all(len(part["entry"]) <= size for part in parts)
    assert len(entries) == len(whole["entry"])
    if len(parts) == 1 and len(whole["entry"]) <= size:
        assert parts[0] is whole  # small enough: sent as it is
        return
    assert not urn_references(entries)
    assert all(e["request"]["method"] == "PUT" for e in entries)
    assert {"method": "PUT", "url": f"Patient/{pid}"} in [e["request"] for e in entries]
    for e in entries:
        assert e["request"]["url"] == f"{e['resource']['resourceType']}/{e['resource']['id']}"
    assert all(e["resource"]["subject"]["reference"] == f"Patient/{pid}" for e in entries if "subject" in e["resource"])
    assert urn_references(whole["entry"]), "the caller's Bundle is left as it was"


def conditional_referenced() -> Json:
    org: Json = {
        "fullUrl": "urn:uuid:org-1",
        "resource": {"resourceType": "Organization"},
        "request": {"method": "POST", "url": "Organization", "ifNoneExist": "identifier=x|1"},
    }
    pat: Json = {
        "fullUrl": "urn:uuid:pat-1",
        "resource": {"resourceType": "Patient", "managingOrganization": {"reference": "urn:uuid:org-1"}},
        "request": {"method": "POST", "url": "Patient"},
    }
    return {"resourceType": "Bundle", "type": "transaction", "entry": [org, pat]}


def test_a_conditional_create_referenced_by_urn_is_sent_whole() -> None:
    bundle = conditional_referenced()
    assert split_transaction(bundle, 1) == [bundle]


def test_a_reference_to_a_urn_no_entry_has_is_sent_whole() -> None:
    bundle = conditional_referenced()
    bundle["entry"][1]["resource"]["managingOrganization"] = {"reference": "urn:uuid:nowhere"}
    bundle["entry"][0]["request"].pop("ifNoneExist")
    assert split_transaction(bundle, 1) == [bundle]


def test_a_bundle_at_the_limit_is_not_split() -> None:
    _, whole = synthea_transaction(0)
    assert split_transaction(whole, len(whole["entry"])) == [whole]
    assert len(split_transaction(whole, len(whole["entry"]) - 1)) == 2
