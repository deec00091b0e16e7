"""Patient.deceased[x]: whether and when the patient died (deceasedBoolean, or deceasedDateTime as a date or dateTime).

The calendar date is the one written in the source (its first 10 characters), as for every other date the record
keeps; a value that is not a date leaves the day unknown, and a dateTime alone says the patient died.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

__all__ = ["read_deceased"]


def read_deceased(patient: Mapping[str, Any]) -> tuple[bool | None, date | None]:
    """(deceased, date of death): (None, None) when the resource says nothing."""
    when = patient.get("deceasedDateTime")
    if isinstance(when, str):
        try:
            return True, date.fromisoformat(when[:10])
        except ValueError:
            return True, None
    flag = patient.get("deceasedBoolean")
    return (flag, None) if isinstance(flag, bool) else (None, None)
