"""`profile_versions` names every clinical table with a hash of its content, risk.toml included, so a change to
any table changes the sweep's profile hash and the next sweep re-assesses everyone (issue 13, item 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import cds_cyto.core.profile.load as profile_module
from cds_cyto.core.profile import load_profile
from cds_cyto.sweep.fingerprint import profile_hash

TABLES = ["analytes", "units", "codes", "criteria", "profiles", "thresholds", "risk", "rules"]


def test_every_table_is_listed_with_its_version_and_content_hash() -> None:
    versions = load_profile().versions
    assert sorted(versions) == sorted(TABLES)
    for name in TABLES:
        version, _, digest = versions[name].rpartition(" sha256:")
        assert version and len(digest) == 12, versions[name]


@pytest.mark.parametrize("name", TABLES)
def test_a_change_to_any_table_changes_versions_and_the_sweep_hash(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = load_profile()
    read = profile_module._read_data

    def changed(table: str) -> dict[str, Any]:
        data = read(table)
        return {**data, "note": "a comment-free change"} if table == name else data

    monkeypatch.setattr(profile_module, "_read_data", changed)
    after = load_profile()
    assert after.versions[name] != before.versions[name]
    assert {k: v for k, v in after.versions.items() if k != name} == {
        k: v for k, v in before.versions.items() if k != name
    }
    assert profile_hash(after) != profile_hash(before)


def test_a_site_file_is_listed_and_hashed(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[lln_defaults]\nneutrophils = 1.8\n", encoding="utf-8")
    first = load_profile(site).versions["site"]
    site.write_text("[lln_defaults]\nneutrophils = 1.7\n", encoding="utf-8")
    assert load_profile(site).versions["site"] != first
