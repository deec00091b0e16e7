"""Print the README's day-by-day replay of the demo cohort: every patient as of each day from 0 to +100 (up to the
data cut), and on how many patient-days (in how many patients) each card fires, by urgency.

PYTHONPATH=. .venv/bin/python scripts/demo_replay.py
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.profile import default_profile

COHORT = Path(__file__).resolve().parents[1] / "fixtures" / "cohort"
AS_OF = date(2026, 11, 20)  # the cohort's data cut (fixtures/cohort/README.md)
LAST_DAY = 100


def main() -> None:
    profile = default_profile()
    days: dict[tuple[str, str], int] = defaultdict(int)  # (code, urgency) → patient-days
    patients: dict[tuple[str, str], set[str]] = defaultdict(set)
    first_day: dict[str, int] = {}
    total = 0
    for path in sorted(COHORT.glob("syn-*.json")):
        record = extract_record(json.loads(path.read_bytes()), profile)
        disease = "ALL" if "-all-" in path.name else "NHL"
        day0 = record.infusion_date
        if day0 is None:
            continue
        for day in range(0, LAST_DAY + 1):
            as_of = day0 + timedelta(days=day)
            if as_of > AS_OF:
                break
            total += 1
            for rec in evaluate(record, as_of, profile, disease).recommendations:
                key = (rec.code, rec.urgency)
                days[key] += 1
                patients[key].add(path.stem)
                first_day[rec.code] = min(first_day.get(rec.code, day), day)
    print(f"{total} patient-days")
    for (code, urgency), n in sorted(days.items()):
        print(
            f"{code:32} {urgency:8} {n:5} patient-days in {len(patients[code, urgency]):2} patients "
            f"(from day +{first_day[code]})"
        )


if __name__ == "__main__":
    main()
