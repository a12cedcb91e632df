"""The vault: filter and open leads, move them along the funnel, find people (sócios) and import
their companies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from services.gateway import queries
from services.gateway.api_models import MAX_OFFSET, NOT_FOUND, ActivityCreate, PartnerImport, StatusChange
from services.gateway.context import Ctx
from services.gateway.routes_runs import submit
from services.gateway.uploads import write_companies_csv
from shared.contracts.vocabulary import Bucket
from shared.events import LeadActivityRecorded, LeadStatusChanged, RunFilters, RunRequested, new_run_id
from shared.funnel import FunnelState, TransitionRefused, check_transition
from shared.vault.filters import LeadFilter

router = APIRouter(prefix="/api", tags=["vault"])
_basic = HTTPBasic(auto_error=False)


async def actor(ctx: Ctx, creds: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str:
    """Who acts: the authenticated basic-auth user (the app checked the password), else ``api``."""
    return creds.username if ctx.settings.basic_auth_user and creds is not None else "api"


Actor = Annotated[str, Depends(actor)]


async def lead_filter(
    run_id: str | None = None, bucket: Bucket | None = None,
    min_score: int | None = Query(None, ge=0, le=100), max_score: int | None = Query(None, ge=0, le=100),
    uf: str | None = Query(None, max_length=3), city: str | None = None,
    cnae: str | None = Query(None, pattern=r"^[0-9A-Za-z.\-/]+$"),
    has_site: bool | None = None, has_whatsapp: bool | None = None, technology: str | None = None,
    accountant_like: bool | None = None, status: FunnelState | None = None, q: str | None = None,
    include_do_not_contact: bool | None = None,
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
    """Leads of the vault matching the filter, one row per lead (a company across runs: its latest run's
    score, ``runs_seen``, its funnel ``status``), sorted and paginated. Opted-out leads are left out
    unless asked for (``include_do_not_contact``, or ``status=do_not_contact``); ``run_id`` narrows to the
    leads that run saw (their current score)."""
    return ctx.pages.page(ctx.engine, (flt.model_dump_json(), sort, limit, offset),
                          lambda: queries.list_leads(ctx.engine, flt, sort=sort, limit=limit, offset=offset))


@router.get("/leads/{lead_key}", responses=NOT_FOUND)
def lead(ctx: Ctx, lead_key: str) -> dict[str, Any]:
    """Everything about one company: fields, its funnel state with the allowed next states and its
    timeline, runs with scores and reasons, enrichment evidence, partners."""
    found = queries.get_lead(ctx.engine, lead_key)
    if found is None:
        raise HTTPException(404, f"lead {lead_key} not found")
    return found


@router.post("/leads/{lead_key}/status", status_code=202, responses={
    **NOT_FOUND, 409: {"description": "a move the funnel does not allow; the body lists the allowed ones"}})
async def set_status(ctx: Ctx, lead_key: str, body: StatusChange, who: Actor) -> Any:
    """Move a lead along its funnel (new → queued → contacted → replied → meeting → won | lost, or
    do_not_contact from any state; a closed lead only with ``reopen``) and/or add a note
    (``LeadStatusChanged``). A move the funnel refuses is a 409 with the allowed next states."""
    current = await run_in_threadpool(queries.funnel_state, ctx.engine, lead_key)
    if current is None:
        raise HTTPException(404, f"lead {lead_key} not found")
    if body.status is not None:
        try:
            check_transition(current, body.status, reopen=body.reopen)
        except TransitionRefused as exc:
            raise HTTPException(409, {"message": str(exc), "current": exc.current, "target": exc.target,
                                      "reopen": body.reopen, "allowed": list(exc.allowed)}) from exc
    event = LeadStatusChanged(run_id=body.run_id, lead_key=lead_key, status=body.status, reopen=body.reopen,
                              note=(body.note or "").strip() or None, actor=who)
    seq = await ctx.publisher().publish(event, lead_key=lead_key, run_id=lead_key)
    return {"lead_key": lead_key, "previous": current, "status": body.status or current, "actor": who, "seq": seq}


@router.post("/leads/{lead_key}/activities", status_code=202, responses=NOT_FOUND)
async def add_activity(ctx: Ctx, lead_key: str, body: ActivityCreate, who: Actor) -> dict[str, Any]:
    """Record a note, call, e-mail, WhatsApp, meeting or task (with ``due_on``) on the lead's timeline
    (``LeadActivityRecorded``); an activity moves no funnel state."""
    if await run_in_threadpool(queries.funnel_state, ctx.engine, lead_key) is None:
        raise HTTPException(404, f"lead {lead_key} not found")
    event = LeadActivityRecorded(run_id=body.run_id, lead_key=lead_key, kind=body.kind, text=body.text.strip(),
                                 due_on=body.due_on.isoformat() if body.due_on else None, actor=who)
    seq = await ctx.publisher().publish(event, lead_key=lead_key, lead=lead_key)
    return {"lead_key": lead_key, "kind": body.kind, "actor": who, "seq": seq}


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
