"""What the ranker knows of a lead, encoded reproducibly as a numeric matrix.

A lead's facts come from the pipeline's own records (the latest v1 score with its cleaned lead,
the enrichment and the v2 score); :func:`feature_row` turns them into named values: one-hot
``name=value`` columns (activity code and its 2/3/4-digit prefixes, size, legal nature, region and
city, age and capital bands, technologies, socials, score reasons, flags) and a few numbers (age,
capital, contact counts, scores), each scaled to about 0..2 by a fixed transform (no learned scaling).
:class:`FeatureSpace` fixes the columns from training rows (sorted names seen at least
``min_count`` times, at most ``max_columns`` by frequency): the same rows give the same space
and the same matrix, whatever order the leads came in.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np

from shared.schemas import Enrichment, FinalScore, ScoredLead

MIN_COUNT = 2
MAX_COLUMNS = 160


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """Everything the ranker reads about one lead (any part may be missing)."""

    lead_key: str
    scored: ScoredLead | None = None
    enrichment: Enrichment | None = None
    final: FinalScore | None = None

    @property
    def icp_score(self) -> float:
        """The hand-set ICP score (v2 when the lead was enriched, else v1), 0..100."""
        if self.final is not None:
            return float(self.final.score)
        return float(self.scored.score) if self.scored is not None else 0.0


@lru_cache(maxsize=4096)
def _activity_names(activity_main: str | None) -> tuple[str, ...]:
    """``act=<code>`` and its 2, 3 and 4-character prefixes."""
    code = "".join(c for c in (activity_main or "") if c.isalnum())
    if not code:
        return ()
    return (f"act={code}", *(f"act{n}={code[:n]}" for n in (2, 3, 4) if len(code) > n))


@lru_cache(maxsize=16384)
def _age(opened_on: str | None, as_of: date) -> tuple[float, float, str] | None:
    if not opened_on:
        return None
    try:
        opened = date.fromisoformat(opened_on[:10])
    except ValueError:
        return None
    years = max(0.0, (as_of - opened).days / 365.25)
    band = next(f"age_band={low}+" for low in (40, 20, 12, 6, 3, 1, 0) if years >= low)
    return min(years, 60.0) / 20, math.log1p(years) / 3, band


@lru_cache(maxsize=4096)
def _capital(capital: float) -> tuple[float, str]:
    """The capital's log, and its band (a power of ten; the upper half of each decade apart)."""
    log = math.log10(capital) if capital >= 1 else 0.0
    return math.log1p(capital) / 10, f"capital_band={int(log * 2) / 2:.1f}"


@lru_cache(maxsize=4096)
def _tech_names(name: str, categories: tuple[str, ...]) -> tuple[str, ...]:
    return (f"tech={name}", *(f"techcat={c.strip().lower()}" for c in categories))


@lru_cache(maxsize=4096)
def _named(prefix: str, value: str) -> str:
    return f"{prefix}={value}"


def feature_row(facts: LeadFacts, as_of: date) -> dict[str, float]:
    """The lead's named feature values (absent one-hot columns are zeros)."""
    row: dict[str, float] = {}
    scored, final = facts.scored, facts.final
    if scored is not None:
        lead = scored.lead
        company = lead.company
        for name in _activity_names(company.activity_main):
            row[name] = 1.0
        row["n_secondary"] = min(len(company.activities_secondary), 10) / 5
        if company.size:
            row[_named("size", company.size.strip())] = 1.0
        if company.legal_nature:
            row[_named("nature", company.legal_nature.strip())] = 1.0
        age = _age(company.opened_on, as_of)
        if age is not None:
            row["age"], row["age_log"], band = age
            row[band] = 1.0
        if company.capital is not None and company.capital >= 0:
            row["capital_log"], band = _capital(company.capital)
            row[band] = 1.0
        address = company.address
        if address.state:
            row[_named("region", f"{company.country}-{address.state.strip().upper()}")] = 1.0
        if address.city:
            row[_named("city", f"{company.country}-{address.city.strip().upper()}")] = 1.0
        if company.simples:
            row["simples"] = 1.0
        if company.head_office is False:
            row["branch"] = 1.0
        row["n_partners"] = min(len(company.partners), 10) / 5
        if company.website:
            row["registry_site"] = 1.0
        # contact quality
        phones, emails = lead.phones, lead.emails
        row["n_phones"] = min(len(phones), 5) / 2
        row["n_emails"] = min(len(emails), 5) / 2
        for p in phones:
            if p.kind == "mobile":
                row["phone_mobile"] = 1.0
            if p.whatsapp:
                row["phone_whatsapp"] = 1.0
            if p.shared_count > 1:
                row["phone_shared"] = 1.0
        for e in emails:
            if not e.free_mail:
                row["email_corporate"] = 1.0
            if e.role:
                row["email_role"] = 1.0
        if emails and "email_corporate" not in row:
            row["email_free_only"] = 1.0
        for flag in lead.flags:
            row[_named("flag", flag.code)] = 1.0
        row["score_v1"] = scored.score / 100
        for reason in scored.reasons:
            row[_named("reason", reason.code)] = 1.0
    enrichment = facts.enrichment
    if enrichment is not None:
        row[_named("enrich", enrichment.status)] = 1.0
        if enrichment.site:
            row["site"] = 1.0
        if enrichment.verified:
            row["site_verified"] = 1.0
        row["site_confidence"] = float(enrichment.confidence)
        row["site_emails"] = min(len(enrichment.emails), 5) / 2
        row["site_phones"] = min(len(enrichment.phones), 5) / 2
        if enrichment.whatsapp:
            row["site_whatsapp"] = 1.0
        if enrichment.google_maps_url:
            row["maps"] = 1.0
        for network in enrichment.socials:
            row[_named("social", network)] = 1.0
        row["n_socials"] = min(len(enrichment.socials), 5) / 2
        for tech in enrichment.technologies:
            for name in _tech_names(tech.name, tuple(tech.categories)):
                row[name] = 1.0
        row["n_tech"] = min(len(enrichment.technologies), 20) / 10
    if final is not None:
        row["score_v2"] = final.score / 100
        for reason in final.reasons:
            row[_named("reason", reason.code)] = 1.0
    return row


@dataclass(frozen=True)
class FeatureSpace:
    """The matrix's columns, in a fixed order."""

    columns: tuple[str, ...]

    @classmethod
    def fit(cls, rows: Iterable[dict[str, float]], *, min_count: int = MIN_COUNT,
            max_columns: int = MAX_COLUMNS) -> FeatureSpace:
        seen: Counter[str] = Counter()
        for row in rows:
            seen.update(name for name, value in row.items() if value != 0.0)
        kept = [name for name, n in seen.items() if n >= min_count]
        if len(kept) > max_columns:  # the most frequent, ties by name
            kept = sorted(kept, key=lambda name: (-seen[name], name))[:max_columns]
        return cls(tuple(sorted(kept)))

    def matrix(self, rows: Sequence[dict[str, float]]) -> np.ndarray:
        """Rows as a float64 matrix over these columns (unknown names are dropped)."""
        index = {name: j for j, name in enumerate(self.columns)}
        out = np.zeros((len(rows), len(self.columns)), dtype=np.float64)
        for i, row in enumerate(rows):
            line = out[i]
            for name, value in row.items():
                j = index.get(name)
                if j is not None:
                    line[j] = value
        return out
