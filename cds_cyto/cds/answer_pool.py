"""Large hook calls answered in worker processes: the event loop's process never holds the GIL for them.

A thread (`sources._offload`) moves parsing and assessment off the event loop but not off its interpreter: orjson,
msgspec and the core hold the GIL, so `/healthz` waited behind a 1,500-Observation prefetch (p99 161 ms at
concurrency 32, bench/bench_throughput.py). Here the request's bytes go to a spawned process that built the same
profile and services at start-up, and the same `PatientViewService` code reads, assesses and renders there — one
patient, one answer, one parse. A call that needs I/O (a key to fetch, a Medication to look up, the demo cohort) is
parked in the worker the moment it reaches for it (its coroutine waits on the worker's own loop), and the worker
hands back what it asked for; this process, which holds the connection pools, limits and deadline, fetches it and
hands the results back to the worker, which goes on from where it stopped. The worker never waits on a network: a
slow FHIR server holds only this process's coroutine. Every step of a call goes to the process that parked it (one
single-process executor per worker); a parked call evicted from the bounded parking is answered here from its bytes.
A call whose fetching passes its deadline ends here with the in-thread 412, and its parked state is dropped.

A call that finds nothing else large being answered (and is at most `inline_max_bytes`) is answered in-thread
instead: alone, the hop to a process is all the pool would add (1-2 ms of a 13 ms call); when calls overlap, the
pool keeps the event loop's GIL free.

Bounded: at most `queue_limit` calls in the pool (running or waiting); one more gets 503 with Retry-After. A worker
that dies (killed, out of memory) breaks the pool: its calls get 503 `worker-lost`, and the next call builds a new pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import itertools
import logging
import multiprocessing
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from typing import Any, NoReturn

from cds_cyto.cds.discovery import load_services
from cds_cyto.cds.fhir_servers import BaseUrl
from cds_cyto.cds.messages import HookRequest
from cds_cyto.cds.outcome import operation_outcome
from cds_cyto.cds.patient_view import (
    HookFailure,
    PatientViewService,
    deadline_label,
    fetch_budget,
    fetch_failure,
)
from cds_cyto.cds.request_body import parse_body, read_hook_body
from cds_cyto.core.extract.record import DataProblem
from cds_cyto.core.profile import Profile, default_profile, load_profile
from cds_cyto.settings import Settings
from cds_cyto.sources import (
    FhirPatientSource,
    FhirPool,
    FhirUnavailable,
    PatientSource,
    Readable,
    SourceError,
    before_deadline,
    default_observation_codes,
)

__all__ = ["ANSWER_NICENESS", "AnswerPool", "site_profile"]

log = logging.getLogger("cds_cyto.cds")

RETRY_AFTER_S = 1  # the pool drains in about a call's time: a client may try again soon
# The answer processes yield the CPU to the event loop's process when both want it: on a busy machine the loop
# (and /healthz) waited for a core behind them; when a core is free the niceness changes nothing.
ANSWER_NICENESS = 5


def site_profile(settings: Settings) -> Profile:
    """The profile `settings` name: built the same way here and in every worker process."""
    if settings.site_file or settings.site_model:
        return load_profile(settings.site_file, site_model=settings.site_model)
    return default_profile()


# --- in the worker process ---------------------------------------------------------------------------------------

PARKED_CALLS = (
    64  # calls waiting for their I/O in one worker; the oldest beyond this is dropped (answered in the parent)
)

# ("query", relative URL) | ("many", relative URLs) | ("patient", patient id)
Ask = tuple[str, Any]
Got = tuple[bool, Any]  # (True, the resources) | (False, the SourceError raised fetching them)


@dataclasses.dataclass
class _Relay:
    """Stands in for the call's `fhirServer` (a query source) or the demo cohort: each read is a question for the
    parent process, and the call's coroutine waits here until the answer comes back."""

    fhir: tuple[str, str | None] | None = None  # (fhirServer, its access token): what the parent fetches from
    asks: list[tuple[Ask, asyncio.Future[Any]]] = dataclasses.field(default_factory=list)
    asked: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def _ask(self, ask: Ask) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.asks.append((ask, future))
        self.asked.set()
        return await future

    async def query(self, relative_url: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._ask(("query", relative_url))
        return found

    async def query_many(self, relative_urls: Sequence[str]) -> list[list[Readable] | SourceError]:
        # as one question, so the parent sends the one batch (and page size) the in-thread call would
        found: list[list[Readable] | SourceError] = await self._ask(("many", tuple(relative_urls)))
        return found

    async def patient_resources(self, patient_id: str) -> list[Readable]:
        found: list[Readable] = await self._ask(("patient", patient_id))
        return found


@dataclasses.dataclass(frozen=True)
class _DemoRelay:
    """The demo cohort's stand-in: a patient source and nothing more, as the cohort is in the parent. A relay that
    also took queries would be read as a FHIR server (a Medication search the parent has no server for)."""

    relay: _Relay

    async def patient_resources(self, patient_id: str) -> list[Readable]:
        return await self.relay.patient_resources(patient_id)


@dataclasses.dataclass
class _Offline(PatientViewService):
    """The service with its I/O relayed to the parent and its CPU work run inline (this process's loop serves no
    socket)."""

    relay: _Relay = dataclasses.field(default_factory=_Relay)

    def _fhir_source(self, server: str, request: HookRequest) -> PatientSource:
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        self.relay.fhir = (server, token)
        return self.relay

    async def _cards_off_loop(
        self, resources: list[Readable], gaps: list[DataProblem], patient_id: str
    ) -> list[dict[str, Any]]:
        return self._cards(resources, gaps, patient_id)


class _Records(logging.Handler):
    """The worker's log records, handed back with the answer and emitted by the parent (its request id, its
    stream)."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)  # the root logger's level (the site's) decides
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args, record.exc_info, record.exc_text = record.getMessage(), None, None, None
        record.pooled = True  # answered in the pool: the log says where the work was done
        self.records.append(record)


@dataclasses.dataclass
class _Call:
    task: asyncio.Task[dict[str, Any]]
    relay: _Relay


_services: dict[str, _Offline] = {}
_records = _Records()
_loops: list[asyncio.AbstractEventLoop] = []  # the worker's own, made at its start: parked calls wait on it
_parked: OrderedDict[int, _Call] = OrderedDict()


def _start_worker(settings: Settings) -> None:
    os.nice(ANSWER_NICENESS)
    _loops.append(asyncio.new_event_loop())
    asyncio.set_event_loop(_loops[0])
    root = logging.getLogger()
    root.handlers[:] = [_records]
    root.setLevel(settings.log_level.upper())  # the site's level: records below it are not even made
    profile = site_profile(settings)
    for sid, definition in load_services(settings.hooks_dir, default_observation_codes(profile)).items():
        if definition.hook == "patient-view":
            _services[sid] = _Offline(
                definition,
                profile,
                FhirPool(max_connections=1, max_origins=1),  # never used: `_fhir_source` is replaced
                settings.public_base_url,
                # replaced per call: a marker that a demo cohort is there
                _DemoRelay(_Relay()) if settings.demo else None,
                date.today,
            )
    gc.collect()
    gc.freeze()  # the profile and services live as long as the worker: out of every full collection's walk


def _ready() -> bool:
    return True


# ("cards" | "failure" | "io" | "gone", payload, log records); "io": (call id, the questions, the FHIR server)
Outcome = tuple[str, Any, list[logging.LogRecord]]


async def _until_done_or_waiting(call: _Call) -> None:
    """Run the call until it ends or every read it started waits for the parent."""
    while not call.task.done() and not call.relay.asks:
        waiter = asyncio.ensure_future(call.relay.asked.wait())
        await asyncio.wait({call.task, waiter}, return_when="FIRST_COMPLETED")
        waiter.cancel()
    for _ in range(8):  # reads started together (gather) ask together: one round trip for them all
        await asyncio.sleep(0)


def _drive(call_id: int, call: _Call) -> Outcome:
    _records.records = []
    _loops[0].run_until_complete(_until_done_or_waiting(call))
    records = _records.records
    if not call.task.done():
        _parked[call_id] = call
        while len(_parked) > PARKED_CALLS:
            _, dropped = _parked.popitem(last=False)
            dropped.task.cancel()  # its caller gets "gone" and is answered in the parent
        return "io", (call_id, [ask for ask, _ in call.relay.asks], call.relay.fhir), records
    try:
        answer = call.task.result()
    except HookFailure as failure:
        return "failure", (failure.status, failure.outcome, failure.headers), records
    return "cards", answer, records


def _answer(call_id: int, service_id: str, raw: bytes, today: date, fhir_bases: Sequence[BaseUrl] | None) -> Outcome:
    _records.records = []
    template = _services[service_id]
    relay = _Relay()
    service = dataclasses.replace(
        template, today=lambda: today, relay=relay, demo_source=_DemoRelay(relay) if template.demo_source else None
    )
    try:
        body = parse_body(raw, read_hook_body)
    except HookFailure as failure:
        return "failure", (failure.status, failure.outcome, failure.headers), _records.records
    return _drive(call_id, _Call(_loops[0].create_task(service.handle(body, fhir_bases)), relay))


def _drop(call_id: int) -> None:
    call = _parked.pop(call_id, None)
    if call is not None:
        call.task.cancel()


def _resume(call_id: int, got: list[Got]) -> Outcome:
    call = _parked.pop(call_id, None)
    if call is None:
        return "gone", None, []
    asks, call.relay.asks = call.relay.asks, []
    call.relay.asked.clear()
    for (_, future), (ok, value) in zip(asks, got, strict=True):
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
    return _drive(call_id, call)


# --- in the service's process ------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Worker:
    """One answer process (a one-process executor): a call's every step goes to the process that parked it."""

    executor: ProcessPoolExecutor | None = None
    steps: int = 0  # steps submitted to it and not done


class AnswerPool:
    """`processes` spawned workers for calls of at least `min_bytes`, at most `queue_limit` in the pool at once;
    one such call at a time of at most `inline_max_bytes` answered in-thread while the pool is idle."""

    def __init__(
        self, settings: Settings, processes: int, queue_limit: int, min_bytes: int, inline_max_bytes: int = 0
    ) -> None:
        self.settings = settings
        self.processes = processes
        self.queue_limit = queue_limit
        self.min_bytes = min_bytes
        self.inline_max_bytes = inline_max_bytes
        self._lock = threading.Lock()  # the counts are decremented on the executors' threads
        self._in_pool = 0
        self._inline = 0
        self._workers = [_Worker() for _ in range(processes)]
        self._call_ids = itertools.count()

    def _executor(self, worker: _Worker) -> ProcessPoolExecutor:
        with self._lock:
            if worker.executor is None:
                worker.executor = ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),  # no copy of the parent's threads and loop
                    initializer=_start_worker,
                    initargs=(self.settings,),
                )
            return worker.executor

    def _discard(self, worker: _Worker, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if worker.executor is broken:
                worker.executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    def start(self) -> None:
        """Spawn the workers now (each builds the profile), so the first large call does not wait for it."""
        for worker in self._workers:
            self._executor(worker).submit(_ready)

    def claim_inline(self, size: int) -> bool:
        """Whether a large call of `size` bytes is answered in-thread: only when nothing else large is being
        answered, here or in the pool; True must be followed by `release_inline`."""
        if size > self.inline_max_bytes:
            return False
        with self._lock:
            if self._in_pool or self._inline:
                return False
            self._inline += 1
            return True

    def release_inline(self) -> None:
        with self._lock:
            self._inline -= 1

    def _least_busy(self) -> _Worker:
        with self._lock:
            return min(self._workers, key=lambda w: w.steps)

    async def answer(
        self,
        service_id: str,
        raw: bytes,
        today: date,
        fhir_bases: Sequence[BaseUrl] | None,
        io: PatientViewService,
    ) -> dict[str, Any] | None:
        """The call's answer, or None when it must be answered here after all (its parked call was lost); raises
        HookFailure. `io`: the service whose pools, limits, deadline and demo cohort the worker's reads go through."""
        call_id = next(self._call_ids)
        worker = self._least_busy()  # and every later step of the call there, where it is parked
        kind, payload, parked_in = await self._run(worker, None, _answer, call_id, service_id, raw, today, fhir_bases)
        started = asyncio.get_running_loop().time()
        try:
            while kind == "io":
                _, asks, fhir = payload
                got = await _fetch(io, asks, fhir, started)
                kind, payload, _ = await self._run(worker, parked_in, _resume, call_id, got)
        except BaseException:  # its deadline, its caller gone, a full pool: nobody will resume it
            self._forget(worker, call_id)
            raise
        if kind == "gone":
            log.info("answer pool call lost its parked state: answered here")
            return None
        if kind == "failure":
            status, outcome, headers = payload
            raise HookFailure(status, outcome, headers)
        answer: dict[str, Any] = payload
        return answer

    def _forget(self, worker: _Worker, call_id: int) -> None:
        """The call ended here (its deadline, its caller gone): its parked state is dropped, not left to eviction."""
        executor = worker.executor
        if executor is not None:
            # lost or shut down: nothing is parked there any more
            with contextlib.suppress(BrokenProcessPool, RuntimeError):
                executor.submit(_drop, call_id)

    async def _run(
        self, worker: _Worker, parked_in: ProcessPoolExecutor | None, fn: Any, *args: Any
    ) -> tuple[str, Any, ProcessPoolExecutor]:
        """One step of a call in `worker` (in `parked_in`, the process its call waits in, when one does), counted
        against `queue_limit`; its log records emitted here. Returns the step's outcome and its process."""
        with self._lock:
            full = self._in_pool >= self.queue_limit
            if not full:
                self._in_pool += 1
                worker.steps += 1
        if full:
            log.warning("answer pool full", extra={"limit": self.queue_limit})
            raise HookFailure(
                503,
                operation_outcome(
                    "busy", "too many large hook calls at once: try again shortly", fhir_code="transient"
                ),
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        executor = self._executor(worker)
        if parked_in is not None and executor is not parked_in:
            # the process the call waited in was lost (another call saw it) and replaced: the call went with it
            self._step_done(worker)
            self._lost(worker, parked_in)
        try:
            future = executor.submit(fn, *args)
        except BrokenProcessPool:
            self._step_done(worker)
            self._lost(worker, executor)
        except BaseException:
            self._step_done(worker)
            raise
        # counted until the worker is done, even if this caller goes away
        future.add_done_callback(lambda _: self._step_done(worker))
        try:
            kind, payload, records = await asyncio.wrap_future(future)
        except BrokenProcessPool:
            self._lost(worker, executor)
        for record in records:
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):  # `handle` alone would skip the level check
                logger.handle(record)
        return kind, payload, executor

    def _step_done(self, worker: _Worker) -> None:
        with self._lock:
            self._in_pool -= 1
            worker.steps -= 1

    def _lost(self, worker: _Worker, executor: ProcessPoolExecutor) -> NoReturn:
        log.error("answer pool worker lost: a new one is started")
        self._discard(worker, executor)
        raise HookFailure(
            503,
            operation_outcome(
                "worker-lost", "the process answering this call stopped: try again", fhir_code="transient"
            ),
            {"Retry-After": str(RETRY_AFTER_S)},
        )

    def close(self) -> None:
        with self._lock:
            executors = [w.executor for w in self._workers if w.executor is not None]
            for worker in self._workers:
                worker.executor = None
        for executor in executors:
            executor.shutdown(wait=True, cancel_futures=True)


async def _fetch(
    service: PatientViewService, asks: list[Ask], fhir: tuple[str, str | None] | None, started: float
) -> list[Got]:
    """The worker's reads, done here through `service`'s pools and limits, all within the call's deadline (from the
    first read on, as in-thread); a read that fails goes back as its SourceError, which the worker handles as
    in-thread. The deadline passing ends the call here with in-thread's 412 (raises HookFailure)."""
    source: PatientSource | None = service.demo_source
    fhir_source = None
    if fhir is not None:
        fhir_source = service.fhir_source_for(*fhir)
        source = fhir_source

    async def one(ask: Ask) -> Got:
        kind, arg = ask
        try:
            if kind == "many" and isinstance(fhir_source, FhirPatientSource):
                return True, await fhir_source.query_many(arg)
            if kind == "query" and isinstance(fhir_source, FhirPatientSource):  # a Medication lookup, as in-thread
                return True, await before_deadline(fhir_source.query(arg), "Medication lookup")
            if kind == "patient" and source is not None:
                return True, list(await source.patient_resources(arg))
        except SourceError as exc:
            return False, exc
        # a question no relay asks: refused as a failed read, which the worker handles (never a 500)
        return False, FhirUnavailable(f"the answer pool has no source for a {kind} read")

    async def every() -> list[Got]:
        return list(await asyncio.gather(*(one(a) for a in asks)))

    if fhir_source is None:
        return await every()
    budget = fetch_budget(service.deadline_s)
    left = budget - (asyncio.get_running_loop().time() - started)
    try:
        async with fhir_source.client.deadline(deadline_label(service.deadline_s), max(left, 0.0), stated=budget):
            return await every()
    except SourceError as exc:  # only the deadline's own: every read's is caught in `one`
        raise fetch_failure(exc) from None
