"""Scorer: v1 over a whole cleaned run (ranks, top X% to enrichment, and every other lead whose
enrichment the vault holds within its TTL, to be reused without a fetch), v2 per enriched lead.

A run's ICP is resolved when v1 starts: the latest saved profile of that name on
``icp.saved.<name>`` (IcpProfileSaved), else a file or shipped template; v2 of the same run reuses
it (per process). The run's rescoring is complete when the stream holds as many ``lead.rescored.<run>`` events
as leads sent to enrichment; the count is read from the stream, so replicas and restarts
agree on it.

v1 scores each ``lead.cleaned`` batch as the cleaner publishes it (``batch_prefetch``); the step's
handler ranks the whole run and writes each cleaned lead's JSON back as it read it, unencoded.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import msgspec
import yaml

from services.scorer.enrich_counts import enrichment_counts
from services.scorer.logic import RunScorer, score_v2
from services.scorer.reusable import KEYS_PER_QUESTION, reusable_leads
from services.scorer.spilled import V1Item, rank_run, scoring_spill
from services.scorer.state import RUN_CACHE_MAX, RunIcp, ScorerState
from shared.events import (
    EnrichmentRequested,
    Envelope,
    LeadEnriched,
    LeadRescored,
    RunStep,
    StageName,
    Subjects,
    subject_token,
)
from shared.gc_policy import gc_paused
from shared.run_cancellation import CancelledRuns, publish_run_cancelled
from shared.run_spill import Segment
from shared.schemas import ScoredLead
from shared.service import Ctx, Service
from shared.tracing import lead_context, tracer
from shared.wire import records
from shared.wire.batch_codec import BatchEncoder, EncodedPublisher, decode_mirror_raw, max_event_bytes
from shared.wire.batch_prefetch import BatchPrefetch

service = Service("scorer")
app = service.app
cancelled = CancelledRuns(lambda subject: service.bus.last(subject))


state = ScorerState(service.settings.icp_dir)


async def run_icp(run: str, *, refresh: bool = False) -> RunIcp:
    return await state.run_icp(service.bus, run, refresh=refresh)


async def run_scorer(run: str) -> RunScorer:
    return await state.run_scorer(service.bus, run)


V1 = list[tuple[records.CleanedLead, int, list[records.Reason]]]
Cleaned = tuple[records.LeadsCleaned, records.LeadsCleanedRaw | None]  # the batch, and its leads' JSON


def decode_cleaned(data: bytes) -> Cleaned:
    return decode_mirror_raw(data, records.LeadsCleaned, records.LeadsCleanedRaw)


# each run's scored batches: in memory up to HUNTER_SPILL_LEADS leads, else on disk
spill = scoring_spill(service.settings.data_dir / "spill", service.settings.spill_leads)


def score_batch(scorer: RunScorer, cleaned: Cleaned) -> Segment:
    """v1 of a batch's leads, with their JSON as read (written back unchanged in lead.scored), kept in the spill."""
    batch, raw = cleaned
    v1: V1 = scorer.score(batch.leads)
    raws: list[msgspec.Raw] | list[None] = raw.leads if raw is not None else [None] * len(v1)
    items: list[V1Item] = [(*item, json) for item, json in zip(v1, raws, strict=True)]
    return spill.put(batch.run_id, items)


cleaned_batches: BatchPrefetch[Cleaned, RunScorer, Segment] = BatchPrefetch(
    Subjects.LEAD_CLEANED.format(run_id="*"), records.LeadsCleaned, score_batch, context=run_scorer,
    decode=decode_cleaned,
)


@app.after_startup
async def start_prefetch() -> None:
    await cleaned_batches.start(service.bus)


@app.on_shutdown
async def stop_prefetch() -> None:
    await cleaned_batches.stop()


@service.on(Subjects.step_pattern("clean"), RunStep, durable="scorer-v1", on_dead_letter=service.fail_run("score"))
async def on_clean_step(step: RunStep, ctx: Ctx) -> None:
    if step.status in ("failed", "cancelled"):
        cleaned_batches.forget(step.run_id)
        spill.forget(step.run_id)
    if step.status != "completed":
        return
    if await cancelled(step.run_id):
        cleaned_batches.forget(step.run_id)
        spill.forget(step.run_id)
        await publish_run_cancelled(service.bus, step.run_id, stage="score", causation_id=ctx.env.event_id)
        return
    try:
        with gc_paused():  # a whole run of small acyclic objects: the cyclic GC's passes would triple the time
            await score_run(step.run_id, ctx.env)
    finally:
        spill.forget(step.run_id)


async def publish_step(run: str, stage: StageName, status: Literal["started", "completed"],
                       counts: dict[str, int] | None = None, causation_id: str | None = None) -> None:
    """A stage's `started` or `completed` step, keyed (run, stage, status) so a redelivery republishes nothing."""
    await service.bus.publish(RunStep(run_id=run, stage=stage, status=status, counts=counts or {}),
                              key=(run, stage, status), stage=stage, causation_id=causation_id)


async def score_run(run: str, cause: Envelope) -> None:
    bus, size = service.bus, service.settings.batch_size
    await publish_step(run, "score", "started", causation_id=cause.event_id)
    try:
        icp, as_of, enrich_top = await run_icp(run, refresh=True)
    except (LookupError, ValueError, OSError, yaml.YAMLError) as exc:  # e.g. an ICP profile that does not exist
        cleaned_batches.forget(run)
        spill.forget(run)
        reason = f"ICP profile: {exc}"
        service.log.error("score_failed", run_id=run, reason=reason)
        await service.bus.publish(RunStep(run_id=run, stage="score", status="failed", message=reason),
                                  key=(run, "score", "failed"), stage="score", causation_id=cause.event_id)
        await service.bus.publish(RunStep(run_id=run, stage="run", status="failed", message=f"score: {reason}"),
                                  key=(run, "run", "failed"), stage="run", causation_id=cause.event_id)
        return
    # the run as records mirrors (msgspec), scored batch by batch as they were published (in memory or on disk)
    segments = await cleaned_batches.take(bus, Subjects.LEAD_CLEANED.format(run_id=subject_token(run)), run)
    leads_in = sum(s.count for s in segments)
    with tracer("scorer").start_as_current_span("score_v1", attributes={"run_id": run, "leads": leads_in}):
        ranking = await asyncio.to_thread(rank_run, spill, run, segments, enrich_top)
    del segments
    # leads outside the top share whose enrichment the vault holds (within the TTL) are sent too, to be
    # re-scored with it (never fetched): every lead of the run that was enriched before keeps its v2 score
    reuse_only = await reusable_leads(bus, run, ranking.unselected_keys(KEYS_PER_QUESTION), log=service.log)
    ranking.mark_reused(reuse_only)
    if ranking.on_wire:  # the same JSON, without encoding every lead again
        make: Any = lambda n, batch: records.LeadsScoredOnWire(run_id=run, batch=n, icp=icp.name, leads=batch)  # noqa: E731
    else:
        make = lambda n, batch: records.LeadsScored(run_id=run, batch=n, icp=icp.name, leads=batch)  # noqa: E731
    publisher = EncodedPublisher(bus)  # each batch published as soon as it is encoded
    encoder = BatchEncoder(make, size=size, max_bytes=max_event_bytes(bus), key=lambda n: (run, n),
                           causation_id=cause.event_id)
    for batch in ranking.scored_batches(size):
        await publisher.send(encoder.add(batch))
    await publisher.send(encoder.flush())
    await publisher.acked()
    selected = ranking.selected
    for batch in ranking.selected_batches(size):
        await bus.publish_many(
            bus.wrap(EnrichmentRequested(run_id=run, lead=records.to_model(s, ScoredLead), expected_total=selected,
                                         reuse_only=s.lead.lead_key in reuse_only),
                     key=(run, s.lead.lead_key), lead_key=s.lead.lead_key, causation_id=cause.event_id)
            for s in batch
        )
    counts = {"scored": ranking.n, "selected_for_enrichment": selected, "reused_from_vault": len(reuse_only)}
    ranking.close()
    service.log.info("score_completed", run_id=run, **counts)
    await publish_step(run, "score", "completed", counts, causation_id=cause.event_id)
    await publish_step(run, "enrich", "started", {"expected": selected}, causation_id=cause.event_id)
    if not selected:  # nothing to enrich: the enrich and rescore stages are done already
        await publish_step(run, "enrich", "completed", enrichment_counts([], 0), causation_id=cause.event_id)
        await publish_step(run, "rescore", "started", causation_id=cause.event_id)
        await publish_step(run, "rescore", "completed", {"rescored": 0, "expected": 0}, causation_id=cause.event_id)


@service.on("lead.enriched.*", LeadEnriched, durable="scorer-v2", max_workers=4)
async def on_lead_enriched(event: LeadEnriched, ctx: Ctx) -> None:
    env, run, lead = ctx.env, event.run_id, event.lead
    started = state.rescore_started
    if run not in started:  # once per process; the key dedups across replicas
        await publish_step(run, "rescore", "started", causation_id=env.event_id)
        if len(started) >= RUN_CACHE_MAX:
            started.pop(next(iter(started)))
        started[run] = None
    icp, _, _ = await run_icp(run)
    ctx = lead_context(lead.lead.trace_id) if lead.lead.trace_id else None
    with tracer("scorer").start_as_current_span("score_v2", context=ctx, attributes={"lead_key": lead.lead.lead_key}):
        final = score_v2(lead, event.enrichment, icp)
        await service.bus.publish(LeadRescored(run_id=run, final=final), key=(run, final.lead_key),
                                  lead_key=final.lead_key, causation_id=env.event_id)
    done = await service.bus.count(Subjects.LEAD_RESCORED.format(run_id=subject_token(run)))
    expected = event.expected_total
    if done >= expected:
        await publish_step(run, "enrich", "completed", await run_enrichment_counts(run, expected),
                           causation_id=env.event_id)
        await publish_step(run, "rescore", "completed", {"rescored": done, "expected": expected},
                           causation_id=env.event_id)
    elif done % max(1, expected // 20) == 0:
        await service.bus.publish(
            RunStep(run_id=run, stage="enrich", status="progress", counts={"enriched": done, "expected": expected}),
            key=(run, "enrich", "progress", done), stage="enrich",
        )


async def run_enrichment_counts(run: str, expected: int) -> dict[str, int]:
    """Counted from the stream (every replica that sees the run complete publishes the same counts)."""
    enrichments = []
    async for stored in service.bus.read(Subjects.LEAD_ENRICHED.format(run_id=subject_token(run))):
        enrichments.append(stored.event_as(LeadEnriched).enrichment)
    return enrichment_counts(enrichments, expected)
