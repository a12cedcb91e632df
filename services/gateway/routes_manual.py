"""Add one lead by hand: a registry id (validated) and what the person knows; it goes through clean →
score → enrich like any other lead, as a run of the ``manual:`` source, and lands with ``source=manual``."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.context import Ctx
from services.gateway.routes_runs import submit
from shared.events import RunFilters, RunRequested, new_run_id
from shared.registry_ids import normalize_registry_id

router = APIRouter(prefix="/api", tags=["leads"])


class ManualLead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    registry_id: str = Field(min_length=1, max_length=40, description="CNPJ, SIREN or SIRET (check digits verified)")
    country: Literal["BR", "FR"] | None = Field(default=None, description="narrows the id's kind; guessed if unset")
    name: str | None = Field(default=None, max_length=200)
    trade_name: str | None = Field(default=None, max_length=200)
    website: str | None = Field(default=None, max_length=300, description="the company's site, if known")
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    uf: str | None = Field(default=None, max_length=3)
    activity: str | None = Field(default=None, max_length=20, description="CNAE or NAF code")
    icp: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_\-]*$")


@router.post("/leads", status_code=202, responses={422: {"description": "an invalid registry id, with the reason"}})
async def add_lead(ctx: Ctx, body: ManualLead) -> dict[str, Any]:
    """Add a lead by its registry id: looked up in ``HUNTER_MANUAL_LOOKUP`` when set, else kept as typed;
    cleaned, scored and enriched as a run of its own (``manual:`` source)."""
    try:
        registry_id, country = normalize_registry_id(body.registry_id, body.country)
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["body", "registry_id"], "msg": str(exc), "type": "value_error"}]) from exc
    typed = {"id": registry_id, "country": country, **body.model_dump(exclude={"registry_id", "country", "icp"},
                                                                       exclude_none=True)}
    event = RunRequested(run_id=new_run_id(), source=f"manual:{urlencode(typed)}", filters=RunFilters(status=["*"]),
                         enrich_top=1.0, icp=body.icp, segments=["hot"], formats=["csv"],
                         label=f"added by hand: {body.name or registry_id}",
                         requested_by=ctx.settings.basic_auth_user or "api")
    return {**await submit(ctx, event), "lead_key": f"{country}:{registry_id}"}
