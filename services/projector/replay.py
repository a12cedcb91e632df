"""Rebuild the vault from the stream: into a fresh database, then swapped in atomically.

``to_seq`` stops at a stream sequence, ``to_time`` at the last event the stream stored at or
before that instant (the stream's own timestamps, not the events' ``occurred_at``). Such a vault
of the past is never swapped in over the live one: it is written to a separate vault
(:func:`separate_vault_url`), and only a full replay replaces the live vault."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from nats.js import api
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from services.projector.digest import vault_digest
from services.projector.pg_swap import drop_scratch, ensure_schema, fresh_scratch, in_schema, swap_in, vault_schema
from services.projector.projection import HOLD_COMPANIES, Projection, RawEvent
from services.projector.stream_reader import StreamReader
from shared.bus import Bus
from shared.events import STREAM_NAME
from shared.gc_policy import few_collections
from shared.vault.access import open_writer
from shared.vault.engine import build_indexes, make_engine, vault_file


def parse_time(value: str) -> datetime:
    """An ISO time; without a zone it is UTC."""
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


STALL_S = 120.0  # a replay waiting this long for the stream's next event fails (it never stops short)


async def read_batches(bus: Bus, *, to_seq: int | None = None, to_time: datetime | None = None,
                       batch: int = 2000) -> AsyncIterator[list[RawEvent]]:
    """The stream from sequence 1, in batches of up to ``batch``, up to ``to_seq`` and ``to_time`` (both
    inclusive). The stream is read ahead while the caller works on a batch."""
    end = await bus.last_seq()
    if to_seq is not None:
        end = min(end, to_seq)
    if end < 1:
        return
    until_ns = None if to_time is None else int(to_time.timestamp() * 1e9)
    config = api.ConsumerConfig(  # (deleted at the end; the threshold only covers a crashed replay)
        deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE, inactive_threshold=600.0,
        mem_storage=True, max_ack_pending=-1,
    )
    consumer = (await bus.js.add_consumer(bus.stream, config=config)).name
    reader = StreamReader(bus.nc, bus.stream, consumer, batch=min(batch, 2000), buffered=max(4 * batch, 8000),
                          expires=None)
    await reader.start()
    last, waiting_since = 0, time.monotonic()
    try:
        while True:
            msgs = await reader.take(batch, timeout=5.0)
            if not msgs:  # the end of the stream, or a reader behind: never a reason to stop short
                if reader.exhausted:
                    info = await bus.js.consumer_info(bus.stream, consumer)
                    if not info.num_pending:
                        return  # nothing more stored (to_seq / to_time past the stream's end)
                    await reader.resume()  # "no messages" while some wait: ask again
                if time.monotonic() - waiting_since > STALL_S:
                    raise RuntimeError(f"replay: no event from the stream for {STALL_S:.0f} s after sequence {last}"
                                       f" (expected up to {end})")
                continue
            waiting_since, last = time.monotonic(), msgs[-1].seq
            out: list[RawEvent] = []
            for m in msgs:
                if m.seq > end or (until_ns is not None and m.timestamp_ns > until_ns):
                    if out:
                        yield out
                    return
                out.append((m.seq, m.subject, m.data))
            yield out
            if out[-1][0] >= end:
                return
    finally:
        await reader.stop()
        with contextlib.suppress(Exception):
            await bus.js.delete_consumer(bus.stream, consumer)


async def rebuild_into(bus: Bus, url: str, *, to_seq: int | None = None, to_time: datetime | None = None,
                       apply_batch: int = 5000) -> tuple[int, str]:
    """Project every event up to ``to_seq`` / ``to_time`` (default: all) into the fresh database at
    ``url``, ``apply_batch`` events at a time (one transaction each) while the next ones are read and
    decoded; then build the secondary indexes and return (events applied, the vault's digest)."""
    engine = open_writer(url, bulk=True)  # no secondary index yet: they are built once, after the load
    # a SQLite file is swapped in once complete: company rows can wait for their latest record
    projection = Projection(engine, fresh=True, hold_companies=HOLD_COMPANIES if engine.dialect.name == "sqlite" else 0)
    total, last = 0, 0
    writing: asyncio.Future[int] | None = None
    try:
        with few_collections():
            async for events in read_batches(bus, to_seq=to_seq, to_time=to_time, batch=apply_batch):
                # decoded while the previous batch is applied in a thread (its SQLite work lets go of the GIL)
                decoded = projection.decode(events, after=last)
                last = decoded.seqs[-1] if decoded.seqs else last
                if writing is not None:
                    total += await writing
                writing = asyncio.ensure_future(asyncio.to_thread(projection.apply_decoded, decoded))
            if writing is not None:
                total, writing = total + await writing, None
            await asyncio.to_thread(projection.finish)
            await asyncio.to_thread(build_indexes, engine)
            digest = vault_digest(engine)  # (with few collections too: its row lists set off full ones)
    finally:
        if writing is not None:  # failed while a batch was being applied: let it end before the engine goes
            with contextlib.suppress(Exception):
                await writing
    engine.dispose()
    return total, digest


class ReplayRefused(ValueError):
    """A replay that would put a vault of the past in place of the live one, or write over it."""


_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def separate_vault_url(vault_url: str, *, out_path: str | Path | None = None, out_schema: str | None = None) -> str:
    """The URL of the separate vault a replay to a sequence or time writes: a SQLite file at ``out_path``,
    or the PostgreSQL schema ``out_schema`` beside the live vault's. Never the live vault itself."""
    if out_path is not None and out_schema is not None:
        raise ReplayRefused("give either --out PATH or --out-schema NAME, not both")
    if out_path is not None:
        target = Path(out_path).expanduser().resolve()
        live = vault_file(vault_url)
        if live is not None and Path(live).resolve() == target:
            raise ReplayRefused(f"--out {target} is the live vault: name another file")
        return f"sqlite:///{target}"
    if out_schema is not None:
        if make_url(vault_url).get_backend_name() != "postgresql":
            raise ReplayRefused("--out-schema needs a PostgreSQL vault (HUNTER_VAULT_URL); use --out PATH for SQLite")
        if not _SCHEMA_NAME.match(out_schema):
            raise ReplayRefused(f"--out-schema {out_schema!r}: lower-case letters, digits and _ only")
        engine = make_engine(vault_url, create=False)
        try:
            live_schema = vault_schema(engine)
        finally:
            engine.dispose()
        if out_schema in (live_schema, f"{live_schema}_replay", f"{live_schema}_replaced"):
            raise ReplayRefused(f"--out-schema {out_schema} is the live vault's schema (or its replay's): "
                                "name another one")
        return in_schema(vault_url, out_schema)
    raise ReplayRefused("a replay to a sequence or a time writes a separate vault and leaves the live one alone: "
                        "give --out PATH (a SQLite file) or --out-schema NAME (PostgreSQL)")


async def replay_vault(bus: Bus, vault_url: str, *, to_seq: int | None = None,
                       to_time: datetime | None = None, live: bool = True) -> tuple[int, str]:
    """Rebuild the vault at ``vault_url``. SQLite: build beside it and swap the file in; PostgreSQL:
    build in a schema beside it and swap the tables in (``pg_swap``); other databases: in place.
    A ``live`` vault (the one the services use) is only ever replaced by a full replay: a stop at
    ``to_seq`` / ``to_time`` goes to a separate vault (``live=False``, :func:`separate_vault_url`)."""
    if live and (to_seq is not None or to_time is not None):
        raise ReplayRefused("a replay to a sequence or a time never replaces the live vault: write it to a "
                            "separate vault (--out PATH or --out-schema NAME)")
    url = make_url(vault_url)
    if url.get_backend_name() == "postgresql":  # built in a scratch schema, swapped in in one transaction
        if not live:  # a separate vault's schema may not exist yet
            ensure_schema(vault_url)
        schema, scratch_url = fresh_scratch(vault_url)
        try:
            applied, digest = await rebuild_into(bus, scratch_url, to_seq=to_seq, to_time=to_time)
        except BaseException:
            drop_scratch(vault_url, schema)
            raise
        swap_in(vault_url, schema)
        return applied, digest
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
    # built without a journal: switched to WAL here, before anyone else opens it, so that the processes
    # reading and writing the vault after the swap need not all race to switch it (an exclusive lock each)
    await asyncio.to_thread(_to_wal, tmp)
    for p in (Path(f"{target}-wal"), Path(f"{target}-shm")):
        p.unlink(missing_ok=True)
    os.replace(tmp, target)
    return applied, digest


def _to_wal(path: Path) -> None:
    conn = sqlite3.connect(path, timeout=30)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"could not switch {path} to WAL (journal mode {mode})")
    finally:
        conn.close()  # the last connection: its -wal and -shm files are removed


__all__ = ["replay_vault", "separate_vault_url", "ReplayRefused", "rebuild_into", "read_batches", "parse_time",
           "STREAM_NAME"]
