"""The demo's final scores separate the top: the sample's leads, v1, the top half enriched from the loopback
web farm (as ``hunter demo`` does), v2; no more than 2% of the run share the top score."""

from __future__ import annotations

from collections import Counter

from services.scorer.logic import score_v2
from tests.demo_leads import demo_icp, demo_scored, enrich_over_farm


async def test_no_more_than_2_percent_of_the_demo_leads_share_the_top_score(tmp_path) -> None:
    scored = demo_scored(enrich_top=0.5)
    selected = [s for s in scored if s.enrich]
    enrichments = await enrich_over_farm(selected, tmp_path)
    icp = demo_icp()
    final = {s.lead.lead_key: s.score for s in scored}
    final.update({s.lead.lead_key: score_v2(s, e, icp).score for s, e in zip(selected, enrichments, strict=True)})
    counts = Counter(final.values())
    top = max(counts)
    assert len(final) == 250 and top >= 90
    assert counts[top] <= 0.02 * len(final), sorted(counts.items())[-6:]
    assert sum(n for score, n in counts.items() if score >= 90) >= 20  # the top is spread, not emptied
