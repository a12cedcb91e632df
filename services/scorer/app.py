"""Scorer: v1 over a whole cleaned run (ranks, top X% to enrichment), v2 per enriched lead.

The run's rescoring is complete when the stream holds as many ``lead.rescored.<run>`` events
as leads sent to enrichment; the count is read from the stream, so replicas and restarts
agree on it.
"""

from __future__ import annotations

import asyncio
from datetime import date

from faststream.nats import NatsMessage

from services.scorer.icp import IcpProfile, load_icp
from services.scorer.logic import bucket_for, rank_and_select, score_v1, score_v2
from shared.events import (
    EnrichmentRequested,
    Envelope,
    LeadEnriched,
    LeadRescored,
    LeadsCleaned,
    LeadsScored,
    RunStep,
    Subjects,
    decode_event,
    subject_token,
)
from shared.schemas import CleanedLead, ScoredLead
from shared.service import Service
from shared.tracing import lead_context, tracer

service = Service("scorer")
app = service.app
_icp_cache: dict[str, IcpProfile] = {}


async def run_icp(run: str) -> tuple[IcpProfile, date, float]:
    """The run's ICP profile, its reference date (when it was requested) and enrich-top."""
    stored = await service.bus.last(Subjects.RUN_REQUESTED.format(run_id=subject_token(run)))
    if stored is None:
        raise ValueError(f"run {run} has no run.requested event")
    request = stored.event()
    name = getattr(request, "icp", None)
    key = name or "default"
    if key not in _icp_cache:
        _icp_cache[key] = load_icp(name, service.settings.icp_dir)
    return _icp_cache[key], stored.envelope.occurred_at.date(), float(getattr(request, "enrich_top", 0.2))


def score_leads(leads: list[CleanedLead], icp: IcpProfile, as_of: date, enrich_top: float) -> list[ScoredLead]:
    scored = rank_and_select([(lead, *score_v1(lead, icp, as_of=as_of)) for lead in leads], enrich_top)
    for s in scored:
        s.bucket = bucket_for(s.score)
    return scored


@service.subscriber(Subjects.step_pattern("clean"), durable="scorer-v1")
async def on_clean_step(env: Envelope, msg: NatsMessage) -> None:
    step = decode_event(env)
    assert isinstance(step, RunStep)
    if step.status == "completed":
        await score_run(step.run_id, env)


async def score_run(run: str, cause: Envelope) -> None:
    bus, size = service.bus, service.settings.batch_size
    icp, as_of, enrich_top = await run_icp(run)
    leads: list[CleanedLead] = []
    async for stored in bus.read(Subjects.LEAD_CLEANED.format(run_id=subject_token(run))):
        event = stored.event()
        assert isinstance(event, LeadsCleaned)
        leads.extend(event.leads)
    with tracer("scorer").start_as_current_span("score_v1", attributes={"run_id": run, "leads": len(leads)}):
        scored = await asyncio.to_thread(score_leads, leads, icp, as_of, enrich_top)
    for n, start in enumerate(range(0, len(scored), size)):
        await bus.publish(LeadsScored(run_id=run, batch=n, icp=icp.name, leads=scored[start:start + size]),
                          key=(run, n), causation_id=cause.event_id)
    selected = [s for s in scored if s.enrich]
    await bus.publish_many(
        bus.wrap(EnrichmentRequested(run_id=run, lead=s, expected_total=len(selected)),
                 key=(run, s.lead.lead_key), lead_key=s.lead.lead_key, causation_id=cause.event_id)
        for s in selected
    )
    counts = {"scored": len(scored), "selected_for_enrichment": len(selected)}
    service.log.info("score_completed", run_id=run, **counts)
    await bus.publish(RunStep(run_id=run, stage="score", status="completed", counts=counts),
                      key=(run, "score", "completed"), stage="score", causation_id=cause.event_id)
    if not selected:
        await bus.publish(RunStep(run_id=run, stage="rescore", status="completed", counts={"rescored": 0}),
                          key=(run, "rescore", "completed"), stage="rescore", causation_id=cause.event_id)


@service.subscriber("lead.enriched.*", durable="scorer-v2", max_workers=4)
async def on_lead_enriched(env: Envelope, msg: NatsMessage) -> None:
    event = decode_event(env)
    assert isinstance(event, LeadEnriched)
    run, lead = event.run_id, event.lead
    icp, _, _ = await run_icp(run)
    ctx = lead_context(lead.lead.trace_id) if lead.lead.trace_id else None
    with tracer("scorer").start_as_current_span("score_v2", context=ctx, attributes={"lead_key": lead.lead.lead_key}):
        final = score_v2(lead, event.enrichment, icp)
        await service.bus.publish(LeadRescored(run_id=run, final=final), key=(run, final.lead_key),
                                  lead_key=final.lead_key, causation_id=env.event_id)
    done = await service.bus.count(Subjects.LEAD_RESCORED.format(run_id=subject_token(run)))
    expected = event.expected_total
    if done >= expected:
        await service.bus.publish(
            RunStep(run_id=run, stage="rescore", status="completed", counts={"rescored": done, "expected": expected}),
            key=(run, "rescore", "completed"), stage="rescore", causation_id=env.event_id,
        )
    elif done % max(1, expected // 20) == 0:
        await service.bus.publish(
            RunStep(run_id=run, stage="enrich", status="progress", counts={"enriched": done, "expected": expected}),
            key=(run, "enrich", "progress", done), stage="enrich",
        )
