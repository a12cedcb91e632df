"""A lead's qualification (``lead_qualifications``) and, for lists and exports, the propensity and the
qualification of a page of leads read together."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from shared.vault.schema import LeadPropensityRow, LeadQualificationRow

CHUNK = 500


def qualification_item(row: LeadQualificationRow) -> dict[str, Any]:
    out = row.model_dump()
    out["tags"], out["signals"] = json.loads(row.tags), json.loads(row.signals)
    out["spin"] = json.loads(row.spin) or None
    return out


def lead_qualification(engine: Engine, lead_key: str) -> dict[str, Any] | None:
    with Session(engine) as s:
        row = s.get(LeadQualificationRow, lead_key)
        return qualification_item(row) if row is not None else None


def lead_annotations(engine: Engine, lead_keys: list[str]) -> dict[str, dict[str, Any]]:
    """Per lead key: ``propensity`` and ``top_features`` (the ranker's, when it ranked the lead) and
    ``qualification`` (the latest one, when it was qualified); leads with neither are left out."""
    out: dict[str, dict[str, Any]] = {}
    with Session(engine) as s:
        for start in range(0, len(lead_keys), CHUNK):
            chunk = lead_keys[start:start + CHUNK]
            for p in s.exec(select(LeadPropensityRow).where(col(LeadPropensityRow.lead_key).in_(chunk))):
                out.setdefault(p.lead_key, {}).update(
                    propensity=p.propensity, top_features=[f for f, _ in json.loads(p.top_features)])
            for q in s.exec(select(LeadQualificationRow).where(col(LeadQualificationRow.lead_key).in_(chunk))):
                out.setdefault(q.lead_key, {})["qualification"] = qualification_item(q)
    return out
