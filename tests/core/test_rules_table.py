"""rules.toml is the one table of recommendation rules: its codes are exactly the contract's, in card order, each
names a thresholds section with a citation, and a site may retitle a rule but never add one (issue 13)."""

from __future__ import annotations

from pathlib import Path

from cds_cyto.cds.rule_pages import rule_page
from cds_cyto.core.profile import default_profile, load_profile
from cds_cyto.core.recommend.rules import CODES, title_of
from tests.support.cli import assert_one_line_error, run_cds_cyto

FIXTURE = "fixtures/edge/amended-supersedes.json"


def test_the_table_lists_exactly_the_contract_codes_in_card_order() -> None:
    profile = default_profile()
    assert tuple(rule.code for rule in profile.rules) == CODES
    for rule in profile.rules:
        assert profile.thresholds[rule.thresholds]["source"], rule.code


def test_a_site_title_reaches_the_card_topic_and_the_rule_page(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[rules.rbc-transfusion]\ntitle = "Red cells (site protocol)"\n', encoding="utf-8")
    profile = load_profile(site)
    assert title_of("rbc-transfusion", profile) == "Red cells (site protocol)"
    page = rule_page("rbc-transfusion", profile)
    assert page is not None and "<h1>Red cells (site protocol)</h1>" in page
    assert title_of("rbc-transfusion", default_profile()) == "Red-cell transfusion"


def test_a_site_file_cannot_add_a_rule(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[rules.new-card]\ntitle = "x"\norder = 7\nthresholds = "freshness"\n', encoding="utf-8")
    assert_one_line_error(run_cds_cyto(tmp_path, "evaluate", FIXTURE, "--site", str(site)), "rules.new-card")


def test_every_rule_has_a_page_with_its_numbers_and_the_sections_it_reads() -> None:
    profile = default_profile()
    for rule in profile.rules:
        page = rule_page(rule.code, profile)
        assert page is not None and f"<h1>{rule.title}</h1>" in page, rule.code
        for section in rule.also:
            assert f"<h2>{section}</h2>" in page, (rule.code, section)
    overdue = rule_page("counts-overdue", profile)
    assert overdue is not None and "<th>until_day</th><td>100</td>" in overdue and "<th>max_age_days</th>" in overdue
    prolonged = rule_page("prolonged-cytopenia-evaluation", profile)
    assert prolonged is not None and "Gagelmann et al., Blood Adv 2023;7:555" in prolonged
    assert "<th>dependence_transfusions</th><td>2</td>" in prolonged


def test_the_new_rules_are_in_the_contract_in_card_order() -> None:
    assert CODES.index("counts-overdue") < CODES.index("prolonged-cytopenia-evaluation") < CODES.index("data-quality")
