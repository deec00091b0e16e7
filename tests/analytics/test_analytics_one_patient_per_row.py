"""`analyze` reads each Bundle with the core's one reader: a file that holds two patients gives two rows, and
neither patient's labs or G-CSF reach the other's row (issue 12)."""

from __future__ import annotations

from pathlib import Path

import orjson

from cds_cyto.analytics import rows_from_files
from tests.cds.scenario import cytopenic_patient, filgrastim, gcsf_by_reference, searchset


def test_a_two_patient_bundle_gives_one_row_per_patient(tmp_path: Path) -> None:
    two = cytopenic_patient("pt-1") + cytopenic_patient("pt-2", anc=3.0) + [filgrastim()]
    two += gcsf_by_reference("pt-2", range(5, 7))
    path = tmp_path / "two.json"
    path.write_bytes(orjson.dumps(searchset(two)))
    rows = list(rows_from_files([path], None, "ALL", jobs=1))
    assert [r["patient_id"] for r in rows] == ["pt-1", "pt-2"]
    assert [r["nadir_sn"] for r in rows] == [0.3, 3.0]
    assert [r["any_gcsf"] for r in rows] == [0.0, 1.0]
