"""HTTP worklist: GET /worklist (JSON or CSV) and POST /worklist/alerts/{id}/acknowledge.

The app passes in its client-authentication dependency, so these routes are protected exactly like the CDS Hooks
endpoints, and a function that finds the store for a request.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at definition time, and one of them
# names the dependency this factory is given.
from collections.abc import Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from cds_cyto.store import Store
from cds_cyto.store.alerts import acknowledge
from cds_cyto.sweep.worklist import build_worklist, render_csv

__all__ = ["worklist_router"]


def worklist_router(authenticate: Callable[..., Any], store_of: Callable[[Request], Store]) -> APIRouter:
    router = APIRouter(prefix="/worklist", tags=["worklist"], dependencies=[Depends(authenticate)])

    @router.get("")
    async def worklist(
        request: Request, fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json"
    ) -> Response:
        built = build_worklist(store_of(request).engine)
        if fmt == "csv":
            return Response(render_csv(built), media_type="text/csv; charset=utf-8")
        return Response(orjson.dumps(built.to_json()), media_type="application/json")

    @router.post("/alerts/{alert_id}/acknowledge")
    async def acknowledge_alert(
        alert_id: str, request: Request, client: Annotated[Any, Depends(authenticate)]
    ) -> Response:
        # the same dependency as the router's: FastAPI runs it once per request and hands over its result
        by = getattr(client, "iss", None) or "anonymous"
        view = acknowledge(store_of(request).engine, alert_id, by)
        if view is None:
            return Response(
                orjson.dumps({"error": "no such open alert"}), status_code=404, media_type="application/json"
            )
        return Response(orjson.dumps({"id": view.uid, "state": view.state}), media_type="application/json")

    return router
