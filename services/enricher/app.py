"""Enricher: one ``enrich.requested`` per lead -> ``lead.enriched``. Replicas share the durable
consumer ``enricher`` and split the work; each replica runs many leads concurrently."""

from __future__ import annotations

import contextlib

from faststream.nats import NatsMessage

from services.enricher.logic import Enricher
from services.enricher.vault_reuse import VaultReuse
from shared.events import ApiCallsRecorded, EnrichmentRequested, Envelope, LeadEnriched, decode_event
from shared.run_cancellation import CancelledRuns
from shared.schemas import Enrichment
from shared.service import Service
from shared.tracing import lead_context, tracer

service = Service("enricher")
app = service.app
_state: dict[str, object] = {}
_stack = contextlib.AsyncExitStack()
cancelled = CancelledRuns(lambda subject: service.bus.last(subject))


@app.on_startup
async def open_enricher() -> None:
    reuse = VaultReuse(service.settings)
    _state["enricher"] = await _stack.enter_async_context(Enricher(service.settings, vault_lookup=reuse.lookup))


@app.after_shutdown
async def close_enricher() -> None:
    await _stack.aclose()


@service.subscriber(
    "enrich.requested.*", durable="enricher", max_workers=service.settings.enricher_concurrency
)
async def on_enrich_requested(env: Envelope, msg: NatsMessage) -> None:
    request = decode_event(env)
    assert isinstance(request, EnrichmentRequested)
    lead_key = request.lead.lead.lead_key
    if await cancelled(request.run_id):  # not fetched; still one lead.enriched per lead, so the run's counts close
        await publish_enriched(request, Enrichment(lead_key=lead_key, status="skipped", error="run cancelled"), env)
        return
    enricher = _state["enricher"]
    assert isinstance(enricher, Enricher)
    lead = request.lead
    ctx = lead_context(lead.lead.trace_id) if lead.lead.trace_id else None
    with tracer("enricher").start_as_current_span(
        "enrich", context=ctx, attributes={"lead_key": lead_key, "run_id": request.run_id}
    ):
        outcome = await enricher.enrich(lead, run_id=request.run_id)
        if outcome.api_calls:
            await service.bus.publish(ApiCallsRecorded(run_id=request.run_id, calls=outcome.api_calls),
                                      service="enricher", key=(request.run_id, lead_key, "api_calls"),
                                      causation_id=env.event_id)
        await publish_enriched(request, outcome.enrichment, env)


async def publish_enriched(request: EnrichmentRequested, enrichment: Enrichment, cause: Envelope) -> None:
    lead_key = request.lead.lead.lead_key
    await service.bus.publish(
        LeadEnriched(run_id=request.run_id, lead=request.lead, enrichment=enrichment,
                     expected_total=request.expected_total, worker=service.worker_id),
        key=(request.run_id, lead_key), lead_key=lead_key, causation_id=cause.event_id,
    )
