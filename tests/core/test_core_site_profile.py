"""A site file changes data, never code — and a changed threshold is cited as the site's, not the paper's."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_cyto.core.profile import ProfileError, load_profile

SITE = """
[thresholds.gcsf_therapeutic]
anc_below = 0.6
[profiles.seed000.recovery.platelets]
lookback_days = 3
[events.gcsf]
extra_codes = ["http://www.nlm.nih.gov/research/umls/rxnorm|999999"]
[analytes.il2]
extra_codes = ["http://lab.example/codes|IL2"]
[lln_defaults]
neutrophils = 1.8
"""


def test_site_file_overrides_and_extends(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE)
    p = load_profile(path)
    assert p.thresholds["gcsf_therapeutic"]["anc_below"] == 0.6
    assert p.thresholds["gcsf_therapeutic"]["source"].startswith("site configuration")
    assert p.definitions["seed000"].recovery["platelets"].lookback_days == 3
    assert p.event_codes["http://www.nlm.nih.gov/research/umls/rxnorm|999999"][0] == "gcsf"
    assert p.event_codes["http://www.whocc.no/atc|L03AA02"][0] == "gcsf"  # defaults kept
    assert p.observation_codes["http://lab.example/codes|IL2"] == "il2"
    assert p.lln_defaults == {"neutrophils": 1.8}


def test_unchanged_threshold_keeps_its_citation() -> None:
    p = load_profile(site={"thresholds": {"rbc_transfusion": {"hb_below": 60.0}}})
    assert p.thresholds["rbc_transfusion"]["source"].startswith("Seed 000")


@pytest.mark.parametrize("text", ["[nonsense]\nx = 1\n", "not toml ["])
def test_bad_site_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "site.toml"
    path.write_text(text)
    with pytest.raises(ProfileError):
        load_profile(path)
