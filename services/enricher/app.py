"""Enricher: one ``enrich.requested`` per lead -> ``lead.enriched``. Replicas share the durable
consumer ``enricher`` and split the work; each replica runs many leads concurrently."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from nats.aio.subscription import Subscription

from services.enricher.logic import Enricher
from services.enricher.vault_reuse import VaultReuse
from shared.bus import decode
from shared.events import (
    ApiCallsRecorded,
    EnrichmentRequested,
    Envelope,
    Event,
    LeadEnriched,
    RunCancelled,
    Subjects,
    decode_event,
)
from shared.run_cancellation import CancelledRuns
from shared.schemas import Enrichment
from shared.service import Ctx, Service, spans_are_recorded
from shared.stored_config import effective_settings
from shared.tracing import lead_context, tracer

service = Service("enricher")
app = service.app
# asked once per lead: a run's "not cancelled" is trusted for a second (one NATS get per run per second)
cancelled = CancelledRuns(lambda subject: service.bus.last(subject), fresh_for=1.0)


# settings saved on the gateway's Config page, read back from the stream at most every few seconds
CONFIG_KEYS = ("serper_api_key", "fetch_pages_per_site", "enable_playwright")
CONFIG_REFRESH_SECONDS = 5.0


@dataclass
class EnricherState:
    """The enricher's per-process state (as the gateway's ``Gateway``): made with the service, its
    enricher and vault reader opened when the service starts (``open_enricher``)."""

    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    opened: tuple[Enricher, VaultReuse] | None = None
    subscriptions: list[Subscription] = field(default_factory=list)  # plain NATS: budgets, cancellations, reuse
    budget_task: asyncio.Task[None] | None = None
    config_next: float = 0.0  # when the saved settings are read again
    config_busy: bool = False

    @property
    def enricher(self) -> Enricher:
        if self.opened is None:
            raise RuntimeError("the enricher is used before the service started")
        return self.opened[0]

    @property
    def reuse(self) -> VaultReuse:
        if self.opened is None:
            raise RuntimeError("the vault reader is used before the service started")
        return self.opened[1]


state = EnricherState()


@app.on_startup
async def open_enricher() -> None:
    # name lookups on asyncio's own loop (no uvloop) and the vault lookups go to the default executor
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="enricher"))
    reuse = VaultReuse(service.settings)
    enricher = await state.stack.enter_async_context(Enricher(service.settings, vault_lookup=reuse.lookup))
    state.opened = (enricher, reuse)


@app.after_startup
async def share_budgets() -> None:
    """Hear what the other replicas spent per run, and tell them what this one spends (``budgets``)."""
    enricher = state.enricher
    nc = service.broker.connection

    async def heard(msg: Any) -> None:
        try:
            report = orjson.loads(msg.data)
            if report["replica"] != service.worker_id:
                enricher.budgets.merge(report["replica"], report["runs"])
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            service.log.warning("budget_report_unreadable", error=str(exc))

    async def tell() -> None:
        while True:
            await asyncio.sleep(service.settings.budget_share_seconds)
            runs = enricher.budgets.shared_report()
            if runs:
                with contextlib.suppress(Exception):  # a lost report is made up by the next one (running totals)
                    await nc.publish(Subjects.BUDGET_SHARE, orjson.dumps({"replica": service.worker_id, "runs": runs}))

    state.subscriptions.append(await nc.subscribe(Subjects.BUDGET_SHARE, cb=heard))
    state.budget_task = asyncio.create_task(tell())


@app.after_startup
async def hear_cancellations() -> None:
    """A cancelled run stops at once: its leads in flight are stopped (no request more than those already
    sent) and its next leads skipped. The cancellation is heard as it is published (a plain subscription on
    the stream's subject); a replica that missed it still finds it in the stream before each lead."""
    enricher = state.enricher

    async def heard(msg: Any) -> None:
        try:
            event = decode_event(decode(msg.data))
        except Exception as exc:  # noqa: BLE001 - not ours to dead-letter (the projector does): noted
            service.log.warning("cancellation_unreadable", error=str(exc)[:300])
            return
        if isinstance(event, RunCancelled):
            cancelled.remember(event.run_id)
            stopped = enricher.cancel_run(event.run_id)
            service.log.info("run_cancelled", run_id=event.run_id, leads_stopped=stopped)

    state.subscriptions.append(await service.broker.connection.subscribe(
        Subjects.RUN_CANCELLED.format(run_id="*"), cb=heard))


@app.after_startup
async def answer_reusable() -> None:
    """Tell the scorer which leads of a run have an enrichment in the vault within the TTL (one replica
    answers each question: a queue group), so it sends those outside the top share too, to be reused."""
    reuse = state.reuse

    async def asked(msg: Any) -> None:
        try:
            keys = [str(k) for k in orjson.loads(msg.data)["keys"]]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            service.log.warning("reusable_question_unreadable", error=str(exc))
            keys = []
        found = await asyncio.to_thread(reuse.reusable_keys, keys) if keys else []
        with contextlib.suppress(Exception):  # the scorer asked in vain: it goes on with the top share alone
            await msg.respond(orjson.dumps({"keys": found}))

    state.subscriptions.append(await service.broker.connection.subscribe(
        Subjects.ENRICH_REUSABLE, queue="enricher", cb=asked))


async def apply_saved_config(enricher: Enricher) -> None:
    now = time.monotonic()
    if now < state.config_next or state.config_busy:
        return
    state.config_busy, state.config_next = True, now + CONFIG_REFRESH_SECONDS
    try:
        wanted = await effective_settings(service.bus, service.settings, CONFIG_KEYS)
        if wanted != enricher.settings:
            await enricher.reconfigure(wanted)
            service.log.info("config_applied")
    except Exception as exc:  # noqa: BLE001 - the settings in force stay; try again later
        service.log.warning("config_unreadable", error=str(exc))
    finally:
        state.config_busy = False


@app.on_shutdown
async def stop_sharing_budgets() -> None:
    if state.budget_task is not None:
        state.budget_task.cancel()
    while state.subscriptions:
        with contextlib.suppress(Exception):
            await state.subscriptions.pop().unsubscribe()


@app.after_shutdown
async def close_enricher() -> None:
    await state.stack.aclose()


@service.on_direct(
    "enrich.requested.*", EnrichmentRequested, durable="enricher", max_workers=service.settings.enricher_concurrency
)
async def on_enrich_requested(request: EnrichmentRequested, ctx: Ctx) -> None:
    env = ctx.env
    lead_key = request.lead.lead.lead_key
    enricher = state.enricher
    # a cancelled run's lead is not fetched; still one lead.enriched per lead, so the run's counts close
    if enricher.run_cancelled(request.run_id) or await cancelled(request.run_id):
        await publish_enriched(request, Enrichment(lead_key=lead_key, status="skipped", error="run cancelled"), env)
        return
    await apply_saved_config(enricher)
    lead = request.lead
    span = contextlib.nullcontext()
    if spans_are_recorded():
        ctx = lead_context(lead.lead.trace_id) if lead.lead.trace_id else None
        span = tracer("enricher").start_as_current_span(
            "enrich", context=ctx, attributes={"lead_key": lead_key, "run_id": request.run_id})
    with span:
        outcome = await enricher.enrich(lead, run_id=request.run_id, reuse_only=request.reuse_only)
        calls: list[tuple[Event, dict[str, Any]]] = []
        if outcome.api_calls:
            calls.append((ApiCallsRecorded(run_id=request.run_id, calls=outcome.api_calls),
                          {"service": "enricher", "key": (request.run_id, lead_key, "api_calls"),
                           "causation_id": env.event_id}))
        await publish_enriched(request, outcome.enrichment, env, before=calls)


async def publish_enriched(request: EnrichmentRequested, enrichment: Enrichment, cause: Envelope, *,
                           before: Sequence[tuple[Event, dict[str, Any]]] = ()) -> None:
    """Publish the lead's ``lead.enriched`` (after the events in ``before``, pipelined with them)."""
    lead_key = request.lead.lead.lead_key
    enriched = LeadEnriched(run_id=request.run_id, lead=request.lead, enrichment=enrichment,
                            expected_total=request.expected_total, worker=service.worker_id)
    await service.bus.publish_events([
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
