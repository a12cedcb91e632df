"""The *next leads* list: exploitation mixed with exploration by Thompson sampling.

Each segment (activity division and size, see :func:`segment_of`) has a Beta posterior over its
reply rate, Beta(1 + positives, 1 + negatives) from the outcomes so far. Of ``n`` places,
``round(n * explore_share)`` are explored: for each, one draw per segment still holding candidates,
and the segment with the highest draw gives its best lead by propensity. The other places go to
the highest propensities. Seeded: the same inputs and seed give the same list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from services.ranker.features import LeadFacts

DEFAULT_EXPLORE_SHARE = 0.2


def segment_of(facts: LeadFacts) -> str:
    """Activity division (2 digits) and size: coarse enough to gather outcomes per segment."""
    if facts.scored is None:
        return "unknown"
    company = facts.scored.lead.company
    code = "".join(c for c in (company.activity_main or "") if c.isalnum())[:2] or "?"
    return f"{code}/{(company.size or '?').strip()}"


@dataclass(frozen=True, slots=True)
class Pick:
    lead_key: str
    propensity: float
    explored: bool
    segment: str


def next_leads(candidates: Sequence[tuple[str, float, str]], outcomes: Mapping[str, tuple[int, int]], n: int, *,
               explore_share: float = DEFAULT_EXPLORE_SHARE, seed: int = 0) -> list[Pick]:
    """``candidates``: (lead_key, propensity, segment) of open leads; ``outcomes``: segment -> (positives,
    negatives). Returns up to ``n`` picks, best first, each saying whether it was explored."""
    if not 0.0 <= explore_share <= 1.0:
        raise ValueError("explore_share must be within 0..1")
    ranked = sorted(candidates, key=lambda c: (-c[1], c[0]))
    n = min(n, len(ranked))
    n_explore = round(n * explore_share)
    by_segment: dict[str, list[tuple[str, float, str]]] = {}
    for c in ranked:
        by_segment.setdefault(c[2], []).append(c)
    rng = np.random.default_rng(seed)
    taken: set[str] = set()
    explored: list[Pick] = []
    cursor = dict.fromkeys(by_segment, 0)
    for _ in range(n_explore):
        open_segments = sorted(s for s in by_segment if cursor[s] < len(by_segment[s]))
        if not open_segments:
            break
        draws = [rng.beta(1 + outcomes.get(s, (0, 0))[0], 1 + outcomes.get(s, (0, 0))[1]) for s in open_segments]
        segment = open_segments[int(np.argmax(draws))]
        key, p, _ = by_segment[segment][cursor[segment]]
        cursor[segment] += 1
        taken.add(key)
        explored.append(Pick(key, p, True, segment))
    exploited = [Pick(k, p, False, s) for k, p, s in ranked if k not in taken][: n - len(explored)]
    # exploited first (best propensity), explored places interleaved evenly among them
    out: list[Pick] = []
    step = (len(exploited) + len(explored)) / max(1, len(explored))
    ei = 0
    for i in range(len(exploited) + len(explored)):
        if ei < len(explored) and i >= round(step * ei + step - 1):
            out.append(explored[ei])
            ei += 1
        elif exploited:
            out.append(exploited.pop(0))
        else:
            out.append(explored[ei])
            ei += 1
    return out
