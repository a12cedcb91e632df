"""Runs: start (from a source, or from an uploaded CSV), list, follow live (SSE), cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, HTTPException, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from services.gateway import queries
from services.gateway.api_models import NOT_FOUND, RunCreate
from services.gateway.context import Ctx
from services.gateway.run_plan import ask_extractor, build_plan, resolve_icp
from services.gateway.run_report import budget_limits, report_for
from services.gateway.uploads import BadUpload, UploadTooLarge, save_uploaded_csv
from shared.domain.icp_profiles import icp_request_error
from shared.events import RunCancelled, RunFilters, RunRequested, new_run_id

router = APIRouter(prefix="/api/runs", tags=["runs"])


async def submit(ctx: Ctx, event: RunRequested) -> dict[str, str]:
    """Publish the run; 422 when its ICP profile does not exist (the run would fail at its scoring)."""
    if event.icp and (reason := await icp_request_error(ctx.publisher(), event.icp, ctx.settings.icp_dir)):
        raise HTTPException(422, [{"loc": ["body", "icp"], "msg": reason, "type": "value_error"}])
    await ctx.publisher().publish(event, key=(event.run_id,))
    return {"run_id": event.run_id, "status": "requested", "source": event.source}


async def default_enrich_top(ctx: Ctx, fallback: float) -> float:
    """The ``enrich_top_default`` saved on the Config page, else ``fallback``."""
    row = (await run_in_threadpool(queries.config, ctx.engine)).get("enrich_top_default")
    try:
        return float(row.value) if row and row.value else fallback
    except ValueError:
        return fallback


@router.post("", status_code=202)
async def create_run(ctx: Ctx, body: RunCreate) -> dict[str, str]:
    """Start a hunt: publishes ``RunRequested``. Without ``enrich_top``, the Config page's default applies."""
    fields = body.model_dump()
    if "enrich_top" not in body.model_fields_set:
        fields["enrich_top"] = await default_enrich_top(ctx, body.enrich_top)
    return await submit(ctx, RunRequested(run_id=new_run_id(), requested_by="ui", **fields))


@router.post("/plan")
async def plan_run(ctx: Ctx, body: RunCreate) -> dict[str, Any]:
    """Dry run: the plan of this hunt (filters in words, matching rows counted by the extractor, the
    enrichment it would do, ICP and KPI targets, problems found). Publishes nothing."""
    saved = {p["name"]: p["profile"] for p in await run_in_threadpool(queries.icp_profiles, ctx.engine)}
    icp, icp_error = await run_in_threadpool(resolve_icp, body.icp, saved, ctx.settings.icp_dir)
    estimate = await ask_extractor(ctx.publisher().nc, body.source, body.filters)
    enrich_top = (body.enrich_top if "enrich_top" in body.model_fields_set
                  else await default_enrich_top(ctx, body.enrich_top))
    return build_plan(source=body.source, filters=body.filters, enrich_top=enrich_top, icp=icp,
                      icp_error=icp_error, targets=body.targets, estimate=estimate,
                      budgets=budget_limits(ctx.settings))


@router.post("/upload", status_code=202, responses={
    413: {"description": "the file is over MAX_UPLOAD_BYTES"},
    422: {"description": "not a CSV with a registry id column, or a row that does not parse (the reason)"}})
async def reprocess_upload(
    ctx: Ctx, file: Annotated[UploadFile, File(description="a CSV, e.g. one downloaded from Exports")],
    enrich_top: Annotated[float | None, Form(ge=0.0, le=1.0)] = None,
    icp: Annotated[str | None, Form(pattern=r"^[a-z0-9][a-z0-9_\-]*$")] = None,
) -> dict[str, Any]:
    """Recovery: save an uploaded CSV under ``uploads/`` and reprocess it as a run of the csv source."""
    try:
        path, rows = await run_in_threadpool(save_uploaded_csv, ctx.settings.data_dir, file.filename or "upload.csv",
                                             file.file, ctx.settings.max_upload_bytes)
    except UploadTooLarge as exc:
        raise HTTPException(413, str(exc)) from exc
    except BadUpload as exc:
        raise HTTPException(422, [{"loc": ["body", "file"], "msg": str(exc), "type": "value_error"}]) from exc
    if enrich_top is None:
        enrich_top = await default_enrich_top(ctx, 0.2)
    event = RunRequested(run_id=new_run_id(), source=f"csv:{path}", filters=RunFilters(status=["*"]),
                         enrich_top=enrich_top, icp=icp or None, segments=["hot", "all"], formats=["csv"],
                         label=f"recovery: {file.filename}", requested_by="ui")
    return {**await submit(ctx, event), "rows": rows}


@router.get("")
def runs(ctx: Ctx, limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
    return queries.list_runs(ctx.engine, limit)


@router.get("/{run_id}", responses=NOT_FOUND)
def run(ctx: Ctx, run_id: str) -> dict[str, Any]:
    found = queries.get_run(ctx.engine, run_id)
    if found is None:
        raise HTTPException(404, f"run {run_id} not found (yet)")
    return found


@router.get("/{run_id}/report", responses=NOT_FOUND)
def run_report(ctx: Ctx, run_id: str) -> dict[str, Any]:
    """The run report: funnel, coverage, quality score, stage timeline, budgets, API calls, reject
    reasons, and its KPI targets judged MET / NOT MET (``kpi.overall``)."""
    report = report_for(ctx.engine, ctx.settings, run_id)
    if report is None:
        raise HTTPException(404, f"run {run_id} not found (yet)")
    return report


@router.get("/{run_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}, **NOT_FOUND})
async def run_events(ctx: Ctx, run_id: str, request: Request,
                     last_event_id: Annotated[int, Header(ge=0)] = 0) -> StreamingResponse:
    """The run's steps as Server-Sent Events (``step``), history then live; ``end`` when it finishes."""
    frames = ctx.feeds().watch(run_id, after_seq=last_event_id, disconnected=request.is_disconnected)
    return StreamingResponse(frames, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/{run_id}/cancel", status_code=202, responses=NOT_FOUND)
async def cancel(ctx: Ctx, run_id: str) -> dict[str, str]:
    await ctx.publisher().publish(RunCancelled(run_id=run_id, reason="cancelled by user"), key=(run_id,))
    return {"run_id": run_id, "status": "cancel_requested"}
