"""The vault filter on leads: one model shared by the list endpoint, the UI's export button and
the exporter (``ExportRequested.vault_filter``), turned into SQL conditions here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select

from services.projector.models import Company, Lead
from services.projector.search_text import search_needle

SortKey = Literal["score", "-score", "name", "-name", "city", "-city", "updated", "-updated"]
LEAD_STATUSES = ("new", "contacted", "replied", "won", "lost")


class LeadFilter(BaseModel):
    """Every field optional; an empty filter selects the whole vault."""

    model_config = ConfigDict(extra="forbid")
    run_id: str | None = None
    bucket: Literal["hot", "warm", "nurture", "parked"] | None = None
    min_score: int | None = Field(default=None, ge=0, le=100)
    max_score: int | None = Field(default=None, ge=0, le=100)
    uf: str | None = Field(default=None, max_length=3)
    city: str | None = None
    cnae: str | None = Field(default=None, pattern=r"^[0-9A-Za-z.\-/]+$")
    has_site: bool | None = None
    has_whatsapp: bool | None = None
    technology: str | None = None
    accountant_like: bool | None = None
    status: Literal["new", "contacted", "replied", "won", "lost"] | None = None
    q: str | None = None

    @model_validator(mode="after")
    def _score_range(self) -> LeadFilter:
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            raise ValueError("min_score is greater than max_score")
        return self

    def as_dict(self) -> dict[str, Any]:
        """The set fields only (what an ExportRequested carries)."""
        return self.model_dump(exclude_none=True, exclude_defaults=True)


def lead_conditions(f: LeadFilter) -> list[Any]:
    """SQL conditions over ``Lead`` joined with ``Company``. The free-text ``q`` is a
    ``lead_key IN (companies whose search_text matches)``, which SQLite answers from the covering
    index on ``search_text`` before touching leads."""
    conds: list[Any] = []
    if f.run_id:
        conds.append(Lead.run_id == f.run_id)
    if f.bucket:
        conds.append(Lead.bucket == f.bucket)
    if f.min_score is not None:
        conds.append(Lead.score >= f.min_score)  # type: ignore[operator]
    if f.max_score is not None:
        conds.append(Lead.score <= f.max_score)  # type: ignore[operator]
    if f.has_site is not None:
        conds.append(Lead.has_site == f.has_site)
    if f.has_whatsapp is not None:
        conds.append(Lead.has_whatsapp == f.has_whatsapp)
    if f.technology:
        conds.append(func.lower(Lead.technologies).contains(f.technology.lower()))
    if f.status:
        conds.append(Lead.status == f.status)
    conds.extend(company_conditions(f))
    if f.q and (needle := search_needle(f.q)):
        matching = select(Company.lead_key).where(Company.search_text.contains(needle, autoescape=True))  # type: ignore[attr-defined]
        conds.append(Lead.lead_key.in_(matching))  # type: ignore[attr-defined]
    return conds


def company_conditions(f: LeadFilter) -> list[Any]:
    conds: list[Any] = []
    if f.uf:
        conds.append(Company.state == f.uf.upper())
    if f.city:
        conds.append(func.upper(Company.city) == f.city.strip().upper())
    if f.cnae:
        digits = "".join(c for c in f.cnae if c.isalnum())
        conds.append(Company.activity_main.startswith(digits))  # type: ignore[union-attr]
        if digits.isascii() and digits.isdigit():  # the same rows as a key range: the activity index answers it
            upper = digits[:-1] + chr(ord(digits[-1]) + 1)
            conds.append(Company.activity_main >= digits)  # type: ignore[operator]
            conds.append(Company.activity_main < upper)  # type: ignore[operator]
    if f.accountant_like is not None:
        conds.append(Company.accountant_like == f.accountant_like)
    return conds


def needs_company(f: LeadFilter) -> bool:
    """Whether the conditions reach the companies table (else counting needs no join)."""
    return bool(company_conditions(f))


# ties end on (lead_key, run_id), the lead's primary key: pages never overlap or skip a lead
SORTS: dict[str, list[Any]] = {
    "score": [Lead.score.asc(), Lead.lead_key, Lead.run_id],  # type: ignore[union-attr]
    "-score": [Lead.score.desc(), Lead.lead_key, Lead.run_id],  # type: ignore[union-attr]
    "name": [Company.legal_name.asc(), Lead.lead_key, Lead.run_id],  # type: ignore[union-attr]
    "-name": [Company.legal_name.desc(), Lead.lead_key, Lead.run_id],  # type: ignore[union-attr]
    "city": [Company.city.asc(), Lead.lead_key, Lead.run_id],  # type: ignore[union-attr]
    "-city": [Company.city.desc(), Lead.lead_key, Lead.run_id],  # type: ignore[union-attr]
    "updated": [Lead.updated_at.asc(), Lead.lead_key, Lead.run_id],  # type: ignore[union-attr]
    "-updated": [Lead.updated_at.desc(), Lead.lead_key, Lead.run_id],  # type: ignore[union-attr]
}
