"""Type-mutation fuzzing over real HTTP (issue 15, acceptance): 10,000 hook calls with a fixed seed range to a real
`cds-cyto serve` process — mutated prefetch and top-level fields, and calls that fetch from a real local FHIR server
whose answers are mutated — give no 5xx, and every non-2xx answer is an OperationOutcome. The longer run with any
seeds is bench/bench_fuzz.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fuzz.cases import serve_mutating_fhir
from tests.fuzz.run import fuzz_hook, serve_process

REQUESTS = 10_000
FIRST_SEED = 0  # fixed: a failure names its seed, and `hook_case(seed, base)` replays it


def test_ten_thousand_mutated_hook_calls_get_no_500(tmp_path: Path) -> None:
    with serve_mutating_fhir() as fhir, serve_process(tmp_path) as service:
        tally = asyncio.run(fuzz_hook(service, fhir.base, range(FIRST_SEED, FIRST_SEED + REQUESTS)))
    log = (tmp_path / "serve.log").read_text()
    assert tally.total == REQUESTS
    assert tally.server_errors == [], f"5xx for seeds {tally.server_errors[:20]}; server log: {log[-3000:]}"
    assert tally.not_outcome == [], f"non-2xx answers that are no OperationOutcome: seeds {tally.not_outcome[:20]}"
    assert "Traceback" not in log
    # both paths were really driven, and gave answers of each kind
    kinds = {kind for kind, _ in tally.statuses}
    assert kinds == {"prefetch", "fetch"}
    for kind in kinds:
        assert tally.statuses[(kind, 200)] > 0 and any(s >= 400 for k, s in tally.statuses if k == kind)
