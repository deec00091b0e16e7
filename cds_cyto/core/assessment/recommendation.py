"""What a recommendation is: the code, the advice, the evidence it rests on, the rule and its citation.

Part of the result (`Assessment.recommendations`); the rules that build them are in `cds_cyto.core.recommend`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Evidence", "Recommendation", "Urgency"]

Urgency = Literal["critical", "warning", "info"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact a recommendation rests on: a value with its date and source, or a derived finding."""

    label: str
    value: str
    when: str | None = None  # ISO date or date-time
    source: str | None = None  # e.g. "Observation/123"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "value": self.value}
        if self.when:
            out["when"] = self.when
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True, slots=True)
class Recommendation:
    code: str  # a rule code of rules.toml
    summary: str  # < 140 characters, with the value and the day
    text: str  # what to do
    urgency: Urgency
    rule: str  # the rule that fired, with its threshold
    citation: str
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    kind: Literal["recommendation", "published-association"] = "recommendation"
    facts: dict[str, Any] = field(default_factory=dict)  # structured values the card's suggestions need

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "summary": self.summary,
            "text": self.text,
            "urgency": self.urgency,
            "rule": self.rule,
            "evidence": [e.to_json() for e in self.evidence],
            "citation": self.citation,
        }
