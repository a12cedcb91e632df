"""Ranking learned from outcomes: the latest training, the next leads, a lead's propensity, train now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from services.gateway import ranking_queries
from services.gateway.api_models import NOT_FOUND
from services.gateway.context import Ctx
from shared.events import RankingRequested

router = APIRouter(prefix="/api", tags=["ranking"])


@router.get("/ranking")
async def ranking(ctx: Ctx, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    """The latest training (or the cold start: the ICP score ranks), earlier ones, and the next leads
    (best propensity first, with the explored places marked)."""
    history = ranking_queries.trainings(ctx.engine)
    latest = history[0] if history else None
    trained = next((t for t in history if t["status"] == "trained"), None)
    if trained is None:
        labelled = latest["labelled"] if latest else 0
        message = (f"cold start: {labelled} outcomes, fewer than {ctx.settings.ranker_min_labels}; "
                   "the ICP score ranks the leads")
    else:
        message = f"model v{trained['version']} ({trained['model_kind']}) learned from {trained['labelled']} outcomes"
    return {
        "status": "trained" if trained else "cold_start", "message": message, "latest": latest, "model": trained,
        "trainings": history, "explore_share": ctx.settings.ranker_explore_share,
        "min_labels": ctx.settings.ranker_min_labels,
        "next": ranking_queries.next_leads(ctx.engine, limit) if trained else [],
    }


@router.get("/ranking/leads/{lead_key}", responses=NOT_FOUND)
async def lead_propensity(ctx: Ctx, lead_key: str) -> dict[str, Any]:
    """A lead's propensity under the latest model that ranked it, and the features that moved it most."""
    found = ranking_queries.lead_propensity(ctx.engine, lead_key)
    if found is None:
        raise HTTPException(404, f"no propensity for {lead_key} (cold start, or the lead is unknown to the ranker)")
    return found


@router.post("/ranking/train", status_code=202)
async def train(ctx: Ctx) -> dict[str, Any]:
    """Ask the ranker to train now (``RankingRequested``); the result is a ``ranking.trained`` event."""
    seq = await ctx.publisher().publish(RankingRequested(requested_by="api"))
    return {"seq": seq}
