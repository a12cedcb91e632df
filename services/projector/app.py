"""Projector: a durable consumer on every subject of the stream -> the vault.

The vault's checkpoint is the truth about what was applied: at start the durable consumer
is (re)created to deliver from checkpoint + 1, so deleting the vault and restarting the
projector rebuilds it from the stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import nats.errors
from nats.js import api
from nats.js.errors import NotFoundError
from sqlalchemy.exc import OperationalError

from services.projector.batch_tracing import BatchTracer
from services.projector.db import file_identity, make_engine, vault_file
from services.projector.projection import Projection
from services.projector.replay import collect_rarely
from services.projector.stream_reader import StreamReader
from shared import metrics
from shared.service import Service

service = Service("projector")
app = service.app
DURABLE = "projector"
service.watch_consumer(DURABLE)


class VaultSwapped(Exception):
    """``hunter replay`` renamed a rebuilt vault over the one this projector had open."""


# a failure a moment's wait may cure (the server slow to answer, the vault locked past its busy timeout):
# tried again this many times in a row, a second apart, before the projector crashes
TRANSIENT_RETRIES = 5


async def project_forever() -> None:
    """Project until stopped; when a replay swaps the vault file in, start again on the new file
    from its checkpoint (what was written to the old file since is applied again from the stream)."""
    failures = 0
    while True:
        started = time.monotonic()
        try:
            await _project_once()
            return
        except VaultSwapped:
            failures = 0
            service.log.warning("vault_swapped", vault=service.settings.vault_database_url)
        except (nats.errors.TimeoutError, OperationalError) as exc:
            failures = 1 if time.monotonic() - started > 60 else failures + 1  # in a row: soon after the last
            if failures > TRANSIENT_RETRIES:
                raise
            service.log.warning("projector_retrying", error=f"{type(exc).__name__}: {exc}"[:300], attempt=failures)
            await asyncio.sleep(1.0)


async def _project_once() -> None:
    settings = service.settings
    batch_tracer = BatchTracer(service.name)
    engine = make_engine(settings.vault_database_url)
    projection = Projection(engine, observer=batch_tracer.observe)
    watch = _SwapWatch(vault_file(settings.vault_database_url))
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
        await _consume(reader, projection, batch_tracer, watch)
    finally:
        await reader.stop()
        engine.dispose()


class _SwapWatch:
    """Notices the vault file being replaced under its name (SQLite; nothing to watch otherwise)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.identity = file_identity(path) if path else None

    def check(self) -> None:
        if self.path is None:
            return
        now = file_identity(self.path)
        if now is not None and now != self.identity:
            raise VaultSwapped(self.path)


async def _consume(reader: StreamReader, projection: Projection, batch_tracer: BatchTracer,
                   watch: _SwapWatch) -> None:
    """Apply whatever has arrived, up to HUNTER_PROJECTOR_BATCH events a transaction, while the reader
    keeps reading: under load batches grow to that size, so the lag stays bounded."""
    limit = service.settings.projector_batch
    while True:
        msgs = await reader.take(limit, timeout=0.5 if _stopping.is_set() else 1.0)
        watch.check()
        if not msgs:
            if _stopping.is_set():
                service.log.info("projector_drained", seq=projection.checkpoint())
                return  # nothing pending: everything up to now is in the vault
            continue
        batch = [(m.seq, m.subject, m.data) for m in msgs]
        t0 = time.perf_counter()
        with batch_tracer.batch(batch, [m.headers for m in msgs]):
            applied = await asyncio.to_thread(projection.apply, batch)
        watch.check()  # swapped while applying: the batch went to the old file; the new one gets it again
        await reader.nc.publish(msgs[-1].reply, b"+ACK")  # AckPolicy.ALL: everything up to it
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
