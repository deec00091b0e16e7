"""`cds-cyto fixtures load --fhir URL [PATH ...]`: put FHIR Bundles on a FHIR server, one transaction per file.

A transaction Bundle is posted as it is; any other Bundle becomes a transaction of PUTs (resources with ids, so
loading twice updates instead of duplicating) or POSTs. Directories are walked recursively; a cohort's
truth.json, NDJSON and other non-Bundle files are skipped with a message.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cds_cyto.cli import CliError
from cds_cyto.sources import (
    FhirClient,
    FhirError,
    RetryPolicy,
    SourceError,
    Timeouts,
    as_transaction,
)

__all__ = ["register", "run"]

_SUFFIXES = (".json", ".ndjson")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("fixtures", help="work with FHIR fixture bundles")
    actions = parser.add_subparsers(dest="fixtures_action", metavar="ACTION", required=True)
    load = actions.add_parser(
        "load",
        help="upload FHIR Bundles to a FHIR server as transactions",
        description="Upload FHIR Bundles (files, or directories walked recursively) as one transaction per file.",
    )
    load.add_argument("--fhir", required=True, metavar="URL", help="FHIR server base URL")
    load.add_argument(
        "paths", nargs="*", type=Path, default=[Path("fixtures")], metavar="PATH", help="default: fixtures/"
    )
    load.add_argument("--concurrency", type=_positive_int, default=2, metavar="N", help="files in flight (default 2)")
    load.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS", help="per transaction (default 300)")
    load.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    paths = list(_candidates(args.paths))
    try:
        client = FhirClient(
            args.fhir,
            timeouts=Timeouts(connect=10.0, read=args.timeout, total=args.timeout),
            retry=RetryPolicy(attempts=3),
        )
    except ValueError as exc:
        raise CliError(f"--fhir: {exc}") from exc
    summary = asyncio.run(_load(client, paths, args.concurrency))
    seconds = time.perf_counter() - started
    skipped = f", skipped {summary.skipped}" if summary.skipped else ""
    print(
        f"loaded {summary.files} file(s), {summary.resources} resource(s) in {seconds:.1f} s "
        f"({summary.requests} request(s)){skipped}"
    )
    return 0


@dataclass(slots=True)
class _Summary:
    files: int = 0
    resources: int = 0
    skipped: int = 0
    requests: int = 0


async def _load(client: FhirClient, paths: Sequence[Path], concurrency: int) -> _Summary:
    summary = _Summary()
    pending = iter(paths)  # shared by the workers: each takes the next file

    async def worker() -> None:
        for path in pending:
            transaction = await asyncio.to_thread(_prepare, path)
            if isinstance(transaction, str):
                summary.skipped += 1
                print(f"cds-cyto: skipped {path}: {transaction}", file=sys.stderr)
                continue
            try:
                await client.transaction(transaction)
            except SourceError as exc:
                said = exc.for_operator() if isinstance(exc, FhirError) else str(exc)  # the operator's own server
                raise CliError(f"{path}: {said} ({summary.files} file(s) loaded before this one)") from exc
            summary.files += 1
            summary.resources += len(transaction["entry"])

    async with client:
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(concurrency):
                    group.create_task(worker())
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # one clear line, not a group
    summary.requests = client.stats.requests
    return summary


def _candidates(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
        elif path.is_file():
            yield path
        else:
            raise CliError(f"{path}: no such file or directory")


def _prepare(path: Path) -> dict[str, Any] | str:
    """The transaction to post for a file, or why the file is skipped."""
    if path.name == "truth.json":
        return "ground truth, not FHIR"
    if path.suffix == ".ndjson":
        return "NDJSON, not a Bundle"
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise CliError(f"{path}: cannot read ({exc.strerror})") from exc
    except orjson.JSONDecodeError as exc:
        raise CliError(f"{path}: not valid JSON") from exc
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        return "not a FHIR Bundle"
    transaction = as_transaction(document)
    if not transaction.get("entry"):
        return "no entries"
    return transaction


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
