"""The vault's ranking tables, read for the API: trainings and each lead's propensity."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from shared.vault.schema import Company, LeadPropensityRow, RankingTrainingRow


def _training(row: RankingTrainingRow) -> dict[str, Any]:
    out = row.model_dump()
    out["candidates"], out["importances"] = json.loads(row.candidates), json.loads(row.importances)
    return out


def trainings(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The latest trainings, newest first."""
    with Session(engine) as s:
        rows = s.exec(select(RankingTrainingRow).order_by(col(RankingTrainingRow.version).desc()).limit(limit)).all()
        return [_training(r) for r in rows]


def _propensity(p: LeadPropensityRow, company: Company | None) -> dict[str, Any]:
    return {
        "lead_key": p.lead_key, "propensity": p.propensity, "model_version": p.version, "next_rank": p.next_rank,
        "explored": p.explored,
        "top_features": [{"feature": f, "contribution": v} for f, v in json.loads(p.top_features)],
        "legal_name": company.legal_name if company else None, "trade_name": company.trade_name if company else None,
        "city": company.city if company else None, "state": company.state if company else None,
    }


def next_leads(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """The next-leads list of the latest ranking, in its order."""
    with Session(engine) as s:
        rows = s.exec(
            select(LeadPropensityRow, Company).join(Company, col(Company.lead_key) == col(LeadPropensityRow.lead_key),
                                                    isouter=True)
            .where(col(LeadPropensityRow.next_rank).is_not(None))
            .order_by(col(LeadPropensityRow.next_rank)).limit(limit)
        ).all()
        return [_propensity(p, c) for p, c in rows]


def lead_propensity(engine: Engine, lead_key: str) -> dict[str, Any] | None:
    with Session(engine) as s:
        p = s.get(LeadPropensityRow, lead_key)
        return _propensity(p, s.get(Company, lead_key)) if p is not None else None
