"""The rule-based qualifier on the demo's leads as a demo hunt makes them: scored, then enriched by the
real enricher from the loopback web farm. Every field is in its bounds, the site's words and technologies
become pain signals and tags, a lead without a site gets none, the snapshot holds the lead's facts, and
the leads read as needing most answer more often in the demo world's hidden propensity."""

from __future__ import annotations

import statistics
from pathlib import Path

from hunter.demo.outcomes import bundled_propensities
from services.qualifier.qualifying import lead_facts, qualify
from tests.demo_leads import AS_OF, demo_icp, demo_scored, enrich_over_farm


async def test_demo_leads_are_qualified_from_their_sites_and_registry(tmp_path: Path) -> None:
    top = [lead for lead in demo_scored(0.2) if lead.enrich]
    enrichments = await enrich_over_farm(top, tmp_path)
    icp = demo_icp()
    wanted = {t.casefold() for t in icp.technologies_wanted}
    qualified = [(lead, en, qualify(lead_facts(lead, en), icp, AS_OF))
                 for lead, en in zip(top, enrichments, strict=True)]
    assert len(qualified) == 50

    with_site = [(lead, en, q) for lead, en, q in qualified if en.status == "ok" and en.verified]
    without = [(lead, en, q) for lead, en, q in qualified if en.status == "no_site"]
    assert len(with_site) >= 30 and len(without) >= 5
    for lead, en, q in qualified:
        assert 0 <= q.fit <= 50 and 0 <= q.pain <= 40 and 0 <= q.data_quality <= 10 and q.score <= 100
        company = lead.lead.company
        assert q.snapshot.startswith(company.trade_name or company.legal_name or "")
        assert (company.address.city or "").title() in q.snapshot
        uses = {t.removeprefix("uses:").casefold() for t in q.tags if t.startswith("uses:")}
        assert uses == {t.name.casefold() for t in en.technologies} & wanted if en.verified else not uses
    for _, en, q in with_site:  # (a single-page app's shell shows no text: its title and description are read)
        assert en.text_excerpt is None or len(en.text_excerpt) <= 2000 and "@context" not in en.text_excerpt
        assert f"site {en.domain}" in q.snapshot
    assert sum(bool(en.text_excerpt) for _, en, _ in with_site) >= 0.8 * len(with_site)
    assert sum("pain" in q.tags for _, _, q in with_site) >= 0.9 * len(with_site)  # "integração", "suporte"...
    for _, _, q in without:
        assert q.pain == 0 and "no-site" in q.tags and "no verified site" in q.snapshot

    hidden = bundled_propensities()
    needy = [hidden[lead.lead.company.registry_id] for lead, _, q in qualified if q.pain >= 22]
    other = [hidden[lead.lead.company.registry_id] for lead, _, q in qualified if q.pain < 22]
    assert len(needy) >= 20 and statistics.mean(needy) > statistics.mean(other)
