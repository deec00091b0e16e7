"""The recommendation rules as one table: each code with its title, its thresholds and its citation.

The codes are the contract (the cards' topics, the Assessment's `recommendations[].code`, the rule pages' URLs);
titles come from rules.toml and numbers and citations from thresholds.toml, both in the profile, so the card, the rule
page and the Assessment read the same row.
"""

from __future__ import annotations

from cds_cyto.core.profile import Profile

__all__ = ["CODES", "title_of"]

# In card order; rules.toml must list exactly these (tests/core/test_rules_table.py).
CODES = (
    "gcsf-therapeutic",
    "gcsf-prophylaxis",
    "rbc-transfusion",
    "platelet-transfusion",
    "extended-monitoring",
    "counts-overdue",
    "prolonged-cytopenia-evaluation",
    "data-quality",
)


def title_of(code: str, profile: Profile) -> str:
    rule = profile.rule(code)
    return rule.title if rule is not None else code
