"""The swept hook's memory of what not to try again is bounded (least recently used goes first), and the server
time it asks for changes from is the newest zoned `meta.lastUpdated`, skipping what is not one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cds_cyto.sources._swept import Refusals, newest_stamp


def test_the_least_recently_used_refusal_goes_first() -> None:
    refused = Refusals(size=2)
    refused.add(("a",))
    refused.add(("b",))
    assert ("a",) in refused  # used: now the newest
    refused.add(("c",))
    assert ("b",) not in refused
    assert ("a",) in refused and ("c",) in refused


def test_the_newest_server_stamp_skips_what_is_no_zoned_time() -> None:
    def stamped(value: object) -> dict[str, Any]:
        return {"resourceType": "Observation", "meta": {"lastUpdated": value}}

    resources: list[dict[str, Any]] = [
        stamped("2026-12-04T03:50:12.345+00:00"),
        stamped("2026-12-04T03:59:00"),  # no zone: which instant is unknown
        stamped("yesterday"),
        stamped(17),
        {"resourceType": "Observation", "meta": "poisoned"},
        stamped("2026-12-04T04:50:00+01:00"),  # 03:50:00 UTC: earlier
    ]
    assert newest_stamp(resources) == datetime(2026, 12, 4, 3, 50, 12, 345000, tzinfo=UTC)
    assert newest_stamp([stamped("no")]) is None
