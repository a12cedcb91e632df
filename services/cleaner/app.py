"""Cleaner: when a run's extraction completes, clean the whole run (run-level dedup and repeated
phones need every lead of the run) -> batches of ``lead.cleaned`` and ``lead.rejected``."""

from __future__ import annotations

import asyncio

from faststream.nats import NatsMessage

from services.cleaner.logic import clean_run
from shared.events import (
    Envelope,
    LeadsCleaned,
    LeadsExtracted,
    LeadsRejected,
    RunStep,
    Subjects,
    decode_event,
    subject_token,
)
from shared.schemas import CompanyRecord
from shared.service import Service
from shared.tracing import lead_trace_id, tracer

service = Service("cleaner")
app = service.app


@service.subscriber(Subjects.step_pattern("extract"), durable="cleaner")
async def on_extract_step(env: Envelope, msg: NatsMessage) -> None:
    step = decode_event(env)
    assert isinstance(step, RunStep)
    if step.status == "completed":
        await clean(step.run_id, env)


async def clean(run: str, cause: Envelope) -> None:
    bus, size = service.bus, service.settings.batch_size
    companies: list[CompanyRecord] = []
    async for stored in bus.read(Subjects.LEAD_EXTRACTED.format(run_id=subject_token(run))):
        event = stored.event()
        assert isinstance(event, LeadsExtracted)
        companies.extend(event.companies)
    with tracer("cleaner").start_as_current_span("clean_run", attributes={"run_id": run, "leads": len(companies)}):
        result = await asyncio.to_thread(
            clean_run, companies, repeated_phone_threshold=service.settings.repeated_phone_threshold
        )
    for lead in result.leads:
        lead.trace_id = lead_trace_id(run, lead.lead_key)
    for n, start in enumerate(range(0, len(result.leads), size)):
        await bus.publish(LeadsCleaned(run_id=run, batch=n, leads=result.leads[start:start + size]),
                          key=(run, n), causation_id=cause.event_id)
    for n, start in enumerate(range(0, len(result.dropped), size)):
        await bus.publish(
            LeadsRejected(run_id=run, stage="clean", batch=n, rejected=result.dropped[start:start + size]),
            key=(run, "clean", n), causation_id=cause.event_id,
        )
    service.log.info("clean_completed", run_id=run, **result.counts)
    await bus.publish(RunStep(run_id=run, stage="clean", status="completed", counts=result.counts),
                      key=(run, "clean", "completed"), stage="clean", causation_id=cause.event_id)
