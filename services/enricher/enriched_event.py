"""The enricher's output: one ``lead.enriched`` per requested lead, written with the lead's JSON as
its request carried it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.events import EnrichmentRequested, Envelope, Event, LeadEnriched
from shared.schemas import Enrichment
from shared.service import ObservedBus


async def publish_enriched(bus: ObservedBus, worker: str, request: EnrichmentRequested, enrichment: Enrichment,
                           cause: Envelope, *, before: Sequence[tuple[Event, dict[str, Any]]] = ()) -> None:
    """Publish the lead's ``lead.enriched`` (after the events in ``before``, pipelined with them)."""
    lead_key = request.lead.lead.lead_key
    enriched = LeadEnriched(run_id=request.run_id, lead=request.lead, enrichment=enrichment,
                            expected_total=request.expected_total, worker=worker)
    await bus.publish_events([
        *before, (enriched, {"key": (request.run_id, lead_key), "lead_key": lead_key, "causation_id": cause.event_id,
                             "payload": enriched_payload(enriched, cause)}),
    ])


def enriched_payload(enriched: LeadEnriched, cause: Envelope) -> dict[str, Any] | None:
    """``enriched`` in JSON form with the lead as its request carried it (the same JSON: the request was a
    ``model_dump`` of the same model), sparing a dump of the whole lead; None when the request was an
    older version of the event (upcast on reading: its JSON is not this lead's)."""
    lead = cause.payload.get("lead")
    if cause.type != EnrichmentRequested.TYPE or cause.version != EnrichmentRequested.VERSION \
            or not isinstance(lead, dict):
        return None
    return {"run_id": enriched.run_id, "lead": lead, "enrichment": enriched.enrichment.model_dump(mode="json"),
            "expected_total": enriched.expected_total, "worker": enriched.worker}
