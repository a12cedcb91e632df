"""Projector: a durable consumer on every subject of the stream -> the vault.

The vault's checkpoint is the truth about what was applied: at start the durable consumer
is (re)created to deliver from checkpoint + 1, so deleting the vault and restarting the
projector rebuilds it from the stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field

from nats.js import api
from nats.js.errors import NotFoundError

from services.projector.batch_tracing import BatchTracer
from services.projector.faults import (
    BUSY_TIMEOUT_SECONDS,
    RETRIED,
    DeliveryGap,
    Outage,
    SwapWatch,
    VaultSwapped,
    first_gap,
)
from services.projector.projection import Projection
from services.projector.stream_reader import StreamReader
from shared import metrics
from shared.gc_policy import collect_rarely
from shared.service import Service
from shared.vault.access import open_writer
from shared.vault.engine import vault_file

service = Service("projector")
app = service.app
DURABLE = "projector"
STOP_SECONDS = 3.0  # after SIGTERM, what arrived is applied for this long at most (the rest at the next start)
service.watch_consumer(DURABLE)


@dataclass
class ProjectorState:
    """The projector's per-process state: its task, the stop signal, the outage being retried."""

    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    outage: Outage = field(default_factory=Outage)


state = ProjectorState()


async def project_forever() -> None:
    """Project until stopped; when a replay swaps the vault file in, start again on the new file
    from its checkpoint (what was written to the old file since is applied again from the stream).
    A database or server error is retried with backoff until it clears (see ``RETRIED``)."""
    while not state.stopping.is_set():
        try:
            await _project_once()
            return
        except VaultSwapped:
            service.log.warning("vault_swapped", vault=service.settings.vault_database_url)
        except DeliveryGap as gap:  # read again from the checkpoint: the missing event comes first
            service.log.warning("projector_delivery_gap", seq=gap.seq)
        except RETRIED as exc:
            delay = state.outage.failed(exc)
            service.log.warning("projector_retrying", error=state.outage.error, attempt=state.outage.attempts,
                                retry_in_seconds=delay, vault=vault_file(service.settings.vault_database_url))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.stopping.wait(), delay)


async def _project_once() -> None:
    settings = service.settings
    batch_tracer = BatchTracer(service.name)
    engine = open_writer(settings.vault_database_url, busy_timeout=BUSY_TIMEOUT_SECONDS)
    projection = Projection(engine, observer=batch_tracer.observe)
    watch = SwapWatch(vault_file(settings.vault_database_url))
    nc = service.broker.connection
    js = nc.jetstream()
    start = projection.checkpoint() + 1
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(settings.stream_name, DURABLE)
    config = api.ConsumerConfig(
        durable_name=DURABLE,
        deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=start,
        ack_policy=api.AckPolicy.ALL,
        ack_wait=120.0,
        max_ack_pending=-1,
    )
    await js.add_consumer(settings.stream_name, config=config)
    reader = StreamReader(nc, settings.stream_name, DURABLE, batch=max(settings.projector_batch, 1000),
                          buffered=max(4 * settings.projector_batch, 10_000))
    await reader.start()
    collect_rarely()  # for the life of the process
    service.log.info("projector_started", from_seq=start, vault=settings.vault_database_url)
    try:
        await _consume(reader, projection, batch_tracer, watch, start)
    finally:
        await reader.stop()
        engine.dispose()


async def _consume(reader: StreamReader, projection: Projection, batch_tracer: BatchTracer,
                   watch: SwapWatch, expected: int) -> None:
    """Apply whatever has arrived, up to HUNTER_PROJECTOR_BATCH events a transaction, while the reader
    keeps reading: under load batches grow to that size, so the lag stays bounded."""
    limit = service.settings.projector_batch
    stop_by: float | None = None
    while True:
        if state.stopping.is_set() and stop_by is None:
            stop_by = time.monotonic() + STOP_SECONDS
        if stop_by is not None and time.monotonic() > stop_by:  # still busy: the rest is applied at the next start
            service.log.info("projector_stopped", seq=projection.checkpoint(), buffered=len(reader.buffer))
            return
        msgs = await reader.take(limit, timeout=0.2 if state.stopping.is_set() else 1.0)
        watch.check()
        if not msgs:
            if state.stopping.is_set():
                service.log.info("projector_drained", seq=projection.checkpoint())
                return  # nothing pending: everything up to now is in the vault
            continue
        batch = [(m.seq, m.subject, m.data) for m in msgs]
        gap = first_gap([seq for seq, _, _ in batch], expected)  # (expected: the checkpoint + 1, kept here)
        if gap is not None and await _stream_holds(reader, gap):
            raise DeliveryGap(gap)
        t0 = time.perf_counter()
        with batch_tracer.batch(batch, [m.headers for m in msgs]):
            applied = await asyncio.to_thread(projection.apply, batch)
        watch.check()  # swapped while applying: the batch went to the old file; the new one gets it again
        await reader.nc.publish(msgs[-1].reply, b"+ACK")  # AckPolicy.ALL: everything up to it
        expected = max(expected, batch[-1][0] + 1)
        state.outage.recovered(service.log)
        metrics.PROJECTOR_BATCH_SECONDS.observe(time.perf_counter() - t0, service=service.name)
        metrics.PROJECTOR_APPLIED.inc(applied, service=service.name)
        metrics.PROJECTOR_CHECKPOINT.set(batch[-1][0], service=service.name)


async def _stream_holds(reader: StreamReader, seq: int) -> bool:
    """Whether the stream still holds message ``seq`` (a deleted one leaves a gap that is no loss)."""
    try:
        await reader.nc.jetstream().get_msg(service.settings.stream_name, seq)
    except NotFoundError:
        return False
    return True


@app.after_startup
async def start_projecting() -> None:
    task = asyncio.create_task(project_forever())
    task.add_done_callback(_crash_on_failure)
    state.tasks.append(task)


@app.on_shutdown
async def drain_before_stopping() -> None:
    """On SIGTERM, apply what has arrived (for ``STOP_SECONDS`` at most) before exiting; a retry waiting
    for the vault stops at once. What is left is applied from the checkpoint at the next start."""
    state.stopping.set()
    if state.tasks:
        _, pending = await asyncio.wait(state.tasks, timeout=STOP_SECONDS + BUSY_TIMEOUT_SECONDS + 1)
        for task in pending:
            task.cancel()


def _crash_on_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        service.log.error("projector_crashed", error=repr(exc), exc_info=exc)
        os._exit(1)  # crash loudly: the supervisor restarts us and we resume from the checkpoint
