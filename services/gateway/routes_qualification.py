"""A lead's qualification: fit, pain / need, data quality, tags, snapshot (and SPIN notes with an LLM)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.gateway.api_models import NOT_FOUND
from services.gateway.context import Ctx
from shared.vault.annotations import lead_qualification as qualification_of

router = APIRouter(prefix="/api", tags=["leads"])


@router.get("/leads/{lead_key}/qualification", responses=NOT_FOUND)
async def lead_qualification(ctx: Ctx, lead_key: str) -> dict[str, Any]:
    """The lead's latest qualification (``LeadQualified``): by rules, or by the LLM with SPIN notes and a first
    angle; ``llm_error`` says why an LLM's reply did not stand."""
    found = qualification_of(ctx.engine, lead_key)
    if found is None:
        raise HTTPException(404, f"no qualification for {lead_key} (qualified once enriched)")
    return found
