"""The vault filter on leads: one model shared by the list endpoint, the UI's export button and
the exporter (``ExportRequested.vault_filter``), turned into SQL conditions here.

The vault lists one row per lead (``lead_current``: a company across runs, with its latest run's
score and its funnel state). ``run_id`` narrows to the leads that run saw, still one row each and
with their current score: the score and bucket filters apply to the current values, so a filter
means the same thing with or without a run (the run's own scores are on the lead page and in the
run's export). Leads that opted out (``do_not_contact``) are left out unless
``include_do_not_contact`` or ``status=do_not_contact`` asks for them, in the list as in exports,
so a page's count is the row count of the export of its filter."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, literal_column, not_, or_, select

from shared.contracts.vocabulary import Bucket
from shared.funnel import FunnelState
from shared.vault.schema import Company, Lead, LeadCurrent
from shared.vault.search_text import search_needle

SortKey = Literal["score", "-score", "name", "-name", "city", "-city", "updated", "-updated"]
OPTED_OUT = "do_not_contact"


class LeadFilter(BaseModel):
    """Every field optional; an empty filter selects the whole vault."""

    model_config = ConfigDict(extra="forbid")
    run_id: str | None = None
    bucket: Bucket | None = None
    min_score: int | None = Field(default=None, ge=0, le=100)
    max_score: int | None = Field(default=None, ge=0, le=100)
    uf: str | None = Field(default=None, max_length=3)
    city: str | None = None
    cnae: str | None = Field(default=None, pattern=r"^[0-9A-Za-z.\-/]+$")
    has_site: bool | None = None
    has_whatsapp: bool | None = None
    technology: str | None = None
    accountant_like: bool | None = None
    status: FunnelState | None = None
    q: str | None = None
    include_do_not_contact: bool = False

    @model_validator(mode="after")
    def _score_range(self) -> LeadFilter:
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            raise ValueError("min_score is greater than max_score")
        return self

    def as_dict(self) -> dict[str, Any]:
        """The set fields only (what an ExportRequested carries)."""
        return self.model_dump(exclude_none=True, exclude_defaults=True)


def lead_conditions(f: LeadFilter) -> list[Any]:
    """SQL conditions over ``LeadCurrent`` joined with ``Company``. The free-text ``q`` is a
    ``lead_key IN (companies whose search_text matches)``, which SQLite answers from the covering
    index on ``search_text`` before touching leads; ``run_id`` a lookup in the per-run rows' key. The
    lead indexes end with the columns these conditions read (status, lead_key), so a count reads no row."""
    L = LeadCurrent  # noqa: N806
    conds: list[Any] = []
    if f.run_id:  # (EXISTS: a probe of the leads' primary key per candidate; SQLite would drive an IN from the run)
        probe = select(literal_column("1")).select_from(Lead)  # (no column: the primary key's index answers it)
        conds.append(probe.where(Lead.run_id == f.run_id, Lead.lead_key == L.lead_key).exists())
    if f.bucket:
        conds.append(L.bucket == f.bucket)
    if f.min_score is not None:
        conds.append(L.score >= f.min_score)  # type: ignore[operator]
    if f.max_score is not None:
        conds.append(L.score <= f.max_score)  # type: ignore[operator]
    if f.has_site is not None:
        conds.append(L.has_site == f.has_site)
    if f.technology:
        conds.append(func.lower(L.technologies).contains(f.technology.lower()))
    if f.status:
        conds.append(L.status == f.status)
    elif not f.include_do_not_contact:
        conds.append(L.status != OPTED_OUT)
    conds.extend(company_conditions(f))
    if f.q and (needle := search_needle(f.q)):
        matching = select(Company.lead_key).where(Company.search_text.contains(needle, autoescape=True))  # type: ignore[attr-defined]
        conds.append(L.lead_key.in_(matching))  # type: ignore[attr-defined]
    return conds


def opted_out(f: LeadFilter) -> LeadFilter | None:
    """The filter selecting the opted-out leads ``f`` leaves out (None: it leaves none out)."""
    if f.status or f.include_do_not_contact:
        return None
    return f.model_copy(update={"status": OPTED_OUT})


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
    if f.has_whatsapp is not None:  # as the list shows it: the lead's numbers, or one its site showed (any run)
        shown = or_(LeadCurrent.has_whatsapp == True, Company.site_whatsapp.is_not(None))  # type: ignore[union-attr]  # noqa: E712
        conds.append(shown if f.has_whatsapp else not_(shown))
    return conds


def needs_company(f: LeadFilter) -> bool:
    """Whether the conditions reach the companies table (else counting needs no join)."""
    return bool(company_conditions(f))


# ties end on lead_key, the primary key: pages never overlap or skip a lead
_L = LeadCurrent
SORTS: dict[str, list[Any]] = {
    "score": [_L.score.asc(), _L.lead_key],  # type: ignore[union-attr,attr-defined]
    "-score": [_L.score.desc(), _L.lead_key],  # type: ignore[union-attr,attr-defined]
    "name": [Company.legal_name.asc(), _L.lead_key],  # type: ignore[union-attr,attr-defined]
    "-name": [Company.legal_name.desc(), _L.lead_key],  # type: ignore[union-attr,attr-defined]
    "city": [Company.city.asc(), _L.lead_key],  # type: ignore[union-attr,attr-defined]
    "-city": [Company.city.desc(), _L.lead_key],  # type: ignore[union-attr,attr-defined]
    "updated": [_L.updated_at.asc(), _L.lead_key],  # type: ignore[union-attr,attr-defined]
    "-updated": [_L.updated_at.desc(), _L.lead_key],  # type: ignore[union-attr,attr-defined]
}
