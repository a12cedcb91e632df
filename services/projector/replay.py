"""Rebuild the vault from the stream: into a fresh database, then swapped in atomically.

``to_seq`` stops at a stream sequence, ``to_time`` at the last event the stream stored at or
before that instant (the stream's own timestamps, not the events' ``occurred_at``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from services.projector.db import make_engine
from services.projector.digest import vault_digest
from services.projector.projection import Projection, RawEvent
from shared.bus import Bus
from shared.events import STREAM_NAME


def parse_time(value: str) -> datetime:
    """An ISO time; without a zone it is UTC."""
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def read_batches(bus: Bus, *, to_seq: int | None = None, to_time: datetime | None = None,
                       batch: int = 500) -> AsyncIterator[list[RawEvent]]:
    """The stream from sequence 1, in batches, up to ``to_seq`` and ``to_time`` (both inclusive)."""
    end = await bus.last_seq()
    if to_seq is not None:
        end = min(end, to_seq)
    if end < 1:
        return
    config = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE, inactive_threshold=30.0,
        mem_storage=True, max_ack_pending=-1,
    )
    psub = await bus.js.pull_subscribe(">", stream=bus.stream, config=config)
    try:
        while True:
            try:
                msgs = await psub.fetch(batch, timeout=2.0)
            except (NatsTimeoutError, TimeoutError):  # nats-py raises either on an empty fetch
                return
            out: list[RawEvent] = []
            for m in msgs:
                md = m.metadata
                seq = md.sequence.stream
                if seq > end or (to_time is not None and md.timestamp > to_time):
                    if out:
                        yield out
                    return
                out.append((seq, m.subject, m.data))
            if out:
                yield out
            if out and out[-1][0] >= end:
                return
    finally:
        with contextlib.suppress(Exception):
            await psub.unsubscribe()


async def rebuild_into(bus: Bus, url: str, *, to_seq: int | None = None, to_time: datetime | None = None,
                       batch: int = 500, apply_batch: int = 2000) -> tuple[int, str]:
    """Project every event up to ``to_seq`` / ``to_time`` (default: all) into the database at ``url``:
    fetched ``batch`` at a time, applied ``apply_batch`` at a time (one transaction each)."""
    engine = make_engine(url)
    projection = Projection(engine)
    total = 0
    queue: asyncio.Queue[list[RawEvent] | None] = asyncio.Queue(maxsize=4)

    async def read() -> None:  # reading the next batches overlaps applying this one
        pending: list[RawEvent] = []
        try:
            async for events in read_batches(bus, to_seq=to_seq, to_time=to_time, batch=batch):
                pending.extend(events)
                if len(pending) >= apply_batch:
                    await queue.put(pending)
                    pending = []
            if pending:
                await queue.put(pending)
        finally:
            await queue.put(None)

    reader = asyncio.create_task(read())
    try:
        while (events := await queue.get()) is not None:
            total += await asyncio.to_thread(projection.apply, events)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    digest = vault_digest(engine)
    engine.dispose()
    return total, digest


async def replay_vault(bus: Bus, vault_url: str, *, to_seq: int | None = None,
                       to_time: datetime | None = None) -> tuple[int, str]:
    """Rebuild the vault at ``vault_url``. SQLite: build beside it and swap the file in."""
    url = make_url(vault_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        engine = make_engine(vault_url)
        SQLModel.metadata.drop_all(engine)
        engine.dispose()
        return await rebuild_into(bus, vault_url, to_seq=to_seq, to_time=to_time)
    target = Path(url.database)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".replay")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    applied, digest = await rebuild_into(bus, f"sqlite:///{tmp}", to_seq=to_seq, to_time=to_time)
    for p in (Path(f"{target}-wal"), Path(f"{target}-shm")):
        p.unlink(missing_ok=True)
    os.replace(tmp, target)
    return applied, digest


__all__ = ["replay_vault", "rebuild_into", "read_batches", "parse_time", "STREAM_NAME"]
