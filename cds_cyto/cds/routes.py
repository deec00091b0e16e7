"""The CDS Hooks routes (discovery, the services, feedback) and the rule pages that cards link to, as routers the
app includes; the client-authentication dependency every protected route shares."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cds_cyto.cds.auth import AuthError, VerifiedClient
from cds_cyto.cds.discovery import discovery_document
from cds_cyto.cds.fhir_servers import BaseUrl
from cds_cyto.cds.messages import FeedbackRequest, HookRequest
from cds_cyto.cds.outcome import operation_outcome
from cds_cyto.cds.patient_view import HookFailure, PatientViewService, validation_outcome
from cds_cyto.cds.request_body import parse_body, read_hook_body, receive_body
from cds_cyto.cds.rule_pages import rule_page
from cds_cyto.cds.runtime import runtime_of
from cds_cyto.sources._offload import INLINE_BYTES, offload

__all__ = ["Client", "Unauthorized", "client_of", "docs_router", "hooks_router", "json_response"]


class Unauthorized(Exception):
    """The request carries no acceptable client token: the app answers 401."""


async def client_of(request: Request) -> VerifiedClient | None:
    runtime = runtime_of(request)
    if runtime.authenticator is None:
        return None
    audience = runtime.settings.public_base_url + request.url.path
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:  # [valid, garbage] must not pass on the first: which one a proxy reads is anyone's guess
        raise Unauthorized
    try:
        return await runtime.authenticator.authenticate(headers[0] if headers else None, audience)
    except AuthError:
        raise Unauthorized from None


Client = Annotated[VerifiedClient | None, Depends(client_of)]


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    media = "application/fhir+json" if isinstance(body, dict) and body.get("resourceType") else "application/json"
    return Response(orjson.dumps(body), status_code=status, media_type=media, headers=headers)


async def _receive(request: Request) -> bytes:
    settings = runtime_of(request).settings
    return await receive_body(request, settings.max_request_bytes, settings.request_read_timeout_s)


async def _parse(raw: bytes) -> Any:
    # A large body is parsed on a worker thread: the loop (and /healthz) must not wait for it.
    return parse_body(raw, orjson.loads) if len(raw) <= INLINE_BYTES else await offload(parse_body, raw, orjson.loads)


async def _answer_here(
    handler: PatientViewService, raw: bytes, fhir_bases: Sequence[BaseUrl] | None, tenant: str | None
) -> dict[str, Any]:
    """A hook call answered in this process. A large one is parsed on the worker thread and, when it reads nothing,
    answered there in the same hop (each hop costs ~0.7 ms here); else `handle` goes on from its parsed body."""
    if len(raw) <= INLINE_BYTES:
        return await handler.handle(parse_body(raw, read_hook_body), fhir_bases, tenant)
    body, answer = await offload(_parse_and_answer_at_hand, handler, raw, fhir_bases)
    return answer if answer is not None else await handler.handle(body, fhir_bases, tenant)


def _parse_and_answer_at_hand(
    handler: PatientViewService, raw: bytes, fhir_bases: Sequence[BaseUrl] | None
) -> tuple[Any, dict[str, Any] | None]:
    body = parse_body(raw, read_hook_body)
    return body, handler.answer_at_hand(body, fhir_bases)


def _hook_schema() -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": HookRequest.model_json_schema()}}}
    }


def _feedback_schema() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": FeedbackRequest.model_json_schema()}},
        }
    }


def hooks_router() -> APIRouter:
    router = APIRouter(tags=["cds-hooks"])

    @router.get("/cds-services")
    async def discovery(request: Request, _client: Client) -> Response:
        return json_response(discovery_document(runtime_of(request).services))

    @router.post("/cds-services/{service_id}", openapi_extra=_hook_schema())
    async def call_service(service_id: str, request: Request, _client: Client) -> Response:
        handler = runtime_of(request).handlers.get(service_id)
        if handler is None:
            raise HookFailure(404, operation_outcome("unknown-service", "no such CDS service", fhir_code="not-found"))
        raw = await _receive(request)
        runtime = runtime_of(request)
        issuer = runtime.issuers.get(_client.iss) if _client is not None else None
        fhir_bases = None if _client is None else (issuer.fhir_base_urls if issuer else ())
        # whose sweep snapshots may answer: auth disabled, the untenanted sweep's; an issuer's, its tenant's
        tenant = "" if _client is None else (issuer.tenant or None) if issuer else None
        answers = runtime.answers
        if answers is not None and len(raw) >= answers.min_bytes:
            if answers.claim_inline(len(raw)):  # alone: in-thread, the process hop is all the pool would add
                try:
                    return json_response(await _answer_here(handler, raw, fhir_bases, tenant))
                finally:
                    answers.release_inline()
            # in a worker process, unless it needs I/O
            answer = await answers.answer(service_id, raw, handler.today(), fhir_bases, io=handler)
            if answer is not None:
                return json_response(answer)
        return json_response(await _answer_here(handler, raw, fhir_bases, tenant))

    @router.post("/cds-services/{service_id}/feedback", openapi_extra=_feedback_schema())
    async def feedback(service_id: str, request: Request, client: Client) -> Response:
        runtime = runtime_of(request)
        if service_id not in runtime.services:
            raise HookFailure(404, operation_outcome("unknown-service", "no such CDS service", fhir_code="not-found"))
        body = await _parse(await _receive(request))
        try:
            parsed = FeedbackRequest.model_validate(body)
        except ValidationError as exc:
            raise HookFailure(400, validation_outcome(exc)) from None
        items = [item.model_dump(mode="python") for item in parsed.feedback]
        # a database write: on a thread, so the event loop (and /healthz) does not wait for it
        await asyncio.to_thread(runtime.store.add_feedback, service_id, items, client.iss if client else None)
        return Response(status_code=200)

    return router


def docs_router() -> APIRouter:
    router = APIRouter(tags=["docs"])

    @router.get("/recommendations/{code}", response_class=HTMLResponse)
    async def recommendation_page(code: str, request: Request) -> Response:
        page = rule_page(code, runtime_of(request).profile)
        if page is None:
            raise HookFailure(404, operation_outcome("not-found", "no such recommendation", fhir_code="not-found"))
        return HTMLResponse(page)

    return router
