"""Cleaner: when a run's extraction completes, clean the whole run (run-level dedup and repeated
phones need every lead of the run, and the vault is asked once what it already knows about the
run's phones and companies) -> batches of ``lead.cleaned`` and ``lead.rejected``.

The per-record work (ids checked, phones and e-mails parsed) is done on each ``lead.extracted``
batch as it is published (``batch_prefetch``); the step's handler takes the prepared batches
(reading from the stream whatever was not seen) and does the run-level rest."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from services.cleaner.logic import VaultLookup, VaultMatches, prepare_records
from services.cleaner.spilled import cleaning_spill, plan_run
from services.cleaner.vault_contacts import lookup_vault
from shared.events import (
    Envelope,
    RunStep,
    Subjects,
    subject_token,
)
from shared.gc_policy import gc_paused
from shared.run_cancellation import CancelledRuns, publish_run_cancelled
from shared.run_spill import Segment
from shared.service import Ctx, Service
from shared.tracing import lead_trace_id, tracer
from shared.vault.access import open_reader
from shared.wire import records
from shared.wire.batch_codec import BatchEncoder, EncodedPublisher, max_event_bytes
from shared.wire.batch_prefetch import BatchPrefetch

service = Service("cleaner")
app = service.app
cancelled = CancelledRuns(lambda subject: service.bus.last(subject))


# each run's prepared batches: in memory up to HUNTER_SPILL_LEADS leads, else on disk
spill = cleaning_spill(service.settings.data_dir / "spill", service.settings.spill_leads)


def prepare_batch(_: None, batch: records.LeadsExtracted) -> Segment:
    return spill.put(batch.run_id, prepare_records(batch.companies))


extracted: BatchPrefetch[records.LeadsExtracted, None, Segment] = BatchPrefetch(
    Subjects.LEAD_EXTRACTED.format(run_id="*"), records.LeadsExtracted, prepare_batch)


@app.after_startup
async def start_prefetch() -> None:
    await extracted.start(service.bus)


@app.on_shutdown
async def stop_prefetch() -> None:
    await extracted.stop()


@dataclass
class CleanerState:
    """The cleaner's per-process state: the vault's read-only engine, made when first asked for (opening it
    touches nothing; before the projector creates the vault, a lookup knows nothing)."""

    vault_url: str
    vault_engine: Engine | None = None

    def vault(self) -> Engine:
        if self.vault_engine is None:
            self.vault_engine = open_reader(self.vault_url)
        return self.vault_engine


state = CleanerState(service.settings.vault_database_url)


def vault_lookup(run: str) -> VaultLookup:
    """The run's view of the vault (read-only; an absent vault knows nothing)."""

    def lookup(phones: set[str], lead_keys: set[str]) -> VaultMatches:
        return lookup_vault(state.vault(), run, phones, lead_keys)

    return lookup


@service.on(Subjects.step_pattern("extract"), RunStep, durable="cleaner", on_dead_letter=service.fail_run("clean"))
async def on_extract_step(step: RunStep, ctx: Ctx) -> None:
    if step.status in ("failed", "cancelled"):
        extracted.forget(step.run_id)
        spill.forget(step.run_id)
    if step.status != "completed":
        return
    if await cancelled(step.run_id):
        extracted.forget(step.run_id)
        spill.forget(step.run_id)
        await publish_run_cancelled(service.bus, step.run_id, stage="clean", causation_id=ctx.env.event_id)
        return
    try:
        with gc_paused():  # a whole run of small acyclic objects: the cyclic GC's passes would triple the time
            await clean(step.run_id, ctx.env)
    finally:
        spill.forget(step.run_id)


async def clean(run: str, cause: Envelope) -> None:
    bus, size = service.bus, service.settings.batch_size
    await bus.publish(RunStep(run_id=run, stage="clean", status="started"), key=(run, "clean", "started"),
                      stage="clean", causation_id=cause.event_id)
    # the run as records mirrors (msgspec), prepared batch by batch as they were published (in memory or on disk)
    segments = await extracted.take(bus, Subjects.LEAD_EXTRACTED.format(run_id=subject_token(run)), run)
    limit, cause_id = max_event_bytes(bus), cause.event_id
    leads_in = sum(s.count for s in segments)
    with tracer("cleaner").start_as_current_span("clean_run", attributes={"run_id": run, "leads": leads_in}):
        cleaning = await asyncio.to_thread(
            plan_run, spill, run, segments, repeated_phone_threshold=service.settings.repeated_phone_threshold,
            vault=vault_lookup(run),
        )
        del segments
        # each batch of leads is published while the next is built: the scorer starts on the first
        publisher = EncodedPublisher(bus)
        cleaned = BatchEncoder(lambda n, leads: records.LeadsCleaned(run_id=run, batch=n, leads=leads),
                               size=size, max_bytes=limit, key=lambda n: (run, n), causation_id=cause_id)
        for start in range(0, len(cleaning), size):
            leads = cleaning.build(start, start + size)
            for lead in leads:
                lead.trace_id = lead_trace_id(run, lead.lead_key)
            await publisher.send(cleaned.add(leads))
            await asyncio.sleep(0)  # the connection's reader and writer go on between batches
        await publisher.send(cleaned.flush())
        counts = cleaning.finish()
    rejected = BatchEncoder(lambda n, out: records.LeadsRejected(run_id=run, stage="clean", batch=n, rejected=out),
                            size=size, max_bytes=limit, key=lambda n: (run, "clean", n), causation_id=cause_id)
    for dropped in cleaning.iter_dropped(size):
        await publisher.send(rejected.add(dropped))
    await publisher.send(rejected.flush())
    await publisher.acked()
    service.log.info("clean_completed", run_id=run, **counts)
    await bus.publish(RunStep(run_id=run, stage="clean", status="completed", counts=counts),
                      key=(run, "clean", "completed"), stage="clean", causation_id=cause.event_id)
