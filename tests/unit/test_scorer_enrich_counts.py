from services.scorer.enrich_counts import enrichment_counts
from shared.schemas import Enrichment


def test_enrich_counts_take_each_lead_once_by_its_last_outcome_and_count_reuse() -> None:
    counts = enrichment_counts([
        Enrichment(lead_key="a", status="error"),
        Enrichment(lead_key="a", status="ok", reused=True),  # redelivered after the dedup window
        Enrichment(lead_key="b", status="no_site"),
        Enrichment(lead_key="c", status="skipped", error="run cancelled"),
    ], expected=4)
    assert counts == {"enriched": 3, "expected": 4, "ok": 1, "no_site": 1, "error": 0, "budget_exceeded": 0,
                      "skipped": 1, "reused": 1}


def test_enrich_counts_of_a_run_with_nothing_to_enrich_are_all_zero() -> None:
    assert set(enrichment_counts([], 0).values()) == {0}
