"""CDS Hooks prefetch as a patient source, with the spec's fallback: fetch what the client did not send.

A prefetch value may be a resource, a searchset Bundle, an OperationOutcome (the client's query failed), null or
absent (the client did not or could not prefetch). Values that cannot be used are fetched through the fallback —
template by template when it can run queries (`QuerySource`), else by fetching the whole patient once. A required
key that can be had neither way raises `PrefetchUnavailable` (the service answers 412 Precondition Failed); an
optional one is listed in `PrefetchResult.unresolved`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._client import before_deadline
from ._errors import FhirError, PatientNotFound, PrefetchUnavailable, SourceError
from ._fhir_json import (
    Readable,
    bundle_shape_problem,
    has_error_issue,
    holds_another_patient,
    is_bundle,
    is_fhir_id,
    next_link,
    outcome_text,
    prefetched_searchset,
)
from ._fhir_source import medication_ids_to_read, read_medications
from ._gather import gather_bounded
from ._protocol import ManyQuerySource, PatientSource, QuerySource

__all__ = ["PrefetchResult", "PrefetchSource", "render_template"]

_TOKEN = re.compile(r"\{\{\s*([A-Za-z.]+)\s*\}\}")
_ABSENT = object()  # a key the client left out, as distinct from one it sent as null


@dataclass(frozen=True, slots=True)
class PrefetchResult:
    resources: list[Readable]
    supplied: tuple[str, ...] = ()  # keys whose prefetched values were used
    fetched: tuple[str, ...] = ()  # keys fetched through the fallback
    unusable: Mapping[str, str] = field(default_factory=dict)  # key → why the client's value was not used
    unresolved: Mapping[str, str] = field(default_factory=dict)  # optional keys that could not be had, and why

    @property
    def complete(self) -> bool:
        return not self.unresolved


class PrefetchSource:
    """`PatientSource` over one hook request's prefetch.

    `templates` is the service's prefetch declaration (key → "Patient/{{context.patientId}}", ...); `context` the
    hook's context (for rendering templates); keys in `optional` may stay missing.
    """

    def __init__(
        self,
        prefetch: Mapping[str, Any] | None,
        templates: Mapping[str, str],
        fallback: PatientSource | None = None,
        *,
        context: Mapping[str, Any] | None = None,
        optional: Collection[str] = (),
        concurrency: int = 4,
    ) -> None:
        self.prefetch = prefetch or {}
        self.templates = dict(templates)
        self.fallback = fallback
        self.context = context or {}
        self.optional = frozenset(optional)
        self.concurrency = concurrency

    async def patient_resources(self, patient_id: str) -> list[Readable]:
        return (await self.resolve(patient_id)).resources

    def missing_keys(self, patient_id: str) -> list[str]:
        """The keys whose prefetched values cannot be used: what `resolve` would fetch."""
        return [
            k
            for k, t in self.templates.items()
            if isinstance(_read_value(self.prefetch.get(k, _ABSENT), t, patient_id), str)
        ]

    def _read(self, patient_id: str) -> tuple[dict[str, list[Readable]], dict[str, str]]:
        """(key → its prefetched resources, key → why its value cannot be used)."""
        supplied: dict[str, list[Readable]] = {}
        unusable: dict[str, str] = {}
        for key, template in self.templates.items():
            verdict = _read_value(self.prefetch.get(key, _ABSENT), template, patient_id)
            if isinstance(verdict, str):
                unusable[key] = verdict
            else:
                supplied[key] = verdict
        return supplied, unusable

    def at_hand(self, patient_id: str) -> PrefetchResult | None:
        """`resolve`'s result when it would read nothing (every key usable, no Medication to look up), made
        without a loop, on any thread; None: it would read, `resolve` it."""
        supplied, unusable = self._read(patient_id)
        if unusable:
            return None
        resources = [r for rs in supplied.values() for r in rs]
        fallback = self.fallback
        if fallback is not None and isinstance(fallback, QuerySource) and medication_ids_to_read(resources):
            return None
        return PrefetchResult(resources=resources, supplied=tuple(supplied))

    async def resolve(self, patient_id: str) -> PrefetchResult:
        supplied, unusable = self._read(patient_id)
        fetched, extra, failures = await self._fetch(patient_id, list(unusable)) if unusable else ((), [], {})
        required = {k: why for k, why in failures.items() if k not in self.optional}
        if required:
            raise PrefetchUnavailable(required)
        resources = [r for rs in supplied.values() for r in rs] + extra
        resources += await self._medications(resources)
        return PrefetchResult(
            resources=resources,  # everything, copies included: the core settles versions
            supplied=tuple(supplied),
            fetched=fetched,
            unusable=unusable,
            unresolved=failures,
        )

    async def _medications(self, resources: list[Readable]) -> list[Readable]:
        """Medications the administrations reference but the client did not include (many EHRs ignore `_include`
        in prefetch), read in one search when there is a server to ask. A failure leaves them unread (a search that
        stalls too: it is ended just before the call's deadline), and the core then says which drug could not be
        identified, rather than no advice at all."""
        fallback = self.fallback
        if fallback is None or not isinstance(fallback, QuerySource):
            return []
        query = fallback.query

        async def in_time(url: str) -> list[dict[str, Any]]:
            return await before_deadline(query(url), "Medication lookup")

        try:
            return list(await read_medications(in_time, resources))
        except SourceError:
            return []

    async def _fetch(self, patient_id: str, keys: list[str]) -> tuple[tuple[str, ...], list[Readable], dict[str, str]]:
        """(keys fetched, their resources, key → why it could not be fetched)."""
        fallback = self.fallback
        if fallback is None:
            return (), [], {k: "not prefetched and no FHIR server to fetch it from" for k in keys}
        if not isinstance(fallback, QuerySource):
            try:
                everything = await fallback.patient_resources(patient_id)
            except PatientNotFound:
                raise  # no such patient is an answer in itself, not missing data
            except SourceError as exc:
                return (), [], {k: _why(exc) for k in keys}
            return tuple(keys), list(everything), {}

        urls = {k: render_template(self.templates[k], self.context, patient_id) for k in keys}
        outcomes: dict[str, list[Readable] | str] = {
            k: "the template needs a value the hook context lacks" for k, url in urls.items() if url is None
        }
        runnable = [k for k in keys if urls[k] is not None]
        answers: list[list[Readable] | SourceError]
        if isinstance(fallback, ManyQuerySource):  # one batch round trip where the server takes batch
            try:
                many = await fallback.query_many([u for k in runnable if (u := urls[k]) is not None])
                answers = [a if isinstance(a, SourceError) else list(a) for a in many]
            except PatientNotFound:
                raise
            except SourceError as exc:  # the batch itself failed: every key it carried did
                answers = [exc] * len(runnable)
        else:
            answers = await gather_bounded(
                [_captured(fallback.query(u)) for k in runnable if (u := urls[k]) is not None], self.concurrency
            )
        for key, answer in zip(runnable, answers, strict=True):
            outcomes[key] = self._judge(key, answer)
        fetched = {k: o for k, o in outcomes.items() if not isinstance(o, str)}
        failures = {k: o for k, o in outcomes.items() if isinstance(o, str)}
        return tuple(fetched), [r for rs in fetched.values() for r in rs], failures

    def _judge(self, key: str, answer: list[Readable] | SourceError) -> list[Readable] | str:
        """A fetched key's resources, or why it could not be had; no such patient is an answer in itself."""
        if not isinstance(answer, SourceError):
            return list(answer)
        if _reads_the_patient(self.templates[key]):
            if isinstance(answer, PatientNotFound):
                raise answer
            if isinstance(answer, FhirError) and answer.status in (404, 410):
                raise PatientNotFound(f"the FHIR server answered {answer.status} to the Patient read") from None
        return _why(answer)


def render_template(template: str, context: Mapping[str, Any], patient_id: str) -> str | None:
    """Fill a prefetch template's {{context.x}} and {{userPractitionerId}}-style tokens; None when a token has
    no value or a value is not a FHIR id (so nothing from the request can add query parameters)."""
    values: dict[str, str] = {f"context.{k}": v for k, v in context.items() if isinstance(v, str)}
    values["context.patientId"] = patient_id
    user = context.get("userId")
    if isinstance(user, str) and user.count("/") == 1:
        user_type, user_id = user.split("/")
        values[f"user{user_type}Id"] = user_id
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = values.get(match.group(1))
        if value is None or not is_fhir_id(value):
            missing = True
            return ""
        return value

    rendered = _TOKEN.sub(fill, template)
    return None if missing or "{{" in rendered else rendered


def _read_value(value: object, template: str, patient_id: str) -> list[Readable] | str:
    """The resources a prefetch value holds, or why it cannot be used."""
    if value is _ABSENT:
        return "absent"
    if value is None:
        return "null"
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return "not a FHIR resource"
    if value["resourceType"] == "OperationOutcome":
        return "OperationOutcome: " + (outcome_text(value) or "no details")
    path = template.split("?", 1)[0]
    expected = path.split("/", 1)[0]
    if "?" in template or "/" not in path:  # a search: the answer is a searchset
        if not is_bundle(value):
            return f"expected a Bundle, got {value['resourceType']}"
        shape = bundle_shape_problem(value)
        if shape is not None:
            return shape
        if next_link(value) is not None:
            return "only the first page was sent"
        resources, outcomes = prefetched_searchset(value)
        errors = [o for o in outcomes if has_error_issue(o)]
        if errors:
            return "OperationOutcome: " + (outcome_text(errors[0]) or "no details")
    elif value["resourceType"] != expected:
        return f"expected {expected}, got {value['resourceType']}"
    else:
        resources = [value]
    if holds_another_patient(resources, patient_id):
        return "holds another patient's data"  # never mix patients, whatever the client sent
    return resources


def _reads_the_patient(template: str) -> bool:
    """ "Patient/{{context.patientId}}": a read of the hook's patient, whose 404 means there is no such patient."""
    return _TOKEN.sub("", template).rstrip("/") == "Patient" and "?" not in template


def _why(exc: SourceError) -> str:
    return f"{type(exc).__name__}: {exc}"


async def _captured(call: Awaitable[list[dict[str, Any]]]) -> list[Readable] | SourceError:
    try:
        return list(await call)
    except SourceError as exc:
        return exc
