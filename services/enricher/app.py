"""Enricher: one ``enrich.requested`` per lead -> ``lead.enriched``. Replicas share the durable
consumer ``enricher`` and split the work; each replica runs many leads concurrently."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import Any

from services.enricher.enriched_event import publish_enriched
from services.enricher.replica_channels import answer_reusable, hear_cancellations, share_budgets
from services.enricher.state import EnricherState
from shared.events import ApiCallsRecorded, EnrichmentRequested, Event
from shared.run_cancellation import CancelledRuns
from shared.schemas import Enrichment
from shared.service import Ctx, Service, spans_are_recorded
from shared.tracing import lead_context, tracer

service = Service("enricher")
app = service.app
state = EnricherState()
# asked once per lead: a run's "not cancelled" is trusted for a second (one NATS get per run per second)
cancelled = CancelledRuns(lambda subject: service.bus.last(subject), fresh_for=1.0)


@app.on_startup
async def open_enricher() -> None:
    # name lookups on asyncio's own loop (no uvloop) and the vault lookups go to the default executor
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="enricher"))
    await state.open(service.settings)


@app.after_startup
async def open_channels() -> None:
    await share_budgets(service, state)
    await hear_cancellations(service, state, cancelled)
    await answer_reusable(service, state)


@app.on_shutdown
async def stop_channels() -> None:
    await state.stop_channels()


@app.after_shutdown
async def close_enricher() -> None:
    await state.close()


@service.on_direct(
    "enrich.requested.*", EnrichmentRequested, durable="enricher", max_workers=service.settings.enricher_concurrency
)
async def on_enrich_requested(request: EnrichmentRequested, ctx: Ctx) -> None:
    env = ctx.env
    lead_key = request.lead.lead.lead_key
    enricher = state.enricher
    # a cancelled run's lead is not fetched; still one lead.enriched per lead, so the run's counts close
    if enricher.run_cancelled(request.run_id) or await cancelled(request.run_id):
        await publish_enriched(ctx.bus, service.worker_id, request,
                               Enrichment(lead_key=lead_key, status="skipped", error="run cancelled"), env)
        return
    await state.apply_saved_config(service.bus, service.settings, service.log)
    lead = request.lead
    span = contextlib.nullcontext()
    if spans_are_recorded():
        trace = lead_context(lead.lead.trace_id) if lead.lead.trace_id else None
        span = tracer("enricher").start_as_current_span(
            "enrich", context=trace, attributes={"lead_key": lead_key, "run_id": request.run_id})
    with span:
        outcome = await enricher.enrich(lead, run_id=request.run_id, reuse_only=request.reuse_only)
        calls: list[tuple[Event, dict[str, Any]]] = []
        if outcome.api_calls:
            calls.append((ApiCallsRecorded(run_id=request.run_id, calls=outcome.api_calls),
                          {"service": "enricher", "key": (request.run_id, lead_key, "api_calls"),
                           "causation_id": env.event_id}))
        await publish_enriched(ctx.bus, service.worker_id, request, outcome.enrichment, env, before=calls)
