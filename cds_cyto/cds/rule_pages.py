"""A small HTML page per recommendation code (the card's `source.url`): the rule, its thresholds and sources,
as configured for this site."""

from __future__ import annotations

import html

from cds_cyto.core.profile import Profile

__all__ = ["rule_page"]

_RULES = {
    "gcsf-therapeutic": ("Therapeutic G-CSF", "gcsf_therapeutic"),
    "gcsf-prophylaxis": ("Prophylactic G-CSF", "gcsf_prophylaxis"),
    "rbc-transfusion": ("Red-cell transfusion", "rbc_transfusion"),
    "platelet-transfusion": ("Platelet transfusion", "platelet_transfusion"),
    "extended-monitoring": ("Extended blood-count monitoring", "extended_monitoring"),
    "data-quality": ("Data quality", None),
}


def rule_page(code: str, profile: Profile) -> str | None:
    if code not in _RULES:
        return None
    title, key = _RULES[code]
    rows = ""
    if key is not None:
        for name, value in profile.thresholds.get(key, {}).items():
            rows += f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"
    else:
        rows = (
            "<tr><td>A result whose unit is missing or unknown, or whose converted value is outside plausible bounds, "
            "is never graded and is listed here instead (clinical-reference §1).</td></tr>"
        )
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>cds-cyto: {html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><p>Thresholds in force at this site (site-configurable):</p>"
        f"<table>{rows}</table><p>Decision support only: the treating team decides.</p></html>"
    )
