"""Projector: a durable consumer on every subject of the stream -> the vault.

The vault's checkpoint is the truth about what was applied: at start the durable consumer
is (re)created to deliver from checkpoint + 1, so deleting the vault and restarting the
projector rebuilds it from the stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass

import nats.errors
import psycopg
from nats.js import api
from nats.js.errors import NotFoundError
from sqlalchemy.exc import DatabaseError

from services.projector.batch_tracing import BatchTracer
from services.projector.projection import Projection
from services.projector.stream_reader import StreamReader
from shared import metrics
from shared.gc_policy import collect_rarely
from shared.service import Service
from shared.vault.access import open_writer
from shared.vault.engine import file_identity, vault_file

service = Service("projector")
app = service.app
DURABLE = "projector"
service.watch_consumer(DURABLE)


class VaultSwapped(Exception):
    """``hunter replay`` renamed a rebuilt vault over the one this projector had open."""


# A failure a wait may cure: the server slow to answer, the vault locked by another program, its disk full
# or read-only. Tried again, a backoff apart (doubling up to the cap), for as long as it lasts: each try is
# logged with the reason (a warning, so it also reaches the vault's logs once the vault is writable again)
# and the checkpoint is where the projection resumes.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
BUSY_TIMEOUT_SECONDS = 2.0  # a locked vault fails an apply after this: the stop and retry checks run between tries
STOP_SECONDS = 3.0  # after SIGTERM, what arrived is applied for this long at most (the rest at the next start)
# SQLAlchemy's errors, and the drivers' own (the bulk writes use raw DB-API cursors)
RETRIED = (nats.errors.TimeoutError, DatabaseError, sqlite3.DatabaseError, psycopg.OperationalError, OSError)


@dataclass
class Outage:
    """The vault (or the server) failing since ``since``: what the next successful batch reports."""

    since: float = 0.0
    attempts: int = 0
    error: str = ""

    def failed(self, exc: BaseException) -> float:
        """Count a failure; the delay before the next try."""
        if not self.attempts:
            self.since = time.monotonic()
        self.attempts += 1
        self.error = describe_db_error(exc)
        return min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** (self.attempts - 1))

    def recovered(self) -> None:
        if self.attempts:
            service.log.warning("projector_resumed", after_seconds=round(time.monotonic() - self.since, 1),
                                attempts=self.attempts, error=self.error)
        self.attempts, self.error = 0, ""


def describe_db_error(exc: BaseException) -> str:
    """The driver's own words for a database error (``database or disk is full``, ``database is locked``,
    ``attempt to write a readonly database``), without SQLAlchemy's SQL and background link."""
    orig = getattr(exc, "orig", None)
    return f"{type(orig or exc).__name__}: {orig or exc}"[:300]


_outage = Outage()


class DeliveryGap(Exception):  # noqa: N818 - an event, not an error: the projection starts again
    """A stream sequence the stream still holds was not delivered before later ones (a consumer leader
    change can lose a pull's messages in transit): applying the later ones would skip it for good, since
    the checkpoint is the last sequence applied and ``AckPolicy.ALL`` acks everything below it."""

    def __init__(self, seq: int) -> None:
        super().__init__(f"stream sequence {seq} was not delivered before later ones")
        self.seq = seq


def first_gap(seqs: list[int], expected: int) -> int | None:
    """The first sequence from ``expected`` on that ``seqs`` (as delivered) skips, or None. The projector
    reads every subject of the stream, so its sequences are contiguous but for messages the stream
    deleted; a sequence below ``expected`` was applied already."""
    for seq in seqs:
        if seq > expected:
            return expected
        if seq == expected:
            expected += 1
    return None


async def project_forever() -> None:
    """Project until stopped; when a replay swaps the vault file in, start again on the new file
    from its checkpoint (what was written to the old file since is applied again from the stream).
    A database or server error is retried with backoff until it clears (see ``RETRIED``)."""
    while not _stopping.is_set():
        try:
            await _project_once()
            return
        except VaultSwapped:
            service.log.warning("vault_swapped", vault=service.settings.vault_database_url)
        except DeliveryGap as gap:  # read again from the checkpoint: the missing event comes first
            service.log.warning("projector_delivery_gap", seq=gap.seq)
        except RETRIED as exc:
            delay = _outage.failed(exc)
            service.log.warning("projector_retrying", error=_outage.error, attempt=_outage.attempts,
                                retry_in_seconds=delay, vault=vault_file(service.settings.vault_database_url))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_stopping.wait(), delay)


async def _project_once() -> None:
    settings = service.settings
    batch_tracer = BatchTracer(service.name)
    engine = open_writer(settings.vault_database_url, busy_timeout=BUSY_TIMEOUT_SECONDS)
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
        await _consume(reader, projection, batch_tracer, watch, start)
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
                   watch: _SwapWatch, expected: int) -> None:
    """Apply whatever has arrived, up to HUNTER_PROJECTOR_BATCH events a transaction, while the reader
    keeps reading: under load batches grow to that size, so the lag stays bounded."""
    limit = service.settings.projector_batch
    stop_by: float | None = None
    while True:
        if _stopping.is_set() and stop_by is None:
            stop_by = time.monotonic() + STOP_SECONDS
        if stop_by is not None and time.monotonic() > stop_by:  # still busy: the rest is applied at the next start
            service.log.info("projector_stopped", seq=projection.checkpoint(), buffered=len(reader.buffer))
            return
        msgs = await reader.take(limit, timeout=0.2 if _stopping.is_set() else 1.0)
        watch.check()
        if not msgs:
            if _stopping.is_set():
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
        _outage.recovered()
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
    _tasks.append(task)


_tasks: list[asyncio.Task[None]] = []
_stopping = asyncio.Event()


@app.on_shutdown
async def drain_before_stopping() -> None:
    """On SIGTERM, apply what has arrived (for ``STOP_SECONDS`` at most) before exiting; a retry waiting
    for the vault stops at once. What is left is applied from the checkpoint at the next start."""
    _stopping.set()
    if _tasks:
        _, pending = await asyncio.wait(_tasks, timeout=STOP_SECONDS + BUSY_TIMEOUT_SECONDS + 1)
        for task in pending:
            task.cancel()


def _crash_on_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        service.log.error("projector_crashed", error=repr(exc), exc_info=exc)
        os._exit(1)  # crash loudly: the supervisor restarts us and we resume from the checkpoint
