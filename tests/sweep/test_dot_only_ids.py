"""Dot-only ids ("." and "..") match the FHIR id rule but, put in a URL, are dot segments: "Patient/.." is the
server's base, not a patient. Every place an id becomes a path segment refuses them (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_cyto.sources import is_fhir_id
from cds_cyto.sweep.cohort_query import CohortError, patient_of, read_ids_file


@pytest.mark.parametrize("bad", [".", "..", "..."])
def test_a_dot_only_id_is_no_fhir_id(bad: str) -> None:
    assert not is_fhir_id(bad)
    assert patient_of({"reference": f"Patient/{bad}"}) is None  # a Group member or an Observation's subject


def test_ids_with_dots_inside_are_still_ids() -> None:
    assert is_fhir_id("a.b") and is_fhir_id("1.2.840")


def test_an_ids_file_with_a_dot_only_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("p-1\nPatient/..\n")
    with pytest.raises(CohortError, match=":2: not a FHIR patient id"):
        read_ids_file(path)
