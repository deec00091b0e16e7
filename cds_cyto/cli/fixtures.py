"""`cds-cyto fixtures load --fhir URL [PATH ...]`: put FHIR Bundles on a FHIR server, one transaction per file.

A transaction Bundle is posted as it is; any other Bundle becomes a transaction of PUTs (resources with ids, so
loading twice updates instead of duplicating) or POSTs. Directories are walked recursively; a cohort's
truth.json, NDJSON and other non-Bundle files are skipped with a message. A file the server refuses is reported
and the others still load; the run ends with a summary and exit 1 when any file failed. A Bundle larger than
`--max-entries` is split (`transaction_split`) or, when it cannot be, sent whole with more time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cds_cyto.cli import CliError
from cds_cyto.cli.transaction_split import split_transaction
from cds_cyto.sources import (
    FhirClient,
    FhirError,
    FhirUnavailable,
    RetryPolicy,
    SourceError,
    Timeouts,
    as_transaction,
)

__all__ = ["register", "run"]

_SUFFIXES = (".json", ".ndjson")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fixtures",
        help="work with FHIR fixture bundles",
        description="Work with FHIR fixture Bundles: `load` puts them on a FHIR server (a sandbox).",
    )
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
    load.add_argument(
        "--max-entries",
        type=_positive_int,
        default=5000,
        metavar="N",
        help="split larger Bundles into transactions of N entries (default 5000); one that cannot be split gets "
        f"{_SECONDS_PER_ENTRY} s more per entry",
    )
    load.add_argument("--no-progress", action="store_true", help="no progress bar (it is off when not a terminal)")
    load.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    paths = list(_candidates(args.paths))
    try:
        client = FhirClient(
            args.fhir,
            # the deadline of each transaction bounds it (its entries decide how long); a read waits within it
            timeouts=Timeouts(connect=10.0, read=86_400.0, total=args.timeout),
            retry=RetryPolicy(attempts=3),
        )
    except ValueError as exc:
        raise CliError(f"--fhir: {exc}") from exc
    progress = _Progress(len(paths), enabled=not args.no_progress)
    try:
        summary = asyncio.run(_load(client, paths, args.concurrency, args.max_entries, args.timeout, progress))
    finally:
        progress.close()
    seconds = time.perf_counter() - started
    skipped = f", skipped {summary.skipped}" if summary.skipped else ""
    failed = f", {len(summary.failed)} failed" if summary.failed else ""
    print(
        f"loaded {summary.files} of {len(paths)} file(s), {summary.resources} resource(s) in {seconds:.1f} s "
        f"({summary.requests} request(s)){skipped}{failed}"
    )
    for path, reason in summary.failed:
        print(f"  failed: {path}: {reason}")
    return 1 if summary.failed else 0


_SECONDS_PER_ENTRY = 0.1  # a sandbox on two cores stores ~50-100 entries a second in one transaction


@dataclass(slots=True)
class _Summary:
    files: int = 0
    resources: int = 0
    skipped: int = 0
    requests: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


class _Progress:
    """Files done of all, resources and failures so far, rate and ETA — on stderr, and only on a terminal."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="file", file=sys.stderr, disable=None)  # None: off unless a tty

    def done(self, summary: _Summary) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(resources=summary.resources, failed=len(summary.failed), refresh=False)

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)  # above the bar, which stays whole
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


async def _load(
    client: FhirClient, paths: Sequence[Path], concurrency: int, max_entries: int, timeout: float, progress: _Progress
) -> _Summary:
    summary = _Summary()
    pending = iter(paths)  # shared by the workers: each takes the next file

    async def worker() -> None:
        for path in pending:
            transaction = await asyncio.to_thread(_prepare, path)
            if isinstance(transaction, str):
                summary.skipped += 1
                progress.write(f"cds-cyto: skipped {path}: {transaction}")
                progress.done(summary)
                continue
            parts = split_transaction(transaction, max_entries)
            try:
                for part in parts:
                    entries = len(part["entry"])
                    extra = _SECONDS_PER_ENTRY * entries if entries > max_entries else 0.0  # one that could not split
                    async with client.deadline(f"transaction of {entries}", timeout + extra):
                        await client.transaction(part)
            except FhirUnavailable as exc:
                if exc.status is None and not summary.files:  # nothing answered yet: the server, not this file
                    raise CliError(f"FHIR server {client.base_url}: {exc}") from exc
                _failed(summary, progress, path, str(exc))
            except SourceError as exc:
                said = exc.for_operator() if isinstance(exc, FhirError) else str(exc)  # the operator's own server
                _failed(summary, progress, path, said)
            else:
                summary.files += 1
                summary.resources += len(transaction["entry"])
            progress.done(summary)

    async with client:
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(concurrency):
                    group.create_task(worker())
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # one clear line, not a group
    summary.requests = client.stats.requests
    return summary


def _failed(summary: _Summary, progress: _Progress, path: Path, reason: str) -> None:
    summary.failed.append((path, reason))
    progress.write(f"cds-cyto: {path}: {reason}")


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
