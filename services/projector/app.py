"""Projector: a durable consumer on every subject of the stream -> the vault.

The vault's checkpoint is the truth about what was applied: at start the durable consumer
is (re)created to deliver from checkpoint + 1, so deleting the vault and restarting the
projector rebuilds it from the stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api
from nats.js.errors import NotFoundError

from services.projector.batch_tracing import BatchTracer
from services.projector.db import make_engine
from services.projector.projection import Projection
from shared import metrics
from shared.service import Service

service = Service("projector")
app = service.app
DURABLE = "projector"
service.watch_consumer(DURABLE)


async def project_forever() -> None:
    settings = service.settings
    batch_tracer = BatchTracer(service.name)
    projection = Projection(make_engine(settings.vault_database_url), observer=batch_tracer.observe)
    js = service.broker.connection.jetstream()
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
    psub = await js.pull_subscribe(">", durable=DURABLE, stream=settings.stream_name, config=config)
    service.log.info("projector_started", from_seq=start, vault=settings.vault_database_url)
    try:
        await _consume(psub, projection, batch_tracer)
    finally:
        with contextlib.suppress(Exception):
            await psub.unsubscribe()


async def _consume(psub, projection: Projection, batch_tracer: BatchTracer) -> None:  # type: ignore[no-untyped-def]
    settings = service.settings
    while True:
        try:
            msgs = await psub.fetch(settings.projector_batch, timeout=0.5 if _stopping.is_set() else 1.0)
        except (NatsTimeoutError, TimeoutError):  # nats-py raises either on an empty fetch
            if _stopping.is_set():
                service.log.info("projector_drained", seq=projection.checkpoint())
                return  # nothing pending: everything up to now is in the vault
            continue
        if not msgs:
            continue
        batch = [(m.metadata.sequence.stream, m.subject, m.data) for m in msgs]
        t0 = time.perf_counter()
        with batch_tracer.batch(batch, [m.headers for m in msgs]):
            applied = await asyncio.to_thread(projection.apply, batch)
        await msgs[-1].ack()
        metrics.PROJECTOR_BATCH_SECONDS.observe(time.perf_counter() - t0, service=service.name)
        metrics.PROJECTOR_APPLIED.inc(applied, service=service.name)
        metrics.PROJECTOR_CHECKPOINT.set(batch[-1][0], service=service.name)


@app.after_startup
async def start_projecting() -> None:
    task = asyncio.create_task(project_forever())
    task.add_done_callback(_crash_on_failure)
    _tasks.append(task)


_tasks: list[asyncio.Task[None]] = []
_stopping = asyncio.Event()


@app.on_shutdown
async def drain_before_stopping() -> None:
    """On SIGTERM, apply what the stream still holds before exiting."""
    _stopping.set()
    if _tasks:
        await asyncio.wait(_tasks, timeout=60)


def _crash_on_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        service.log.error("projector_crashed", error=repr(exc), exc_info=exc)
        os._exit(1)  # crash loudly: the supervisor restarts us and we resume from the checkpoint
