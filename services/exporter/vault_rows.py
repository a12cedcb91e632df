"""Export rows for a vault filter, read from the vault (read-only). One row per company: when a
company is a lead of several runs, its most recently updated lead wins."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.exporter.segments import Row, build_row
from services.gateway.lead_filter import LeadFilter, lead_conditions
from services.projector.models import Company, EnrichmentRow, Lead
from shared.schemas import CleanedLead, Enrichment, FinalScore, Reason, ScoredLead

BUCKETS = ("hot", "warm", "nurture", "parked")


def _row(lead: Lead, company: Company, enrichment: EnrichmentRow | None) -> Row:
    cleaned = CleanedLead.model_validate_json(company.data)
    reasons = [Reason.model_validate(r) for r in json.loads(lead.reasons)]
    scored = ScoredLead(lead=cleaned, score=lead.score_v1 or 0, reasons=reasons, rank=lead.rank or 0,
                        enrich=lead.enrich, bucket=lead.bucket)
    final = None
    if lead.score is not None and lead.bucket in BUCKETS:
        final = FinalScore(lead_key=lead.lead_key, score=lead.score, bucket=lead.bucket, reasons=reasons)  # type: ignore[arg-type]
    found = Enrichment.model_validate_json(enrichment.data) if enrichment and enrichment.data != "{}" else None
    return build_row(scored, found, final)


def vault_rows(engine: Engine, vault_filter: dict[str, Any]) -> list[Row]:
    """The rows a vault filter selects (raises pydantic.ValidationError on a bad filter)."""
    flt = LeadFilter.model_validate(vault_filter)
    stmt = (
        select(Lead, Company, EnrichmentRow)
        .join(Company, Company.lead_key == Lead.lead_key)  # type: ignore[arg-type]
        .join(EnrichmentRow, EnrichmentRow.lead_key == Lead.lead_key, isouter=True)  # type: ignore[arg-type]
    )
    for cond in lead_conditions(flt):
        stmt = stmt.where(cond)
    latest: dict[str, tuple[Lead, Company, EnrichmentRow | None]] = {}
    with Session(engine) as s:
        for lead, company, enrichment in s.exec(stmt).all():
            seen = latest.get(lead.lead_key)
            if seen is None or (lead.updated_at or "", lead.run_id) > (seen[0].updated_at or "", seen[0].run_id):
                latest[lead.lead_key] = (lead, company, enrichment)
    return [_row(*found) for _, found in sorted(latest.items())]
