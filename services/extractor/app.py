"""Extractor: ``run.requested`` -> batches of ``lead.extracted`` (+ ``lead.rejected``) and run steps."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from faststream.nats import NatsMessage

from services.extractor.batching import take_batch
from services.extractor.sources import iter_source
from shared.events import (
    ApiCallsRecorded,
    Envelope,
    LeadsExtracted,
    LeadsRejected,
    RunRequested,
    RunStep,
    Subjects,
    decode_event,
    subject_token,
)
from shared.schemas import ApiCall, CompanyRecord, DroppedLead
from shared.service import Service

service = Service("extractor")
app = service.app


@service.subscriber("run.requested.*", durable="extractor")
async def on_run_requested(env: Envelope, msg: NatsMessage) -> None:
    request = decode_event(env)
    assert isinstance(request, RunRequested)
    await extract_run(request, env, msg)


async def extract_run(request: RunRequested, env: Envelope, msg: NatsMessage) -> None:
    bus, run = service.bus, request.run_id
    log = service.log.bind(run_id=run)
    await bus.publish(RunStep(run_id=run, stage="extract", status="started"), key=(run, "extract", "started"),
                      stage="extract", causation_id=env.event_id)
    calls: list[ApiCall] = []
    try:
        items: Iterator[CompanyRecord | DroppedLead] = iter_source(
            request.source, request.filters, settings=service.settings, on_api_call=calls.append
        )
    except ValueError as exc:
        log.error("extract_failed", reason=str(exc))
        await bus.publish(RunStep(run_id=run, stage="extract", status="failed", message=str(exc)),
                          key=(run, "extract", "failed"), stage="extract", causation_id=env.event_id)
        await bus.publish(RunStep(run_id=run, stage="run", status="failed", message=f"extract: {exc}"),
                          key=(run, "run", "failed"), stage="run", causation_id=env.event_id)
        return
    extracted = rejected = batches = rejected_batches = 0
    cancelled_subject = Subjects.RUN_CANCELLED.format(run_id=subject_token(run))
    while True:
        try:
            companies, dropped = await asyncio.to_thread(take_batch, items, service.settings.batch_size)
        except ValueError as exc:  # a source that fails mid-way (bad header, API refusal)
            log.error("extract_failed", reason=str(exc))
            await bus.publish(RunStep(run_id=run, stage="extract", status="failed", message=str(exc)),
                              key=(run, "extract", "failed"), stage="extract")
            await bus.publish(RunStep(run_id=run, stage="run", status="failed", message=f"extract: {exc}"),
                              key=(run, "run", "failed"), stage="run")
            return
        if companies:
            await bus.publish(LeadsExtracted(run_id=run, batch=batches, companies=companies),
                              key=(run, batches), causation_id=env.event_id)
            batches += 1
            extracted += len(companies)
        if dropped:
            await bus.publish(LeadsRejected(run_id=run, stage="extract", batch=rejected_batches, rejected=dropped),
                              key=(run, "extract", rejected_batches), causation_id=env.event_id)
            rejected_batches += 1
            rejected += len(dropped)
        if calls:
            await bus.publish(ApiCallsRecorded(run_id=run, calls=list(calls)), service="extractor")
            calls.clear()
        if not companies and not dropped:
            break
        await msg.in_progress()
        await bus.publish(
            RunStep(run_id=run, stage="extract", status="progress",
                    counts={"extracted": extracted, "rejected": rejected, "batches": batches}),
            key=(run, "extract", "progress", batches, rejected_batches), stage="extract",
        )
        if await bus.last(cancelled_subject) is not None:
            log.info("extract_cancelled")
            break
    log.info("extract_completed", extracted=extracted, rejected=rejected, batches=batches)
    await bus.publish(
        RunStep(run_id=run, stage="extract", status="completed",
                counts={"extracted": extracted, "rejected": rejected, "batches": batches}),
        key=(run, "extract", "completed"), stage="extract", causation_id=env.event_id,
    )


