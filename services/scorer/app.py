"""Scorer: v1 over a whole cleaned run (ranks, top X% to enrichment), v2 per enriched lead.

A run's ICP is resolved when v1 starts: the latest saved profile of that name on
``icp.saved.<name>`` (IcpProfileSaved), else a file or shipped template; v2 of the same run reuses
it (per process). The run's rescoring is complete when the stream holds as many ``lead.rescored.<run>`` events
as leads sent to enrichment; the count is read from the stream, so replicas and restarts
agree on it.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Literal

from faststream.nats import NatsMessage

from services.cleaner import records
from services.cleaner.batch_codec import encode_batches, max_event_bytes, publish_encoded, read_batches
from services.cleaner.logic import gc_paused
from services.scorer.enrich_counts import enrichment_counts
from services.scorer.icp import IcpProfile
from services.scorer.icp_profiles import is_profile_name, resolve_icp, saved_subject
from services.scorer.logic import score_leads, score_v2
from shared.events import (
    EnrichmentRequested,
    Envelope,
    IcpProfileSaved,
    LeadEnriched,
    LeadRescored,
    RunStep,
    StageName,
    Subjects,
    decode_event,
    subject_token,
)
from shared.run_cancellation import CancelledRuns, publish_run_cancelled
from shared.schemas import ScoredLead
from shared.service import Service
from shared.tracing import lead_context, tracer

service = Service("scorer")
app = service.app
RunIcp = tuple[IcpProfile, date, float]
_icp_cache: dict[tuple[str, int], IcpProfile] = {}  # (name, seq of the saved event or 0) -> profile
_run_cache: dict[str, RunIcp] = {}
_RUN_CACHE_MAX = 256
_rescore_started: dict[str, None] = {}  # runs whose rescore `started` step this process has published
cancelled = CancelledRuns(lambda subject: service.bus.last(subject))


async def resolve_run_icp(name: str | None) -> IcpProfile:
    """A saved profile of that name (latest IcpProfileSaved) wins over files and templates."""
    saved = await service.bus.last(saved_subject(name.strip())) if name and is_profile_name(name) else None
    key = (name or "", saved.seq if saved else 0)
    if key not in _icp_cache:
        event = saved.event() if saved else None
        assert event is None or isinstance(event, IcpProfileSaved)
        _icp_cache[key] = resolve_icp(name, event, service.settings.icp_dir)
    return _icp_cache[key]


async def run_icp(run: str, *, refresh: bool = False) -> RunIcp:
    """The run's ICP profile, its reference date (when it was requested) and enrich-top."""
    if not refresh and run in _run_cache:
        return _run_cache[run]
    stored = await service.bus.last(Subjects.RUN_REQUESTED.format(run_id=subject_token(run)))
    if stored is None:
        raise ValueError(f"run {run} has no run.requested event")
    request = stored.event()
    icp = await resolve_run_icp(getattr(request, "icp", None))
    if len(_run_cache) >= _RUN_CACHE_MAX:
        _run_cache.pop(next(iter(_run_cache)))
    _run_cache[run] = (icp, stored.envelope.occurred_at.date(), float(getattr(request, "enrich_top", 0.2)))
    return _run_cache[run]


@service.subscriber(Subjects.step_pattern("clean"), durable="scorer-v1")
async def on_clean_step(env: Envelope, msg: NatsMessage) -> None:
    step = decode_event(env)
    assert isinstance(step, RunStep)
    if step.status != "completed":
        return
    if await cancelled(step.run_id):
        await publish_run_cancelled(service.bus, step.run_id, stage="score", causation_id=env.event_id)
        return
    with gc_paused():  # a whole run of small acyclic objects: the cyclic GC's passes would triple the time
        await score_run(step.run_id, env)


async def publish_step(run: str, stage: StageName, status: Literal["started", "completed"],
                       counts: dict[str, int] | None = None, causation_id: str | None = None) -> None:
    """A stage's `started` or `completed` step, keyed (run, stage, status) so a redelivery republishes nothing."""
    await service.bus.publish(RunStep(run_id=run, stage=stage, status=status, counts=counts or {}),
                              key=(run, stage, status), stage=stage, causation_id=causation_id)


async def score_run(run: str, cause: Envelope) -> None:
    bus, size = service.bus, service.settings.batch_size
    await publish_step(run, "score", "started", causation_id=cause.event_id)
    icp, as_of, enrich_top = await run_icp(run, refresh=True)
    # the run as records mirrors (msgspec): decoded, scored and encoded without pydantic
    batches = await read_batches(bus, Subjects.LEAD_CLEANED.format(run_id=subject_token(run)), records.LeadsCleaned)
    leads = [lead for batch in batches for lead in batch.leads]
    del batches
    with tracer("scorer").start_as_current_span("score_v1", attributes={"run_id": run, "leads": len(leads)}):
        scored = await asyncio.to_thread(score_leads, leads, icp, as_of, enrich_top)
    await publish_encoded(bus, encode_batches(
        scored, lambda n, batch: records.LeadsScored(run_id=run, batch=n, icp=icp.name, leads=batch),
        size=size, max_bytes=max_event_bytes(bus), key=lambda n: (run, n), causation_id=cause.event_id,
    ))
    selected = [s for s in scored if s.enrich]
    await bus.publish_many(
        bus.wrap(EnrichmentRequested(run_id=run, lead=records.to_model(s, ScoredLead), expected_total=len(selected)),
                 key=(run, s.lead.lead_key), lead_key=s.lead.lead_key, causation_id=cause.event_id)
        for s in selected
    )
    counts = {"scored": len(scored), "selected_for_enrichment": len(selected)}
    service.log.info("score_completed", run_id=run, **counts)
    await publish_step(run, "score", "completed", counts, causation_id=cause.event_id)
    await publish_step(run, "enrich", "started", {"expected": len(selected)}, causation_id=cause.event_id)
    if not selected:  # nothing to enrich: the enrich and rescore stages are done already
        await publish_step(run, "enrich", "completed", enrichment_counts([], 0), causation_id=cause.event_id)
        await publish_step(run, "rescore", "started", causation_id=cause.event_id)
        await publish_step(run, "rescore", "completed", {"rescored": 0, "expected": 0}, causation_id=cause.event_id)


@service.subscriber("lead.enriched.*", durable="scorer-v2", max_workers=4)
async def on_lead_enriched(env: Envelope, msg: NatsMessage) -> None:
    event = decode_event(env)
    assert isinstance(event, LeadEnriched)
    run, lead = event.run_id, event.lead
    if run not in _rescore_started:  # once per process; the key dedups across replicas
        await publish_step(run, "rescore", "started", causation_id=env.event_id)
        if len(_rescore_started) >= _RUN_CACHE_MAX:
            _rescore_started.pop(next(iter(_rescore_started)))
        _rescore_started[run] = None
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
        event = stored.event()
        assert isinstance(event, LeadEnriched)
        enrichments.append(event.enrichment)
    return enrichment_counts(enrichments, expected)
