"""A site file that holds a mistake is refused when it is loaded, in one line naming the file, the key and what was
expected (issue 13, item 4): a typo must never leave the default silently in force, and a wrong type must never
start a service that then answers 500 on every hook call."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_cyto.core.profile import ProfileError, load_profile
from cds_cyto.settings import repo_path
from tests.support.cli import assert_one_line_error, run_cds_cyto

# (site file text, what the one line must say) — every mistake the issue names, and each kind of check.
MISTAKES = [
    ("[thresholds.gcsf_therapeutc]\nanc_below = 0.4\n", "thresholds.gcsf_therapeutc: unknown table"),
    ("[thresholds.gcsf_therapeutic]\nanc_belo = 0.4\n", "thresholds.gcsf_therapeutic.anc_belo: unknown key"),
    ('[thresholds.gcsf_therapeutic]\nanc_below = "half"\n', "anc_below: expected a number, got a string"),
    ("[thresholds.gcsf_therapeutic]\nanc_below = -0.1\n", "anc_below: expected a number of 0 or more"),
    ("[thresholds.gcsf_therapeutic]\nanc_below = nan\n", "anc_below: expected a number of 0 or more"),
    ("[thresholds.gcsf_therapeutic]\nanc_below = inf\n", "anc_below: expected a number of 0 or more"),
    ("[thresholds.gcsf_therapeutic]\nanc_below = true\n", "anc_below: expected a number, got true or false"),
    ("[thresholds.gcsf_therapeutic]\nanc_below = [0.5]\n", "anc_below: expected a number, got a list"),
    ("[thresholds.freshness]\nmax_age_days = 2.5\n", "max_age_days: expected a whole number, got 2.5"),
    ("[thresholds.freshness]\nmax_age_days = -1\n", "max_age_days: expected a whole number of 0 or more"),
    ('[thresholds.site_model]\nunknown_disease_in_population = "yes"\n', "expected true or false, got a string"),
    ("[thresholds.data_quality]\nurgent_implausible = [1]\n", "expected a list of a string, got a whole number"),
    ("[thresholds]\ngcsf_therapeutic = 0.5\n", "thresholds.gcsf_therapeutic: expected a table, got a number"),
    ("[thresholdz]\nx = 1\n", "unknown section [thresholdz]"),
    ("thresholds = 1\n", "[thresholds] is not a table"),
    ("[lln_defaults]\nneutrophills = 1.5\n", "lln_defaults.neutrophills: unknown key"),
    ('[lln_defaults]\nneutrophils = "1.5"\n', "lln_defaults.neutrophils: expected a number"),
    ("[analytes.neutrophils]\nplausibel = [0, 100]\n", "analytes.neutrophils.plausibel: unknown key"),
    ('[analytes.neutrophils]\nextra_codes = "http://loinc.org|1"\n', "extra_codes: expected a list"),
    ("[analytes.neutrophills]\ncodes = []\n", "analytes.neutrophills: unknown table"),
    ('[aliases]\n"x" = 3\n', "aliases.x: expected a string, got a whole number"),
    ("[thresholds.gcsf_therapeutic]\nanc_below = 1979-05-27\n", "expected a number, got a date"),
]

# What the bundled data take, a site may give: none of these is refused.
ACCEPTED = [
    "[thresholds.gcsf_therapeutic]\nanc_below = 0.4\n",
    "[thresholds.gcsf_therapeutic]\nanc_below = 0\n",  # a whole number where the default is a number
    '[thresholds.gcsf_therapeutic]\nanc_below = 0.4\nsource = "our protocol"\n',
    "[thresholds.freshness]\nmax_age_days = 0\n",
    "[thresholds.site_model]\nunknown_disease_in_population = true\n",
    '[thresholds.data_quality]\nurgent_implausible = ["hemoglobin", "platelets"]\n',
    '[aliases]\n"10^9/l" = "10*9/L"\n',  # a table whose keys the site names
    "[lln_defaults]\nneutrophils = 1.5\n",
    '[analytes.neutrophils]\nextra_codes = ["http://loinc.org|999-9"]\n',
    '[dimensions.count.factors]\n"10*3/mm3" = 1.0\n',
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "said"), MISTAKES)
def test_a_mistake_is_refused_naming_file_key_and_expectation(tmp_path: Path, text: str, said: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"site file {path}: ")
    assert said in message


@pytest.mark.parametrize("text", ACCEPTED)
def test_what_the_bundled_data_take_is_accepted(tmp_path: Path, text: str) -> None:
    load_profile(write(tmp_path, text))


def test_the_site_file_in_force_changes_the_threshold(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, ACCEPTED[0]))
    assert profile.thresholds["gcsf_therapeutic"]["anc_below"] == 0.4


@pytest.mark.parametrize(("text", "said"), [MISTAKES[0], MISTAKES[1], MISTAKES[2]])
def test_serve_refuses_to_start_on_a_bad_site_file(tmp_path: Path, text: str, said: str) -> None:
    path = write(tmp_path, text)
    result = run_cds_cyto(tmp_path, "serve", "--demo", "--check", env={"CDS_CYTO_SITE_FILE": str(path)})
    assert_one_line_error(result, str(path), said)


def test_serve_starts_on_a_good_site_file(tmp_path: Path) -> None:
    path = write(tmp_path, ACCEPTED[0])
    result = run_cds_cyto(tmp_path, "serve", "--demo", "--check", env={"CDS_CYTO_SITE_FILE": str(path)})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("text", "said"), [MISTAKES[0], MISTAKES[1], MISTAKES[2]])
def test_the_cli_exits_2_on_a_bad_site_file(tmp_path: Path, text: str, said: str) -> None:
    path = write(tmp_path, text)
    bundle = next(iter(sorted(repo_path("fixtures", "edge").glob("*.json"))))
    assert_one_line_error(run_cds_cyto(tmp_path, "evaluate", str(bundle), "--site", str(path)), str(path), said)


def test_the_readme_example_site_file_is_accepted(tmp_path: Path) -> None:
    readme = repo_path("README.md").read_text(encoding="utf-8")
    example = readme.split("# site.toml — every key optional\n", 1)[1].split("```", 1)[0]
    profile = load_profile(write(tmp_path, example))
    assert profile.lln_defaults["neutrophils"] == 1.8
