"""Over the demo web farm on loopback: no lead takes a directory site (the farm's two registry directories
come up in search results for the companies they list) as its own, nor the directory's e-mail."""

from __future__ import annotations

import json

from hunter.demo.sample_data import DATA_DIR, DIRECTORY_DOMAIN, DIRECTORY_DOMAIN_2
from tests.demo_leads import demo_scored, enrich_over_farm

DIRECTORY_HOSTS = {DIRECTORY_DOMAIN, DIRECTORY_DOMAIN_2}


def _listed_in_search_results() -> set[str]:
    """CNPJs whose search results include a directory page."""
    index = json.loads((DATA_DIR / "search_index.json").read_text(encoding="utf-8"))
    return {entry["cnpj"] for entry in index.values()
            if any(host in r["link"] for r in entry["results"] for host in DIRECTORY_HOSTS)}


async def test_no_lead_is_verified_by_a_directory_site_nor_gets_its_email(tmp_path) -> None:
    listed = _listed_in_search_results()
    leads = [s for s in demo_scored() if s.lead.company.registry_id in listed]
    assert len(leads) >= 30  # the farm's directories do come up for many leads
    enrichments = await enrich_over_farm(leads, tmp_path)
    assert sum(e.verified for e in enrichments) >= 10  # the companies' own sites are still found
    taken = [(e.lead_key, e.domain) for e in enrichments if (e.domain or "") in DIRECTORY_HOSTS]
    assert not taken
    emails = [(e.lead_key, m) for e in enrichments for m in e.emails if m.split("@")[-1] in DIRECTORY_HOSTS]
    assert not emails
