"""Benchmark: what escaping data for markdown costs the cards (`cds/markdown.py`).

Renders every card of the demo cohort (all 40 patients, at the data cut and on 15 days of their follow-up) with
`render_cards` as the service does, and again with the escape replaced by the identity; prints both and their ratio,
measured in this run, interleaved, best of N in this thread's CPU time. Run: `.venv/bin/python
bench/bench_card_markdown.py [--rounds 7]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cds_cyto.cds import cards
from cds_cyto.cli.evaluate import read_file
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_records
from cds_cyto.core.profile import default_profile

COHORT = Path(__file__).resolve().parent.parent / "fixtures" / "cohort"
DAYS = (1, 3, 5, 7, 9, 12, 15, 18, 21, 25, 28, 32, 40, 60, 90)


def _assessments() -> list[Assessment]:
    profile = default_profile()
    out = []
    for f in sorted(COHORT.glob("syn-*.json")):
        for record in extract_records(read_file(f), profile):
            infusion = evaluate(record, None, profile).infusion_date
            days = [None] if infusion is None else [None, *(infusion + timedelta(days=d) for d in DAYS)]
            out += [evaluate(record, d, profile) for d in days]
    return out


def _cpu(assessments: list[Assessment]) -> float:
    profile = default_profile()
    start = time.thread_time()
    for a in assessments:
        cards.render_cards(a, "http://127.0.0.1", profile)
    return time.thread_time() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    assessments = _assessments()
    n = sum(len(a.recommendations) for a in assessments)
    escaped = plain = float("inf")
    real = cards.md_text
    for _ in range(args.rounds):
        cards.md_text = real
        escaped = min(escaped, _cpu(assessments))
        cards.md_text = str.strip  # the identity, but for the ends md_text trims
        plain = min(plain, _cpu(assessments))
    cards.md_text = real
    print(f"{n} cards of {len(assessments)} assessments")
    print(f"render_cards, data escaped  CPU {escaped * 1e3:8.2f} ms  ({escaped / n * 1e6:6.1f} µs a card)")
    print(f"render_cards, not escaped   CPU {plain * 1e3:8.2f} ms  ({plain / n * 1e6:6.1f} µs a card)")
    print(f"ratio escaped / not escaped: {escaped / plain:.2f}")


if __name__ == "__main__":
    main()
