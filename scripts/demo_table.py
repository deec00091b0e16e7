"""Print the README's demo-cohort table: every bundled patient at the data cut, as `cds-cyto evaluate` sees it.

PYTHONPATH=. .venv/bin/python scripts/demo_table.py > /tmp/table.md
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.profile import default_profile

COHORT = Path(__file__).resolve().parents[1] / "fixtures" / "cohort"
AS_OF = date(2026, 11, 20)  # the cohort's data cut (fixtures/cohort/README.md)
LINEAGES = ("neutrophils", "hemoglobin", "platelets")


def _num(value: float) -> str:
    return f"{value:.3g}"  # three significant digits, as a table cell


def _crs(crs: dict[str, Any]) -> str:
    if not crs.get("max_grade") or crs.get("onset_day") is None:
        return "none"
    end = "ongoing" if crs.get("recovery_day") is None else f"d{crs['recovery_day']}"
    return f"G{crs['max_grade']}, d{crs['onset_day']} → {end}"


def _row(doc: dict[str, Any]) -> str:
    lin = doc["lineages"]
    latest = " / ".join(_num(lin[x]["latest"]["value"]) if lin[x]["latest"] else "–" for x in LINEAGES)
    nadir = " / ".join(
        f"{_num(lin[x]['nadir']['value'])} (d{lin[x]['nadir']['day']})" if lin[x]["nadir"] else "–" for x in LINEAGES
    )
    h = doc["risk"]["hematotox"]
    score = "–" if h["score"] is None else f"{h['score']}{' high' if h['high_risk'] else ''}"
    early = doc["icaht"]["early"]
    icaht = "–" if early is None else f"{early['grade']}{' (prov.)' if early['provisional'] else ''}"
    recs = ", ".join(f"{r['code']} ({r['urgency']})" for r in doc["recommendations"]) or "–"
    cells = [doc["patient_id"], f"+{doc['day']}", latest, nadir, score, _crs(doc["risk"]["crs"]), icaht, recs]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    profile = default_profile()
    print(
        "| patient | day | ANC / Hb / PLT latest | nadir ANC / Hb / PLT (day) | CAR-HEMATOTOX "
        "| CRS: grade, onset → recovery | ICAHT early | recommendations (urgency) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(COHORT.glob("syn-*.json")):
        record = extract_record(json.loads(path.read_bytes()), profile)
        disease = "ALL" if "-all-" in path.name else "NHL"
        print(_row(evaluate(record, AS_OF, profile, disease).to_json()))


if __name__ == "__main__":
    main()
