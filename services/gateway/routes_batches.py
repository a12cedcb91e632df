"""Batches: one run per activity code (``POST /api/batches``), and their summaries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse

from services.gateway.api_models import NOT_FOUND, BatchCreate
from services.gateway.batches import batch_requests, batch_summary, list_batches, new_batch_id, summary_csv
from services.gateway.context import Ctx
from services.gateway.routes_runs import submit

router = APIRouter(prefix="/api/batches", tags=["batches"])


@router.post("", status_code=202)
async def create_batch(ctx: Ctx, body: BatchCreate) -> dict[str, Any]:
    """Start one run per code (all queued at once; a failed code does not stop the others)."""
    batch_id = new_batch_id()
    requests = batch_requests(batch_id=batch_id, kind=body.kind, codes=body.codes, source=body.source,
                              filters=body.filters, enrich_top=body.enrich_top, icp=body.icp, targets=body.targets,
                              segments=body.segments, formats=body.formats, label=body.label, requested_by="ui")
    for request in requests:  # the first checks the ICP (a 422 before anything is published)
        await submit(ctx, request)
    return {"batch_id": batch_id, "runs": [{"run_id": r.run_id, "code": (r.filters.cnae or r.filters.naf)[0]}
                                           for r in requests]}


@router.get("")
def batches(ctx: Ctx, limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
    return list_batches(ctx.engine, limit)


@router.get("/{batch_id}", responses=NOT_FOUND)
def batch(ctx: Ctx, batch_id: str) -> dict[str, Any]:
    """Per code: run, status, leads, hot, KPIs (MET / NOT MET), duration, failure reason."""
    found = batch_summary(ctx.engine, ctx.settings, batch_id)
    if found is None:
        raise HTTPException(404, f"batch {batch_id} not found (yet)")
    return found


@router.get("/{batch_id}/summary.csv", response_class=PlainTextResponse, responses=NOT_FOUND)
def batch_csv(ctx: Ctx, batch_id: str) -> PlainTextResponse:
    found = batch_summary(ctx.engine, ctx.settings, batch_id)
    if found is None:
        raise HTTPException(404, f"batch {batch_id} not found (yet)")
    return PlainTextResponse(summary_csv(found), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{batch_id}.csv"'})
