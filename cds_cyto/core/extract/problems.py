"""The data-problem log that extraction fills instead of raising."""

from __future__ import annotations

from datetime import date

from cds_cyto.core.extract.record import DataProblem

__all__ = ["ProblemLog"]


class ProblemLog:
    def __init__(self) -> None:
        self.items: list[DataProblem] = []

    def warn(self, resource: str, code: str, reason: str, when: date | None = None, analyte: str | None = None) -> None:
        """Content that could not be used (a unit, a value, a time): clinicians should know."""
        self.items.append(DataProblem(resource, code, reason, "warning", when, analyte))

    def info(self, resource: str, code: str, reason: str, when: date | None = None) -> None:
        """Excluded by rule (status, superseded, duplicate): recorded, not alarming."""
        self.items.append(DataProblem(resource, code, reason, "info", when))
