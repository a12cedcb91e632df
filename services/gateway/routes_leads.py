"""The vault: filter and open leads, move them along the funnel, find people (sócios) and import
their companies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from services.gateway import queries
from services.gateway.api_models import MAX_OFFSET, NOT_FOUND, PartnerImport, StatusChange
from services.gateway.context import Ctx
from services.gateway.lead_filter import LeadFilter
from services.gateway.routes_runs import submit
from services.gateway.uploads import write_companies_csv
from shared.events import LeadStatusChanged, RunFilters, RunRequested, new_run_id

router = APIRouter(prefix="/api", tags=["vault"])
Bucket = Literal["hot", "warm", "nurture", "parked"]
Status = Literal["new", "contacted", "replied", "won", "lost"]


async def lead_filter(
    run_id: str | None = None, bucket: Bucket | None = None,
    min_score: int | None = Query(None, ge=0, le=100), max_score: int | None = Query(None, ge=0, le=100),
    uf: str | None = Query(None, max_length=3), city: str | None = None,
    cnae: str | None = Query(None, pattern=r"^[0-9A-Za-z.\-/]+$"),
    has_site: bool | None = None, has_whatsapp: bool | None = None, technology: str | None = None,
    accountant_like: bool | None = None, status: Status | None = None, q: str | None = None,
) -> LeadFilter:
    values = {k: v for k, v in locals().items() if v not in (None, "")}
    try:
        return LeadFilter.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from exc


Filter = Annotated[LeadFilter, Depends(lead_filter)]


@router.get("/leads")
def leads(
    ctx: Ctx, flt: Filter,
    sort: Literal["score", "-score", "name", "-name", "city", "-city", "updated", "-updated"] = "-score",
    limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Leads of the vault matching the filter (one row per lead of a run), sorted and paginated."""
    return queries.list_leads(ctx.engine, flt, sort=sort, limit=limit, offset=offset)


@router.get("/leads/{lead_key}", responses=NOT_FOUND)
def lead(ctx: Ctx, lead_key: str) -> dict[str, Any]:
    """Everything about one company: fields, runs with scores and reasons, enrichment evidence, partners."""
    found = queries.get_lead(ctx.engine, lead_key)
    if found is None:
        raise HTTPException(404, f"lead {lead_key} not found")
    return found


@router.post("/leads/{lead_key}/status", status_code=202, responses=NOT_FOUND)
async def set_status(ctx: Ctx, lead_key: str, body: StatusChange) -> dict[str, Any]:
    """Move a lead along new → contacted → replied → won/lost and/or add a note (``LeadStatusChanged``)."""
    run_id = body.run_id or await run_in_threadpool(queries.latest_lead_run, ctx.engine, lead_key)
    if run_id is None or not await run_in_threadpool(queries.lead_exists, ctx.engine, run_id, lead_key):
        raise HTTPException(404, f"lead {lead_key} not found" + (f" in run {run_id}" if run_id else ""))
    event = LeadStatusChanged(run_id=run_id, lead_key=lead_key, status=body.status,
                              note=(body.note or "").strip() or None, actor=ctx.settings.basic_auth_user or "api")
    seq = await ctx.publisher().publish(event, lead_key=lead_key)
    return {"lead_key": lead_key, "run_id": run_id, "status": body.status, "seq": seq}


@router.get("/partners")
def partners(ctx: Ctx, q: str = Query(min_length=3, description="part of a name or of a CPF/CNPJ"),
                   limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
    """People (sócios) whose name or document matches, with their companies."""
    return queries.search_partners(ctx.engine, q, limit)


@router.post("/partners/import", status_code=202, responses=NOT_FOUND)
async def import_companies(ctx: Ctx, body: PartnerImport) -> dict[str, Any]:
    """Write the chosen companies as a Receita-like CSV under ``uploads/`` and hunt it as a run."""
    found = await run_in_threadpool(queries.companies, ctx.engine, sorted(set(body.lead_keys)))
    missing = sorted(set(body.lead_keys) - {c.lead_key for c in found})
    if missing:
        raise HTTPException(404, f"unknown lead keys: {', '.join(missing[:10])}")
    path = await run_in_threadpool(write_companies_csv, ctx.settings.data_dir, found, "partner-companies.csv")
    event = RunRequested(run_id=new_run_id(), source=f"csv:{path}", filters=RunFilters(status=["*"]),
                         enrich_top=body.enrich_top, icp=body.icp, segments=["hot", "all"],
                         label=body.label or f"import of {len(found)} companies", requested_by="ui")
    return {**await submit(ctx, event), "companies": len(found)}
