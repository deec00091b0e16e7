"""A small HTML page per recommendation code (the card's `source.url`): the rule, its thresholds and sources,
as configured for this site — its own thresholds section and the further sections it reads (rules.toml `also`)."""

from __future__ import annotations

import html
from typing import Any

from cds_cyto.core.profile import Profile

__all__ = ["rule_page"]


def _rows(section: dict[str, Any]) -> str:
    return "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>" for name, value in section.items()
    )


def rule_page(code: str, profile: Profile) -> str | None:
    rule = profile.rule(code)
    if rule is None:
        return None
    title = rule.title
    rows = ""
    if rule.page_note is not None:  # a rule whose page explains it in a sentence rather than in numbers
        rows = f"<tr><td>{html.escape(rule.page_note)}</td></tr>"
    else:
        rows = _rows(profile.thresholds.get(rule.thresholds, {}))
    more = "".join(
        f"<h2>{html.escape(name)}</h2><table>{_rows(profile.thresholds.get(name, {}))}</table>" for name in rule.also
    )
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>cds-cyto: {html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><p>Thresholds in force at this site (site-configurable):</p>"
        f"<table>{rows}</table>{more}<p>Decision support only: the treating team decides.</p></html>"
    )
