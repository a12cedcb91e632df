"""The daily agenda (paced action lanes) and its settings, saved as ``ConfigSaved`` events."""

from __future__ import annotations

from datetime import date as Date  # noqa: N812
from typing import Any

from fastapi import APIRouter, Query

from services.gateway.agenda import CONFIG_KEY, AgendaSettings, plan_agenda
from services.gateway.agenda_queries import agenda_settings, gather, today_in
from services.gateway.context import Ctx
from shared.events import ConfigSaved, Subjects, subject_token

router = APIRouter(prefix="/api/agenda", tags=["agenda"])


@router.get("")
def agenda(ctx: Ctx, date: Date | None = Query(None, description="YYYY-MM-DD; default: today in the "
                                                                    "agenda's time zone")) -> dict[str, Any]:
    """Today's tasks per lane (contact, follow up, check): the lead, why it is there, when, its channels."""
    settings = agenda_settings(ctx.engine)
    day = date or today_in(settings)
    leads, done = gather(ctx.engine, day, settings)
    return {**plan_agenda(day, settings, leads, done), "settings": settings.model_dump(mode="json")}


@router.get("/settings")
def get_settings(ctx: Ctx) -> dict[str, Any]:
    return agenda_settings(ctx.engine).model_dump(mode="json")


@router.put("/settings", status_code=202)
async def put_settings(ctx: Ctx, body: AgendaSettings) -> dict[str, Any]:
    """Limits, working hours, weekdays and time zone of the lanes (a ``ConfigSaved`` event)."""
    value = body.model_dump_json()
    seq = await ctx.publisher().publish(ConfigSaved(key=CONFIG_KEY, value=value),
                                        subject=Subjects.CONFIG_SAVED.format(key=subject_token(CONFIG_KEY)))
    return {"saved": CONFIG_KEY, "seq": seq, "settings": body.model_dump(mode="json")}
