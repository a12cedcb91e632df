"""What the agenda reads of the vault: the leads its lanes may hold (open leads best ranked first,
contacted, replied and meeting ones) with their last touches, the contacts already made today and this
week, and each lead's channels (phone, WhatsApp link, e-mail, site, socials)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.gateway.agenda import AgendaSettings, Done, LeadForAgenda, day_bounds, week_start
from shared.vault.schema import Company, ConfigRow, EnrichmentRow, LeadCurrent, LeadPropensityRow, TimelineRow

TOUCHES = ("call", "email", "whatsapp")


def agenda_settings(engine: Engine) -> AgendaSettings:
    """The settings saved on the Config page (the ``agenda`` key), else the defaults."""
    with Session(engine) as s:
        row = s.get(ConfigRow, "agenda")
    if row is None or not row.value:
        return AgendaSettings()
    return AgendaSettings.model_validate_json(row.value)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _channels(company: dict[str, Any], enrichment: str | None) -> dict[str, Any]:
    found = json.loads(enrichment) if enrichment else {}
    whatsapp = company["whatsapp"] or next(iter(found.get("whatsapp") or []), None)
    digits = "".join(c for c in whatsapp or "" if c.isdigit())
    return {
        "phone": company["phone"] or next(iter(found.get("phones") or []), None),
        "whatsapp": whatsapp, "whatsapp_link": f"https://wa.me/{digits}" if digits else None,
        "email": company["email"] or next(iter(found.get("emails") or []), None),
        "site": found.get("site"), "socials": found.get("socials") or {},
    }


def gather(engine: Engine, day: date, settings: AgendaSettings) -> tuple[list[LeadForAgenda], Done]:
    zone = settings.zone
    today_start, today_end = day_bounds(day, zone)
    week_from, _ = day_bounds(week_start(day), zone)
    L, C, E, T, P = LeadCurrent, Company, EnrichmentRow, TimelineRow, LeadPropensityRow  # noqa: N806
    cols = (L.lead_key, L.status, L.status_at, L.score, L.bucket, C.legal_name, C.trade_name, C.city, C.state,
            C.phone, C.whatsapp, C.email, E.data, P.propensity, P.next_rank, P.explored)
    base = (select(*cols).select_from(L).join(C, C.lead_key == L.lead_key)  # type: ignore[arg-type]
            .outerjoin(E, E.lead_key == L.lead_key)  # type: ignore[arg-type]
            .outerjoin(P, P.lead_key == L.lead_key))  # type: ignore[arg-type]
    with Session(engine) as s:
        open_rows = s.execute(base.where(L.status.in_(("new", "queued")))  # type: ignore[attr-defined]
                              # queued first, then the learned next-leads list, then the ICP score (cold start)
                              .order_by(case((L.status == "queued", 0), else_=1), P.next_rank.asc().nulls_last(),  # type: ignore[union-attr]
                                        L.score.desc().nulls_last(), L.lead_key)  # type: ignore[union-attr]
                              .limit(max(settings.contact_daily, 1))).all()
        worked_rows = s.execute(base.where(L.status.in_(("contacted", "replied", "meeting")))).all()  # type: ignore[attr-defined]
        keys = [r.lead_key for r in worked_rows]
        last_activity: dict[str, str] = {}
        touches: dict[str, tuple[int, str | None]] = {}
        if keys:
            for key, at in s.execute(select(T.lead_key, func.max(T.occurred_at)).where(T.lead_key.in_(keys))  # type: ignore[attr-defined]
                                     .group_by(T.lead_key)):
                last_activity[key] = at
            since = {r.lead_key: r.status_at or "" for r in worked_rows if r.status == "contacted"}
            if since:
                rows = s.execute(select(T.lead_key, T.occurred_at).where(
                    T.lead_key.in_(list(since)), T.kind.in_(TOUCHES))).all()  # type: ignore[attr-defined]
                for key, at in rows:
                    if at > since[key]:
                        n, last = touches.get(key, (0, None))
                        touches[key] = (n + 1, max(filter(None, (last, at))))
        contacted = and_(T.kind == "status", T.status == "contacted")
        today = s.execute(select(func.count()).select_from(T).where(
            contacted, T.occurred_at >= today_start.isoformat(), T.occurred_at < today_end.isoformat())).scalar()
        week = s.execute(select(func.count()).select_from(T).where(
            contacted, T.occurred_at >= week_from.isoformat(), T.occurred_at < today_end.isoformat())).scalar()
    leads = []
    for r in [*open_rows, *worked_rows]:
        company = {"phone": r.phone, "whatsapp": r.whatsapp, "email": r.email}
        n, last_touch = touches.get(r.lead_key, (0, None))
        info = {"name": r.trade_name or r.legal_name, "legal_name": r.legal_name, "city": r.city, "uf": r.state,
                "score": r.score, "bucket": r.bucket, "propensity": r.propensity, **_channels(company, r.data)}
        if r.next_rank is not None:  # the ranker's next-leads list (learned from outcomes, with exploration)
            info["contact_why"] = (f"next lead #{r.next_rank}: propensity {r.propensity:.2f}"
                                   + (" (explored)" if r.explored else ""))
            rank = 1e6 - r.next_rank
        else:
            rank = float(r.score or 0)
        leads.append(LeadForAgenda(
            lead_key=r.lead_key, state=r.status, state_at=_when(r.status_at), rank=rank,
            last_activity_at=_when(last_activity.get(r.lead_key)), touches_since_contact=n,
            last_touch_at=_when(last_touch), info=info))
    return leads, Done(contacted_today=int(today or 0), contacted_this_week=int(week or 0))


def today_in(settings: AgendaSettings, now: datetime | None = None) -> date:
    return (now or datetime.now(settings.zone)).astimezone(settings.zone).date()


