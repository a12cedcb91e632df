"""The seam of the scorer's run-level pass: a run's ranking read from disk (threshold 0) gives the same
ranks, top share, buckets, reused leads and JSON as the same run ranked in memory."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest

from services.cleaner.logic import clean_run
from services.scorer.logic import RunScorer
from services.scorer.spilled import SpilledRanking, rank_run, scoring_spill, selected_count
from shared.domain.icp import load_icp
from tests.unit.test_cleaner_spilled import varied_run

JSON = msgspec.json.Encoder()


def leads(n: int, seed: int) -> list[Any]:
    return clean_run(varied_run(n, seed)).leads


def rank_both(tmp_path: Path, cleaned: list[Any], *, enrich_top: float, reused: set[str], batch: int = 30,
              raw: bool = True) -> list[Any]:
    scorer = RunScorer(load_icp(None), date(2026, 11, 1))
    out = []
    for threshold in (10**9, 0):
        store = scoring_spill(tmp_path, threshold)
        segments = []
        for start in range(0, len(cleaned), batch):
            chunk = cleaned[start:start + batch]
            raws = [msgspec.Raw(JSON.encode(lead)) if raw or start else None for lead in chunk]
            segments.append(store.put("r1", [(*item, json) for item, json in zip(scorer.score(chunk), raws,
                                                                                  strict=True)]))
        ranking = rank_run(store, "r1", segments, enrich_top)
        assert isinstance(ranking, SpilledRanking) is (threshold == 0 and bool(cleaned))
        unselected = [key for chunk in ranking.unselected_keys(7) for key in chunk]
        ranking.mark_reused({k for k in unselected if k in reused})
        scored = [JSON.encode(s) for chunk in ranking.scored_batches(11) for s in chunk]
        selected = [JSON.encode(s) for chunk in ranking.selected_batches(11) for s in chunk]
        out.append((ranking.n, ranking.selected, unselected, scored, selected))
        ranking.close()
        store.close("r1")
    return out


@pytest.mark.parametrize(("enrich_top", "raw"), [(0.0, True), (0.2, True), (1.0, True), (0.35, False)])
def test_a_spilled_run_ranks_exactly_as_in_memory(tmp_path: Path, enrich_top: float, raw: bool) -> None:
    cleaned = leads(1500, 4)
    reused = {lead.lead_key for lead in cleaned[::9]}
    memory, spilled = rank_both(tmp_path, cleaned, enrich_top=enrich_top, reused=reused, raw=raw)
    n, selected, unselected, scored, _ = memory
    assert n == len(cleaned) and len(scored) == n
    assert len(unselected) == n - selected_count(n, enrich_top)
    assert selected == selected_count(n, enrich_top) + len(reused & set(unselected))
    assert len({msgspec.json.decode(s)["score"] for s in scored}) < n / 2  # many ties, ordered by key
    assert spilled == memory


def test_equal_scores_and_keys_keep_the_run_order_and_an_empty_run_ranks(tmp_path: Path) -> None:
    cleaned = leads(60, 5)
    twice = cleaned + cleaned[:10]  # a key seen twice (never from the cleaner, still ordered alike)
    memory, spilled = rank_both(tmp_path, twice, enrich_top=0.5, reused=set(), batch=8)
    assert spilled == memory
    memory, spilled = rank_both(tmp_path, [], enrich_top=0.5, reused=set())
    assert spilled == memory
