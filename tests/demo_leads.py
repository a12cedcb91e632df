"""The demo's sample companies as the pipeline's pure stages make them (extract, clean, score v1), and
their enrichments over the loopback web farm: what a demo hunt computes, without the bus."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from hunter.demo.webfarm import run_webfarm
from hunter.demo_run import DEMO_CSV
from services.cleaner.logic import clean_run
from services.enricher.logic import Enricher
from services.extractor.sources.csv_source import iter_csv
from services.scorer.logic import score_leads
from shared.config import Settings
from shared.domain.icp import IcpProfile
from shared.domain.icp_profiles import resolve_icp
from shared.events import RunFilters
from shared.schemas import CompanyRecord, Enrichment, ScoredLead

AS_OF = date(2026, 11, 1)


def demo_icp() -> IcpProfile:
    return resolve_icp(None, None)  # the default template, as a demo hunt uses


def demo_scored(enrich_top: float = 1.0) -> list[ScoredLead]:
    """The demo sample's leads scored v1 and ranked (``enrich_top`` of them marked for enrichment)."""
    records = [r for r in iter_csv(DEMO_CSV, RunFilters()) if isinstance(r, CompanyRecord)]
    return score_leads(clean_run(records).leads, demo_icp(), AS_OF, enrich_top)


def farm_settings(farm, data_dir: Path, **kw: object) -> Settings:
    env: dict[str, object] = {
        "HUNTER_HTTP_PROXY": farm.proxy_url, "SEARCH_BASE_URL": farm.search_base_url, "SERPER_API_KEY": "k",
        "FETCH_SCHEMES": "http", "HUNTER_DATA_DIR": str(data_dir), "CACHE_TTL_HOURS": 0,
        "ENRICHER_PAGE_WORKERS": 0,
    }
    env.update(kw)
    return Settings(**env)


async def enrich_over_farm(leads: list[ScoredLead], data_dir: Path) -> list[Enrichment]:
    """Each lead enriched by the real Enricher from the demo web farm on loopback."""
    async with run_webfarm() as farm, Enricher(farm_settings(farm, data_dir)) as enricher:
        outcomes = await asyncio.gather(*(enricher.enrich(lead, run_id="demo") for lead in leads))
    return [o.enrichment for o in outcomes]
