"""The enrich stage's closing counts, from the run's ``lead.enriched`` events."""

from __future__ import annotations

from collections.abc import Iterable

from shared.schemas import Enrichment

OUTCOMES = ("ok", "no_site", "error", "budget_exceeded", "skipped")


def enrichment_counts(enrichments: Iterable[Enrichment], expected: int) -> dict[str, int]:
    """Leads enriched (one per lead key: a redelivered lead counts once, its last event wins), how many
    were expected, how many of each outcome and how many were reused from the vault."""
    latest = {e.lead_key: e for e in enrichments}
    counts = {"enriched": len(latest), "expected": expected, **dict.fromkeys(OUTCOMES, 0), "reused": 0}
    for e in latest.values():
        counts[e.status] += 1
        counts["reused"] += int(e.reused)
    return counts
