"""A run's v1 ranking, in memory or from disk: the same ranks, top share, buckets and JSON either way.

The scorer scores each ``lead.cleaned`` batch as it is published and hands the scored leads to a
``shared.run_spill.RunSpill`` (``scoring_spill``): each item is ``(lead, score, reasons, json)``,
``json`` the cleaned lead's JSON as it was read (None when the batch went the pydantic way). A run
over the store's threshold is kept as rows ``v1(nscore, key, seg, idx, lead, reasons)`` (each lead's JSON
and its reasons' JSON), clustered by (-score, lead_key): the order ``_ranked``'s two stable sorts give,
so ranking is reading the table in order. The cleaner publishes its leads in lead_key order, so each
score's rows are appended at the end of that score's range: writing them is cheap too.

:func:`rank_run` gives the run's ranking as one interface whichever way it was kept:
``unselected_keys`` (the leads outside the top share, for the vault-reuse question, in rank order),
``mark_reused``, ``scored_batches`` (the ``lead.scored`` items in rank order, batch by batch) and
``selected_batches`` (the leads sent to enrichment, in rank order). :class:`MemoryRanking` is the
plain path (``RunScorer.rank`` over the whole run); :class:`SpilledRanking` reads the table in order
a batch at a time, so its memory does not grow with the run, and writes each lead and its reasons
back as the JSON it stored (never decoded: ``_ScoredOnWire``).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from services.scorer.logic import _BUCKETS, RunScorer, bucket_for
from shared.run_spill import Rows, RunSpill, Segment
from shared.wire import records

# one scored lead as the prefetch keeps it: (lead, score, reasons, its JSON as read or None)
V1Item = tuple[Any, int, list[Any], Any]
SCHEMA = ("CREATE TABLE v1 (nscore INTEGER, key TEXT, seg INTEGER, idx INTEGER, lead BLOB, reasons BLOB,"
          " PRIMARY KEY (nscore, key, seg, idx)) WITHOUT ROWID",)


class _ScoredOnWire(msgspec.Struct, kw_only=True, gc=False):
    """``records.ScoredLeadOnWire`` with its reasons as their JSON too: the same fields in the same order,
    so the same JSON."""

    lead: msgspec.Raw
    score: int
    reasons: msgspec.Raw
    rank: int = 0
    enrich: bool = False
    bucket: str | None = None

    @property
    def lead_key(self) -> str:
        return _DECODE_LEAD(self.lead).lead_key


_JSON = msgspec.json.Encoder().encode
_DECODE_LEAD = msgspec.json.Decoder(records.CleanedLead).decode
_DECODE_REASONS = msgspec.json.Decoder(list[records.Reason]).decode


def spill_rows(seg: int, items: list[V1Item]) -> Rows:
    return {"v1": [(-score, lead.lead_key, seg, idx, bytes(raw) if raw is not None else _JSON(lead), _JSON(reasons))
                   for idx, (lead, score, reasons, raw) in enumerate(items)]}


def scoring_spill(directory: Any, threshold: int) -> RunSpill[V1Item]:
    """The store a scorer keeps its runs' scored batches in."""
    return RunSpill(directory, threshold, SCHEMA, spill_rows)


def selected_count(n: int, enrich_top: float) -> int:
    """How many of ``n`` leads the top share ``enrich_top`` selects (as ``logic._ranked``)."""
    if enrich_top <= 0:
        return 0
    if enrich_top >= 1:
        return n
    return min(n, math.ceil(enrich_top * n - 1e-9))


def rank_run(store: RunSpill[V1Item], run: str, segments: Sequence[Segment],
             enrich_top: float) -> MemoryRanking | SpilledRanking:
    """The run's ranking (see the module docstring); call in a worker thread (a whole run is sorted)."""
    if store.spilled(run):
        return SpilledRanking(store.open(run, segments), sum(s.count for s in segments), enrich_top)
    return MemoryRanking(store.take_items(run, segments), enrich_top)


class MemoryRanking:
    """The whole run in memory: ``RunScorer.rank``, then each lead's JSON written back as read."""

    def __init__(self, items: list[V1Item], enrich_top: float) -> None:
        self.scored = RunScorer.rank([(lead, score, reasons) for lead, score, reasons, _ in items], enrich_top)
        # each lead's JSON as the cleaner wrote it, when every batch was read as it stands
        self._raws = None if any(raw is None for *_, raw in items) else {id(item[0]): item[3] for item in items}
        self.on_wire = self._raws is not None
        self.n = len(self.scored)
        self.selected = sum(1 for s in self.scored if s.enrich)

    def unselected_keys(self, size: int) -> Iterator[list[str]]:
        keys = [s.lead.lead_key for s in self.scored if not s.enrich]
        yield keys

    def mark_reused(self, reused: set[str]) -> None:
        for s in self.scored:
            if s.lead.lead_key in reused:
                s.enrich = True
        self.selected = sum(1 for s in self.scored if s.enrich)

    def scored_batches(self, size: int) -> Iterator[list[Any]]:
        scored, raws = self.scored, self._raws
        for start in range(0, len(scored), size):
            chunk = scored[start:start + size]
            if raws is None:
                yield chunk
            else:  # the same JSON, without encoding every lead again
                yield [records.ScoredLeadOnWire(lead=raws[id(s.lead)], score=s.score, reasons=s.reasons, rank=s.rank,
                                                enrich=s.enrich, bucket=s.bucket) for s in chunk]

    def selected_batches(self, size: int) -> Iterator[list[Any]]:
        selected = [s for s in self.scored if s.enrich]
        for start in range(0, len(selected), size):
            yield selected[start:start + size]

    def close(self) -> None:
        self.scored, self._raws = [], None


class SpilledRanking:
    """The run's rows read in rank order through an index (see the module docstring)."""

    on_wire = True  # every lead is written back as its JSON (as read, or as the mirror encodes it: the same)

    def __init__(self, db: sqlite3.Connection, n: int, enrich_top: float) -> None:
        self.db, self.n = db, n  # the table holds the run's segments, ``n`` rows
        self.top = selected_count(self.n, enrich_top)
        self.reused: set[str] = set()
        self.selected = self.top

    def _ranked(self, columns: str, offset: int = 0) -> Iterator[tuple[Any, ...]]:
        """Rows in rank order; equal (score, key) rows (a key seen twice) in the run's order."""
        cursor = self.db.cursor().execute(
            f"SELECT -v1.nscore, v1.key, s.rank, v1.idx, {columns} FROM v1 JOIN segs s ON s.seg = v1.seg"
            " ORDER BY v1.nscore, v1.key LIMIT -1 OFFSET ?", (offset,))
        pending: list[tuple[Any, ...]] = []
        while chunk := cursor.fetchmany(1000):
            for row in chunk:
                if pending and pending[-1][:2] != row[:2]:
                    yield from sorted(pending, key=lambda r: (r[2], r[3])) if len(pending) > 1 else pending
                    pending = []
                pending.append(row)
        yield from sorted(pending, key=lambda r: (r[2], r[3])) if len(pending) > 1 else pending

    def unselected_keys(self, size: int) -> Iterator[list[str]]:
        chunk: list[str] = []
        for row in self._ranked("1", self.top):
            chunk.append(row[1])
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def mark_reused(self, reused: set[str]) -> None:
        self.reused = reused
        self.selected = self.top + len(reused)

    def _items(self) -> Iterator[tuple[int, bool, int, bytes, bytes]]:
        top, reused = self.top, self.reused
        for i, (score, key, _, _, lead, reasons) in enumerate(self._ranked("v1.lead, v1.reasons")):
            yield i + 1, i < top or key in reused, score, lead, reasons

    def scored_batches(self, size: int) -> Iterator[list[Any]]:
        chunk = []
        for rank, enrich, score, lead, reasons in self._items():
            chunk.append(_ScoredOnWire(
                lead=msgspec.Raw(lead), score=score, reasons=msgspec.Raw(reasons), rank=rank, enrich=enrich,
                bucket=_BUCKETS[score] if 0 <= score <= 100 else bucket_for(score)))
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def selected_batches(self, size: int) -> Iterator[list[Any]]:
        chunk = []
        for rank, enrich, score, lead, reasons in self._items():
            if not enrich:
                if rank > self.top and not self.reused:
                    break
                continue
            chunk.append(records.ScoredLead(
                lead=_DECODE_LEAD(lead), score=score, reasons=_DECODE_REASONS(reasons), rank=rank, enrich=True,
                bucket=_BUCKETS[score] if 0 <= score <= 100 else bucket_for(score)))
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def close(self) -> None:
        pass
