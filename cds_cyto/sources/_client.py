"""An async FHIR REST client: reads, paged searches, batch/transaction, retries and deadlines.

Connection pooling: a `FhirPool` holds one `httpx.AsyncClient` per server origin (scheme, host, port), each with
its own connection limit, in a bounded LRU — so calls hanging on one slow server use up only that server's
connections — and the per-server capability cache. `FhirClient`s borrow it. A CDS service creates one pool at
start-up and, per hook request, a cheap client with that request's server URL and token. A script that needs a
single client just writes `async with FhirClient(url) as client:` and the client owns a private pool.

Bodies are streamed and counted as they arrive against `FetchLimits` (bytes per response, bytes per client,
entries per page, pages per search): past a limit, reading stops and the connection is closed. Large bodies are
parsed on a worker thread (`_offload`), so the event loop keeps answering.

Logs name an operation ("search Observation", "batch"), a status, sizes and durations — never a URL (patient ids
ride in paths and queries) nor a header (tokens).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import msgspec
import orjson

from ._auth import Auth, NoAuth
from ._decode import ACCEPT_ENCODING, BoundedDecoder, UnsupportedEncoding
from ._errors import FhirError, FhirLimitExceeded, FhirProtocolError, FhirUnavailable
from ._fhir_json import (
    Resource,
    bundle_resources,
    bundle_shape_problem,
    has_error_issue,
    is_bundle,
    is_fhir_id,
    json_items,
    next_link,
    outcome_text,
    search_outcomes,
)
from ._offload import INLINE_BYTES, offload
from ._policy import FetchLimits, RetryPolicy, Timeouts
from ._query import SearchParams, encode_query

__all__ = ["FhirClient", "FhirPool", "Stats", "before_deadline"]

log = logging.getLogger("cds_cyto.sources.fhir")

_FHIR_JSON = "application/fhir+json"
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
# A transport failure that proves the request never reached the server: safe to resend whatever it was.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# The loop time by which the outermost running operation must finish; nested operations inherit it.
_deadline: ContextVar[float | None] = ContextVar("cds_cyto_fhir_deadline", default=None)

_T = TypeVar("_T")

# A read the call can go on without (a Medication lookup) ends this long before the enclosing deadline, so that
# its failure is its own, not the whole call's.
READ_MARGIN_S = 0.1


async def before_deadline(read: Awaitable[_T], label: str) -> _T:
    """`read`, ended READ_MARGIN_S before the enclosing deadline (if any) with FhirUnavailable: an error the
    caller handles as any failed read, where the deadline's own would end the whole call."""
    deadline = _deadline.get()
    if deadline is None:
        return await read
    scope = asyncio.timeout_at(deadline - READ_MARGIN_S)
    try:
        async with scope:
            return await read
    except TimeoutError as exc:
        if scope.expired():
            raise FhirUnavailable(f"{label}: no answer before the call's deadline") from exc
        raise


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_RETRY = RetryPolicy()
DEFAULT_LIMITS = FetchLimits()
_ERROR_BODY_BYTES = 64 * 1024  # of an error answer we want at most its OperationOutcome, never a flood
_CAPABILITY_CACHE = 256  # base URLs whose CapabilityStatement is kept


@dataclass(slots=True)
class Stats:
    """What a client cost: HTTP requests attempted (retries and token requests included) and body bytes."""

    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


_Origin = tuple[str, str, int | None]


class FhirPool:
    """Connection pools per server origin and the capability cache, shared by every FhirClient of a process (per
    event loop).

    `max_connections` bounds each origin's pool; `max_origins` how many origins keep a pool (least recently used
    idle ones are closed first). A `transport` (tests, benchmarks) is shared by all origins through one client."""

    def __init__(
        self,
        *,
        max_connections: int = 20,
        max_origins: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if max_connections < 1 or max_origins < 1:
            raise ValueError("FhirPool: max_connections and max_origins must be at least 1")
        self.max_connections = max_connections
        self.max_origins = max_origins
        self._transport = transport
        self._shared = self._new_client() if transport is not None else None
        self._pools: OrderedDict[_Origin, httpx.AsyncClient] = OrderedDict()
        self._leases: dict[_Origin, int] = {}
        self.capabilities: dict[str, Resource] = {}  # base URL → CapabilityStatement
        self.batch_support: dict[str, bool] = {}  # base URL → does it accept batch Bundles

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            limits=httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=self.max_connections),
            transport=self._transport,
            follow_redirects=False,  # a redirect could carry our Authorization header somewhere unexpected
            headers={"User-Agent": "cds-cyto"},
        )

    @property
    def origins(self) -> int:
        """How many origins hold a pool now."""
        return len(self._pools)

    @asynccontextmanager
    async def lease(self, url: httpx.URL) -> AsyncIterator[httpx.AsyncClient]:
        """The HTTP client for `url`'s origin, kept open while leased."""
        if self._shared is not None:
            yield self._shared
            return
        origin: _Origin = (url.scheme, url.host, url.port)
        self._leases[origin] = self._leases.get(origin, 0) + 1  # leased first: eviction must not pick it
        http = self._pools.get(origin)
        if http is None:
            http = self._pools[origin] = self._new_client()
        self._pools.move_to_end(origin)
        try:
            await self._evict()
            yield http
        finally:
            self._leases[origin] -= 1
            if not self._leases[origin]:
                del self._leases[origin]

    async def _evict(self) -> None:
        # Only idle pools: closing one in use would break its calls. All busy: the LRU grows until they finish.
        while len(self._pools) > self.max_origins:
            idle = next((o for o in self._pools if o not in self._leases), None)
            if idle is None:
                return
            await self._pools.pop(idle).aclose()  # popped before the await: no one can lease it meanwhile

    def remember(self, cache: dict[str, Any], base_url: str, value: Any) -> None:
        """Cache a per-server fact, bounded: an unbounded dict keyed by a request's URL is a memory leak."""
        if base_url not in cache and len(cache) >= _CAPABILITY_CACHE:
            cache.pop(next(iter(cache)))
        cache[base_url] = value

    def client(
        self,
        base_url: str,
        auth: Auth | None = None,
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
        limits: FetchLimits = DEFAULT_LIMITS,
    ) -> FhirClient:
        """A client for one server that borrows this pool (closing the client leaves the pool open)."""
        return FhirClient(base_url, auth, pool=self, timeouts=timeouts, retry=retry, limits=limits)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for http in pools:
            await http.aclose()
        if self._shared is not None:
            await self._shared.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class FhirClient:
    """Talks to one FHIR server. Every public method is one operation, bounded by `timeouts.total`."""

    def __init__(
        self,
        base_url: str,
        auth: Auth | None = None,
        *,
        pool: FhirPool | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
        limits: FetchLimits = DEFAULT_LIMITS,
        max_pages: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        base = httpx.URL(base_url.rstrip("/"))
        if base.scheme not in ("http", "https") or not base.host:
            raise ValueError("FHIR base URL must be an absolute http(s) URL")
        if max_pages is not None:  # the older spelling of limits.max_pages
            limits = FetchLimits(
                max_response_bytes=limits.max_response_bytes,
                max_client_bytes=limits.max_client_bytes,
                max_page_entries=limits.max_page_entries,
                max_pages=max_pages,
            )
        self.base_url = str(base)
        self._base = base
        self.auth: Auth = auth or NoAuth()
        self._owns_pool = pool is None
        self.pool = pool or FhirPool()
        self.timeouts = timeouts
        self.retry = retry
        self.limits = limits
        self.max_pages = limits.max_pages
        self.stats = Stats()
        self._sleep = sleep  # injectable so tests can see the waits without spending them

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._owns_pool:
            await self.pool.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @asynccontextmanager
    async def deadline(
        self, label: str, seconds: float | None = None, stated: float | None = None
    ) -> AsyncIterator[None]:
        """Bound everything inside to `seconds` (default `timeouts.total`); inside another operation, keep that
        one's deadline — so a hook call's deadline bounds all its fetches, their pages and retries together.
        `stated`: the bound the error names when it is what is left of a longer one (default `seconds`)."""
        if _deadline.get() is not None:
            yield
            return
        total = self.timeouts.total if seconds is None else seconds
        loop = asyncio.get_running_loop()
        when = loop.time() + total
        token = _deadline.set(when)
        started = time.perf_counter()
        scope = asyncio.timeout_at(when)
        try:
            async with scope:
                yield
        except TimeoutError as exc:
            if scope.expired():
                within = total if stated is None else stated
                raise FhirUnavailable(f"{label}: no complete answer within {within:g} s") from exc
            raise
        finally:
            _deadline.reset(token)
            log.debug("%s finished in %.0f ms", label, (time.perf_counter() - started) * 1000)

    # -- FHIR interactions -------------------------------------------------------------------------------------

    async def capabilities(self) -> Resource:
        """The server's CapabilityStatement (GET [base]/metadata), cached per base URL in the pool."""
        cached = self.pool.capabilities.get(self.base_url)
        if cached is not None:
            return cached
        label = "capabilities"
        async with self.deadline(label):
            body = await self._get_json(self._url("metadata"), label)
        if body.get("resourceType") != "CapabilityStatement":
            raise FhirProtocolError(f"{label}: expected a CapabilityStatement, got {_kind(body)}")
        self.pool.remember(self.pool.capabilities, self.base_url, body)
        return body

    async def supports_batch(self) -> bool:
        """Does the CapabilityStatement list the `batch` (or `transaction`) system interaction? Cached per base URL.

        `transaction` counts: servers that run transactions run batches (HAPI FHIR lists only `transaction`).
        A batch the server then refuses is remembered with `refuse_batch()`."""
        known = self.pool.batch_support.get(self.base_url)
        if known is not None:
            return known
        try:
            statement = await self.capabilities()
        except (FhirError, FhirProtocolError) as exc:
            # A server without a usable /metadata still answers plain searches; don't fail over it.
            log.warning("capabilities unusable (%s); using separate searches", type(exc).__name__)
            supported = False
        else:
            # A server's own document, so any element may have the wrong type: only lists are walked.
            supported = any(
                isinstance(rest, Mapping)
                and rest.get("mode", "server") == "server"
                and any(
                    isinstance(i, Mapping) and i.get("code") in ("batch", "transaction")
                    for i in json_items(rest.get("interaction"))
                )
                for rest in json_items(statement.get("rest"))
            )
        self.pool.remember(self.pool.batch_support, self.base_url, supported)
        return supported

    def refuse_batch(self) -> None:
        """The server refused a batch Bundle: use separate searches for this base URL from now on."""
        self.pool.remember(self.pool.batch_support, self.base_url, False)

    async def read(self, resource_type: str, resource_id: str) -> Resource:
        _check_type(resource_type)
        if not is_fhir_id(resource_id):
            raise ValueError("not a FHIR resource id")
        label = f"read {resource_type}"
        async with self.deadline(label):
            body = await self._get_json(self._url(f"{resource_type}/{resource_id}"), label)
        if body.get("resourceType") != resource_type:
            raise FhirProtocolError(f"{label}: got {_kind(body)}")
        return body

    async def search(self, resource_type: str, params: SearchParams | None = None) -> list[Resource]:
        """Every match, all pages followed, de-duplicated by resourceType/id."""
        _check_type(resource_type)
        query = encode_query(params)
        label = f"search {resource_type}"
        async with self.deadline(label):
            first = await self._get_json(self._url(f"{resource_type}?{query}" if query else resource_type), label)
            return await self.follow_pages(first, resource_type)

    async def query(self, relative_url: str) -> list[Resource]:
        """GET a URL relative to the base — a read ("Patient/1") or a search ("Observation?...") — as resources.

        This is what a CDS Hooks prefetch template renders to.
        """
        path = relative_url.split("?", 1)[0]
        if "://" in path or relative_url.startswith("/") or ".." in path.split("/"):
            raise ValueError("query takes a URL relative to the FHIR base")
        resource_type = path.split("/", 1)[0]
        _check_type(resource_type)
        label = f"query {resource_type}"
        async with self.deadline(label):
            body = await self._get_json(self._url(relative_url), label)
            if is_bundle(body) and body.get("type") == "searchset":
                return await self.follow_pages(body, resource_type)
        if body.get("resourceType") != resource_type:
            raise FhirProtocolError(f"{label}: got {_kind(body)}")
        return [body]

    async def follow_pages(self, first_page: Mapping[str, Any], resource_type: str) -> list[Resource]:
        """The resources of a searchset and of every page its `next` links lead to."""
        label = f"search {resource_type}"
        async with self.deadline(label):
            page: Mapping[str, Any] = first_page
            resources: list[Resource] = []
            seen: set[str] = set()
            pages = 1
            while True:
                _check_searchset(page, label)
                self._check_entries(page, label)
                resources.extend(bundle_resources(page))
                link = next_link(page)
                if link is None:
                    break
                if link in seen:
                    raise FhirProtocolError(f"{label}: paging loop (a next link came back)")
                if pages >= self.limits.max_pages:
                    raise FhirLimitExceeded(f"{label}: more than {self.limits.max_pages} pages")
                seen.add(link)
                pages += 1
                page = await self._get_json(self._next_url(link, label), f"{label} page {pages}")
        log.debug("%s: %d resources in %d page(s)", label, len(resources), pages)
        return resources  # a resource on two pages (the server's data changed meanwhile) is the core's to settle

    async def batch(self, bundle: Mapping[str, Any]) -> Resource:
        """POST a batch Bundle; returns the batch-response (entries may fail one by one — check each)."""
        return await self._post_bundle(bundle, "batch")

    async def transaction(self, bundle: Mapping[str, Any]) -> Resource:
        """POST a transaction Bundle; the server applies all entries or none."""
        return await self._post_bundle(bundle, "transaction")

    # -- plumbing ----------------------------------------------------------------------------------------------

    def _check_entries(self, page: Mapping[str, Any], label: str) -> None:
        entries = page.get("entry")
        if isinstance(entries, list) and len(entries) > self.limits.max_page_entries:
            raise FhirLimitExceeded(f"{label}: a page of more than {self.limits.max_page_entries} entries")

    def _url(self, relative: str) -> str:
        return f"{self.base_url}/{relative}"

    def _next_url(self, link: str, label: str) -> str:
        # Relative links resolve against the base as a directory ("…/r4/" + "Observation?page=2").
        url = httpx.URL(self.base_url + "/").join(link)
        if (url.scheme, url.host, url.port) != (
            self._base.scheme,
            self._base.host,
            self._base.port,
        ):
            # Following it would send our token to another origin.
            raise FhirProtocolError(f"{label}: next link points to another server")
        return str(url)

    async def _post_bundle(self, bundle: Mapping[str, Any], kind: str) -> Resource:
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != kind:
            raise ValueError(f"expected a Bundle of type {kind}")
        entries = bundle.get("entry") or []
        methods = {e.get("request", {}).get("method") for e in entries if isinstance(e, Mapping)}
        label = f"{kind} of {len(entries)}"
        async with self.deadline(label):
            response = await self._send(
                "POST",
                self.base_url,
                label=label,
                content=orjson.dumps(bundle),
                idempotent=methods <= _IDEMPOTENT,
            )
            body = await self._parse(response, label)
        if not is_bundle(body) or body.get("type") != f"{kind}-response":
            raise FhirProtocolError(f"{label}: expected a {kind}-response Bundle, got {_kind(body)}")
        shape = bundle_shape_problem(body)
        if shape is not None or not all(isinstance(e, Mapping) for e in body.get("entry") or []):
            raise FhirProtocolError(f"{label}: {shape or 'an entry is not an object'}")
        if len(body.get("entry") or []) != len(entries):
            raise FhirProtocolError(f"{label}: response has a different number of entries")
        return body

    async def _get_json(self, url: str, label: str) -> Resource:
        return await self._parse(await self._send("GET", url, label=label), label)

    async def _post_form(self, url: str, form: Mapping[str, str]) -> dict[str, Any]:
        response = await self._send("POST", url, label="token", form=form, authenticate=False)
        return await self._parse(response, "token")

    async def _parse(self, reply: _Reply, label: str) -> Resource:
        if len(reply.content) <= INLINE_BYTES:
            return _json(reply.content, label, self.limits.max_page_entries)
        return await offload(_json, reply.content, label, self.limits.max_page_entries)

    async def _read_body(self, response: httpx.Response, label: str, cap: int) -> bytes | bytearray:
        """The body, counted as it arrives: past `cap` (this response) or the client's budget, reading stops."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FhirLimitExceeded(f"{label}: the answer announces more than {cap} bytes")
        budget = self.limits.max_client_bytes
        body = bytearray()
        try:
            decoder = BoundedDecoder(response.headers.get("Content-Encoding", ""))
        except UnsupportedEncoding as exc:
            raise FhirProtocolError(f"{label}: {exc}, not one we asked for ({ACCEPT_ENCODING})") from None

        def take(pieces: Iterator[bytes]) -> None:
            # The limits count decoded bytes, one bounded piece at a time: a compressed bomb stops at the cap.
            for piece in pieces:
                body.extend(piece)
                self.stats.bytes_received += len(piece)
                if len(body) > cap:
                    raise FhirLimitExceeded(f"{label}: an answer of more than {cap} bytes")
                if budget is not None and self.stats.bytes_received > budget:
                    raise FhirLimitExceeded(f"{label}: the answers together pass {budget} bytes")

        try:
            async for chunk in response.aiter_raw():
                take(decoder.feed(chunk))
            take(decoder.flush())
        except zlib.error:
            raise FhirProtocolError(f"{label}: the answer's {decoder.coding} encoding is corrupt") from None
        return body

    async def _send(
        self,
        method: str,
        url: str,
        *,
        label: str,
        content: bytes | None = None,
        form: Mapping[str, str] | None = None,
        idempotent: bool = True,
        authenticate: bool = True,
    ) -> _Reply:
        attempt = 0
        reauthorised = False
        while True:
            attempt += 1
            headers = {
                "Accept": "application/json" if form is not None else _FHIR_JSON,
                "Accept-Encoding": ACCEPT_ENCODING,  # what BoundedDecoder reads (httpx would offer br, zstd)
            }
            if content is not None:
                headers["Content-Type"] = _FHIR_JSON
            if form is None:
                # A stock HAPI answers a repeated search URL from a 60 s result cache: data up to a minute old.
                headers["Cache-Control"] = "no-cache"
            if authenticate:
                headers.update(await self.auth.headers(self._post_form))
            target = httpx.URL(url)
            started = time.perf_counter()
            try:
                async with self.pool.lease(target) as http:
                    request = http.build_request(
                        method,
                        target,
                        content=content,
                        data=form,
                        headers=headers,
                        timeout=self.timeouts.for_httpx(),
                    )
                    self.stats.requests += 1
                    self.stats.bytes_sent += len(request.content)
                    response = await http.send(request, stream=True)
                    try:
                        status = response.status_code
                        ok = 200 <= status < 300
                        cap = (
                            self.limits.max_response_bytes
                            if ok
                            else min(_ERROR_BODY_BYTES, self.limits.max_response_bytes)
                        )
                        try:
                            body = await self._read_body(response, label, cap)
                        except FhirLimitExceeded:
                            if ok:
                                raise
                            body = b""  # an error answer too long to read is still its status
                        reply = _Reply(status, response.headers, body)
                    finally:
                        await response.aclose()  # past a limit: the rest of the body is never read
            except httpx.TransportError as exc:
                reason = _describe(exc)
                log.info("%s %s: %s", method, label, reason)
                retryable = isinstance(exc, _NOT_SENT) or idempotent
                if not retryable or attempt >= self.retry.attempts:
                    raise FhirUnavailable(f"{label}: {reason} (attempt {attempt})") from exc
                await self._wait(label, attempt, None, reason, cause=exc)
                continue
            except httpx.HTTPError as exc:  # e.g. a body that cannot be decoded
                raise FhirProtocolError(f"{label}: {_describe(exc)}") from exc
            log.debug(
                "%s %s → %d, %d bytes, %.0f ms",
                method,
                label,
                status,
                len(reply.content),
                (time.perf_counter() - started) * 1000,
            )
            if status == 401 and authenticate and not reauthorised and self.auth.invalidate():
                reauthorised = True  # the token may have been revoked early: fetch a new one, once
                attempt -= 1
                continue
            if status in self.retry.statuses:
                if attempt >= self.retry.attempts:
                    raise FhirUnavailable(f"{label}: HTTP {status} after {attempt} attempts", status=status)
                await self._wait(
                    label,
                    attempt,
                    reply.headers.get("Retry-After"),
                    f"HTTP {status}",
                    status=status,
                )
                continue
            if not 200 <= status < 300:
                raise FhirError(status, f"{label}: HTTP {status}", _error_text(reply.content))
            return reply

    async def _wait(
        self,
        label: str,
        attempt: int,
        retry_after: str | None,
        reason: str,
        *,
        status: int | None = None,
        cause: BaseException | None = None,
    ) -> None:
        delay = self.retry.delay(attempt, retry_after)
        deadline = _deadline.get()
        if deadline is not None and asyncio.get_running_loop().time() + delay >= deadline:
            # Waiting would only end in the deadline's timeout; say why now instead.
            raise FhirUnavailable(
                f"{label}: {reason}; the next try (in {delay:.1f} s) would pass the {self.timeouts.total:g} s deadline",
                status=status,
            ) from cause
        self.stats.retries += 1
        log.info(
            "%s: %s; retry %d of %d in %.2f s",
            label,
            reason,
            attempt,
            self.retry.attempts - 1,
            delay,
        )
        await self._sleep(delay)


def _check_type(resource_type: str) -> None:
    if not _RESOURCE_TYPE.fullmatch(resource_type):
        raise ValueError("not a FHIR resource type")


def _check_searchset(page: Mapping[str, Any], label: str) -> None:
    if not is_bundle(page):
        raise FhirProtocolError(f"{label}: expected a Bundle, got {_kind(page)}")
    shape = bundle_shape_problem(page)
    if shape is not None:
        raise FhirProtocolError(f"{label}: {shape}")
    for outcome in search_outcomes(page):
        if has_error_issue(outcome):
            # The server says the search went wrong; its results cannot be trusted to be complete.
            raise FhirError(200, f"{label}: the server reported an error", outcome_text(outcome))


@dataclass(frozen=True, slots=True)
class _Reply:
    """An answer read within the limits."""

    status_code: int
    headers: httpx.Headers
    content: bytes | bytearray


class _Entries(msgspec.Struct):
    entry: list[msgspec.Raw] | None = None


_ENTRIES = msgspec.json.Decoder(_Entries)


def _json(content: bytes | bytearray, label: str, max_entries: int) -> Resource:
    """The JSON object; a Bundle of more than `max_entries` entries is refused before it becomes Python objects
    (counting raw entries costs a fraction of building them)."""
    if len(content) > INLINE_BYTES:
        try:
            entries = _ENTRIES.decode(content).entry
        except (msgspec.DecodeError, RecursionError):
            entries = None  # not this shape (or not JSON): the plain reading below says what is wrong
        if entries is not None and len(entries) > max_entries:
            raise FhirLimitExceeded(f"{label}: a page of more than {max_entries} entries")
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise FhirProtocolError(f"{label}: response is not JSON") from exc
    if not isinstance(body, dict):
        raise FhirProtocolError(f"{label}: response is not a JSON object")
    return body


def _error_text(content: bytes | bytearray) -> str | None:
    """The OperationOutcome's text, for the caller to inspect (`FhirError.operation_outcome_text`); never put
    into a message."""
    try:
        return outcome_text(orjson.loads(content))
    except orjson.JSONDecodeError:
        first_line = bytes(content).decode("utf-8", "replace").strip().split("\n", 1)[0]
        return first_line[:200] or None


def _kind(body: Mapping[str, Any]) -> str:
    rtype = body.get("resourceType")
    return rtype if isinstance(rtype, str) else "a non-FHIR object"


_DESCRIPTIONS: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectTimeout, "connect timeout"),
    (httpx.ConnectError, "connection failed"),
    (httpx.PoolTimeout, "no free connection in the pool"),
    (httpx.ReadTimeout, "read timeout"),
    (httpx.WriteTimeout, "write timeout"),
    (httpx.RemoteProtocolError, "the server broke the connection"),
)


def _describe(exc: httpx.HTTPError) -> str:
    # Our own words: httpx messages may quote the URL, which can hold a patient id.
    for kind, text in _DESCRIPTIONS:
        if isinstance(exc, kind):
            return text
    return type(exc).__name__
