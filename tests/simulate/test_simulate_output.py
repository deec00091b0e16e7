"""Written output: byte-identical for a seed, bundles and NDJSON agree, dates and the data cut, the CLI."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import orjson
import pytest

from cds_cyto.cli import main
from cds_cyto.simulate import CohortSpec, SimulatedPatient, plan_cohort, write_cohort

SPEC = CohortSpec(n=4, disease="mixed", seed=9, mess="heavy", data_cut=date(2026, 11, 20), mid_course=1)


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_seed_gives_byte_identical_output_and_another_seed_does_not(tmp_path: Path) -> None:
    write_cohort(SPEC, tmp_path / "a")
    write_cohort(SPEC, tmp_path / "b", jobs=2)
    write_cohort(CohortSpec(n=4, disease="mixed", seed=10, mess="heavy"), tmp_path / "c")
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert a == b
    assert sorted(a) == sorted(c) and a["syn-all-0000.json"] != c["syn-all-0000.json"]
    assert set(a) == {"truth.json", "syn-all-0000.json", "syn-nhl-0001.json", "syn-all-0002.json", "syn-nhl-0003.json"}


def test_ndjson_holds_the_same_resources_as_the_bundles(tmp_path: Path) -> None:
    write_cohort(SPEC, tmp_path / "bundles")
    write_cohort(SPEC, tmp_path / "ndjson", fmt="ndjson")
    from_bundles = sorted(
        orjson.dumps(e["resource"])
        for name, data in files(tmp_path / "bundles").items()
        if name != "truth.json"
        for e in orjson.loads(data)["entry"]
    )
    ndjson = files(tmp_path / "ndjson")
    assert set(ndjson) == {
        "truth.json",
        "Patient.ndjson",
        "Procedure.ndjson",
        "MedicationAdministration.ndjson",
        "Condition.ndjson",
        "Observation.ndjson",
    }
    from_ndjson = sorted(
        line for name, data in ndjson.items() if name.endswith(".ndjson") for line in data.splitlines()
    )
    assert from_bundles == from_ndjson
    for name, data in ndjson.items():
        if name.endswith(".ndjson"):
            assert {orjson.loads(line)["resourceType"] for line in data.splitlines()} == {name.split(".")[0]}


def test_a_rerun_replaces_earlier_cohort_files_only(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("kept")
    write_cohort(CohortSpec(n=6, seed=1), tmp_path)
    write_cohort(CohortSpec(n=2, seed=1), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "README.md",
        "syn-all-0000.json",
        "syn-nhl-0001.json",
        "truth.json",
    ]


def test_infusion_dates_and_the_data_cut(cut_patients: list[SimulatedPatient]) -> None:
    cut = date(2026, 11, 20)
    assert cut_patients[0].plan.infusion_date == date(2026, 6, 1)
    mid = [p for p in cut_patients if not p.truth["complete"]]
    assert len(mid) == len(cut_patients) // 8
    for p in cut_patients:
        day_at_cut = (cut - p.plan.infusion_date).days
        assert p.truth["data_cut_day"] == day_at_cut
        assert (3 <= day_at_cut <= 25) if p in mid else day_at_cut >= 100
        assert all(c.day <= day_at_cut for c in p.charted) and all(e.day <= day_at_cut for e in p.events)
    for p in mid:
        assert p.truth["pht_day28"] == {"seed000": None, "seed001": None}


def test_plans_without_a_cut_spread_over_the_following_months() -> None:
    plans = plan_cohort(CohortSpec(n=100, seed=1))
    dates = [p.infusion_date for p in plans]
    assert dates[0] == date(2026, 6, 1) and dates == sorted(dates)
    assert dates[-1] - dates[0] > timedelta(days=150)
    assert {p.disease for p in plans} == {"all", "nhl"}


def test_cli_writes_a_cohort(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "simulate",
            "--n",
            "2",
            "--disease",
            "nhl",
            "--seed",
            "4",
            "--out",
            str(tmp_path),
            "--format",
            "ndjson",
            "--mess",
            "default",
            "--anchor",
            "2026-07-01",
        ]
    )
    assert code == 0
    assert "wrote 2 patients" in capsys.readouterr().out
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert [p["patient_id"] for p in truth["patients"]] == ["syn-nhl-0000", "syn-nhl-0001"]
    assert truth["patients"][0]["infusion_date"] == "2026-07-01"
    assert truth["generator"]["spec"]["seed"] == 4


def test_cli_calibration_report_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--calibration-report", "--n", "20", "--disease", "nhl", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if report["passed"] else 1)
    assert {t["key"].split(".")[0] for t in report["targets"]} == {"nhl"}


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--n", "2"],  # no --out
        ["simulate", "--n", "0", "--out", "x"],
        ["simulate", "--calibration-report", "--format", "ndjson"],
        ["simulate", "--out", "x", "--format", "json"],
        ["simulate", "--out", "x", "--mid-course", "2"],
    ],
)
def test_cli_refuses_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("cds-cyto: ")


FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "cohort"
FIXTURE_SPEC = CohortSpec(
    n=40, disease="mixed", seed=20261122, mess="default", data_cut=date(2026, 11, 20), early_death=False
)


@pytest.mark.skipif(not (FIXTURE / "truth.json").exists(), reason="no committed cohort")
def test_the_committed_cohort_is_what_its_readme_command_writes(tmp_path: Path) -> None:
    write_cohort(FIXTURE_SPEC, tmp_path)
    committed = {name: data for name, data in files(FIXTURE).items() if name != "README.md"}
    assert sorted(committed) == sorted(files(tmp_path)), "regenerate fixtures/cohort (command in its README)"
    assert committed == files(tmp_path), "regenerate fixtures/cohort (command in its README)"
    assert sum(len(data) for data in committed.values()) < 25e6
    assert "--seed 20261122 --mess default" in (FIXTURE / "README.md").read_text()
