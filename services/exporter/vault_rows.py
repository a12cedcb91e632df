"""Export rows for a vault filter, read from the vault (read-only): one row per lead (a company
across runs, ``lead_current``), the same rows the vault list counts for that filter."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from shared.contracts.vocabulary import BUCKETS
from shared.domain.segments import Row, build_row
from shared.schemas import CleanedLead, Enrichment, FinalScore, Reason, ScoredLead
from shared.vault.access import VaultMissing
from shared.vault.filters import OPTED_OUT, LeadFilter, lead_conditions, opted_out
from shared.vault.schema import Company, EnrichmentRow, LeadCurrent


class VaultRows(NamedTuple):
    rows: list[Row]
    left_out_do_not_contact: int  # opted-out leads the filter matched and the export leaves out


def _row(lead: LeadCurrent, company: Company, enrichment: EnrichmentRow | None) -> Row:
    cleaned = CleanedLead.model_validate_json(company.data)
    reasons = [Reason.model_validate(r) for r in json.loads(lead.reasons)]
    scored = ScoredLead(lead=cleaned, score=lead.score_v1 or 0, reasons=reasons, rank=lead.rank or 0,
                        enrich=lead.enrich, bucket=lead.bucket)
    final = None
    if lead.score is not None and lead.bucket in BUCKETS:
        final = FinalScore(lead_key=lead.lead_key, score=lead.score, bucket=lead.bucket, reasons=reasons)  # type: ignore[arg-type]
    found = Enrichment.model_validate_json(enrichment.data) if enrichment and enrichment.data != "{}" else None
    return build_row(scored, found, final)


def vault_rows(engine: Engine, vault_filter: dict[str, Any]) -> VaultRows:
    """The rows a vault filter selects (raises pydantic.ValidationError on a bad filter), and how many
    opted-out leads it left out."""
    flt = LeadFilter.model_validate(vault_filter)
    stmt = (
        select(LeadCurrent, Company, EnrichmentRow)
        .join(Company, Company.lead_key == LeadCurrent.lead_key)  # type: ignore[arg-type]
        .join(EnrichmentRow, EnrichmentRow.lead_key == LeadCurrent.lead_key, isouter=True)  # type: ignore[arg-type]
        .where(*lead_conditions(flt))
        .order_by(LeadCurrent.lead_key)
    )
    with Session(engine) as s:
        rows = [_row(*found) for found in s.exec(stmt).all()]
        left_out = 0
        if (dnc := opted_out(flt)) is not None:
            counted = select(func.count()).select_from(LeadCurrent).join(
                Company, Company.lead_key == LeadCurrent.lead_key).where(*lead_conditions(dnc))  # type: ignore[arg-type]
            left_out = s.exec(counted).one()
    return VaultRows(rows, left_out)


def opted_out_keys(engine: Engine, lead_keys: list[str]) -> set[str]:
    """Which of these leads opted out (``do_not_contact``): a run's export leaves them out too."""
    out: set[str] = set()
    try:
        with Session(engine) as s:
            for start in range(0, len(lead_keys), 500):
                chunk = lead_keys[start:start + 500]
                out.update(s.exec(select(LeadCurrent.lead_key).where(
                    LeadCurrent.lead_key.in_(chunk), LeadCurrent.status == OPTED_OUT)).all())  # type: ignore[attr-defined]
    except VaultMissing:  # no vault yet: nobody has opted out
        return set()
    return out
