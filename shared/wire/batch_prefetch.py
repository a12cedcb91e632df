"""A run's batch events taken as they are published, ahead of the run-level step that needs them all.

The cleaner and the scorer handle a whole run when its step arrives (extract / clean ``completed``);
the batches were published before, one by one. Each service process follows the batch subject
with an ephemeral pull consumer of its own (new messages only, no acks; it pulls a few at a time,
so a burst waits in the stream, never in a server buffer) and decodes and prepares each batch as
it comes, in a worker thread (the cleaner checks ids and parses contacts, the scorer scores v1).
When the step comes only the run-level work is left.

The stream stays the source of truth. :meth:`BatchPrefetch.take` lists the run's messages on the
stream (headers only: their sequences), waits until the follower has passed the last of them, and
uses the prepared batch of each sequence it holds; whatever it does not hold (published before the
process started, a follower that fell over) is read from the stream and prepared then. The
result is what reading the whole subject and preparing it gives. Batches of runs that never
reach their step are dropped, oldest run first, past ``max_batches``, and after ``idle_seconds``
without a new batch. While batches are held the cyclic GC is paused (see ``_hold``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, NamedTuple, TypeVar

from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api

from shared.bus import Bus
from shared.gc_policy import gc_paused, pause_gc, resume_gc
from shared.wire.batch_codec import IncompleteRead, decode_mirror

log = logging.getLogger(__name__)
B = TypeVar("B")  # a batch event's records mirror (records.LeadsExtracted ...)
C = TypeVar("C")  # what preparing a run's batches needs (the scorer: the run's profile)
P = TypeVar("P")  # what the stage prepares from one batch


class Listed(NamedTuple):
    seq: int
    msg_id: str


async def list_messages(bus: Bus, subject: str, *, fetch: int = 256, timeout: float = 30.0) -> list[Listed]:
    """Every message the stream holds on ``subject`` (as many as when called), headers only."""
    expected = await bus.count(subject)
    if not expected:
        return []
    config = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE, filter_subject=subject,
        inactive_threshold=60.0, mem_storage=True, max_ack_pending=-1, headers_only=True,
    )
    psub = await bus.js.pull_subscribe(subject, stream=bus.stream, config=config)
    out: list[Listed] = []
    try:
        while len(out) < expected:
            try:
                msgs = await psub.fetch(min(fetch, expected - len(out)), timeout=timeout)
            except NatsTimeoutError:
                raise IncompleteRead(f"{subject}: listed {len(out)} of {expected} messages") from None
            for m in msgs:
                out.append(Listed(m.metadata.sequence.stream, (m.headers or {}).get("Nats-Msg-Id", "")))
    finally:
        with contextlib.suppress(Exception):
            await psub.unsubscribe()
    return out[:expected]


async def read_seqs(bus: Bus, subject: str, seqs: set[int], *, fetch: int = 64,
                    timeout: float = 30.0) -> dict[int, bytes]:
    """The bodies of the messages at ``seqs`` on ``subject`` (one ordered read from the first)."""
    if not seqs:
        return {}
    first, last = min(seqs), max(seqs)
    config = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first, ack_policy=api.AckPolicy.NONE,
        filter_subject=subject, inactive_threshold=60.0, mem_storage=True, max_ack_pending=-1,
    )
    psub = await bus.js.pull_subscribe(subject, stream=bus.stream, config=config)
    out: dict[int, bytes] = {}
    try:
        while len(out) < len(seqs):
            try:
                msgs = await psub.fetch(fetch, timeout=timeout)
            except NatsTimeoutError:
                raise IncompleteRead(f"{subject}: read {len(out)} of {len(seqs)} messages") from None
            for m in msgs:
                seq = m.metadata.sequence.stream
                if seq in seqs:
                    out[seq] = m.data
                if seq >= last:
                    break
            if msgs and msgs[-1].metadata.sequence.stream >= last:
                break
    finally:
        with contextlib.suppress(Exception):
            await psub.unsubscribe()
    if len(out) < len(seqs):
        raise IncompleteRead(f"{subject}: read {len(out)} of {len(seqs)} messages")
    return out


class BatchPrefetch(Generic[B, C, P]):
    """Batches of ``cls`` on ``pattern`` (e.g. ``lead.extracted.*``), prepared per run as they come.

    ``decode(data)`` (default: :func:`decode_mirror` as ``cls``) reads one message's body.
    ``prepare(context, batch)`` turns one decoded batch into what the run-level step uses, with
    the cyclic GC paused (a batch's few thousand new acyclic objects); ``context(run_id)`` is what
    it needs of the run. Both must give the same result whenever they are called: the step may
    prepare a batch again from the stream, and checks that the context it gets then is the one
    a batch was prepared with (``==``).
    """

    def __init__(self, pattern: str, cls: type[Any], prepare: Callable[[C, B], P], *,
                 context: Callable[[str], Awaitable[C]] | None = None, decode: Callable[[bytes], B] | None = None,
                 max_batches: int = 4000, idle_seconds: float = 900.0, fetch: int = 4,
                 catch_up_seconds: float = 60.0, read_chunk: int = 8) -> None:
        self.pattern, self.prepare, self.context = pattern, prepare, context
        self.decode: Callable[[bytes], B] = decode or (lambda data: decode_mirror(data, cls))
        self.max_batches, self.idle_seconds, self.fetch = max_batches, idle_seconds, fetch
        self.catch_up_seconds, self.read_chunk = catch_up_seconds, read_chunk
        self._runs: dict[str, dict[int, tuple[C | None, P]]] = {}  # run -> stream seq -> (context, prepared)
        self._last_batch: dict[str, float] = {}  # run -> when its last batch was kept (loop time)
        self._held = 0
        self._expiry: asyncio.TimerHandle | None = None
        self._taken: dict[str, None] = {}  # runs handed over: late copies are not kept
        self._start_seq = 0  # the follower sees what the stream stores after this sequence
        self._position = 0  # the last stream sequence the follower has handled
        self._changed = asyncio.Condition()
        self._follower: asyncio.Task[None] | None = None

    async def start(self, bus: Bus) -> None:
        self._follower = asyncio.create_task(self._follow(bus, await self._subscribe(bus)))

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower

    async def _subscribe(self, bus: Bus) -> Any:
        """A consumer of what the stream stores from now on (what came before is read by ``take``)."""
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.NEW, ack_policy=api.AckPolicy.NONE, filter_subject=self.pattern,
            inactive_threshold=300.0, mem_storage=True, max_ack_pending=-1,
        )
        psub = await bus.js.pull_subscribe(self.pattern, stream=bus.stream, config=config)
        info = await psub.consumer_info()
        self._start_seq = self._position = max(self._position, info.delivered.stream_seq)
        return psub

    async def _follow(self, bus: Bus, psub: Any) -> None:
        while True:
            try:
                await self._pull(psub)
            except (NatsError, OSError) as exc:  # the connection dropped, the consumer went away ...
                log.warning("batch follower of %s stopped (%s: %s); following again", self.pattern,
                            type(exc).__name__, exc)
            finally:
                with contextlib.suppress(NatsError, OSError):
                    await psub.unsubscribe()
            while True:
                try:
                    psub = await self._subscribe(bus)
                    break
                except (NatsError, OSError):
                    await asyncio.sleep(1.0)  # the server is away: try again (take() reads meanwhile)

    async def _pull(self, psub: Any) -> None:
        while True:
            try:
                msgs = await psub.fetch(self.fetch, timeout=5.0)
            except (NatsTimeoutError, TimeoutError):
                continue
            for m in msgs:
                seq = m.metadata.sequence.stream
                try:
                    await self._keep(seq, (m.headers or {}).get("Hunter-Run"), m.data)
                finally:
                    self._position = max(self._position, seq)
                    async with self._changed:
                        self._changed.notify_all()
                await asyncio.sleep(0)  # the connection's reader and the step's handler go on between batches

    def _decode_prepare(self, data: bytes, context: C | None) -> P | None:
        with gc_paused():
            try:
                batch = self.decode(data)
            except ValueError:
                return None  # the step reads it from the stream and says what is wrong with it
            return self.prepare(context, batch)  # type: ignore[arg-type]

    async def _keep(self, seq: int, run: str | None, data: bytes) -> None:
        if not run or run in self._taken:
            return
        context = await self.context(run) if self.context is not None else None
        prepared = await asyncio.to_thread(self._decode_prepare, data, context)
        if prepared is None or run in self._taken:
            return
        self._runs.setdefault(run, {})[seq] = (context, prepared)
        self._hold(1)
        loop = asyncio.get_running_loop()
        self._last_batch[run] = loop.time()
        while self._held > self.max_batches and len(self._runs) > 1:
            self._drop(next(iter(self._runs)))
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = loop.call_later(self.idle_seconds, self._expire)

    def _hold(self, batches: int) -> None:
        """While batches are held the cyclic GC is paused: a held run is a big tree of acyclic
        objects that the collector's passes would rescan again and again as it grows."""
        before, self._held = self._held, self._held + batches
        if before == 0 and self._held > 0:
            pause_gc()
        elif before > 0 and self._held == 0:
            resume_gc()

    def _drop(self, run: str) -> dict[int, tuple[C | None, P]]:
        held = self._runs.pop(run, {})
        self._last_batch.pop(run, None)
        self._hold(-len(held))
        return held

    def _expire(self) -> None:
        """Runs whose batches stopped coming long ago (an extraction that died) are dropped."""
        self._expiry = None
        horizon = asyncio.get_running_loop().time() - self.idle_seconds
        for run in [r for r, t in self._last_batch.items() if t <= horizon]:
            self._drop(run)

    async def _caught_up(self, last_seq: int) -> None:
        """Until the follower has handled ``last_seq`` (if it ever will: it follows from its start,
        and it may have fallen over; then the step reads the rest itself)."""
        if last_seq <= self._start_seq or self._follower is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.catch_up_seconds), self._changed:
                await self._changed.wait_for(
                    lambda: self._position >= last_seq or self._follower is None or self._follower.done())

    async def take(self, bus: Bus, subject: str, run: str) -> list[P]:
        """Every batch of ``run`` on ``subject`` (the stream's, in its order), prepared."""
        listed = await list_messages(bus, subject)
        context = await self.context(run) if self.context is not None else None
        if listed:
            await self._caught_up(listed[-1].seq)
        held = self._drop(run)
        self._taken[run] = None
        if len(self._taken) > 1024:
            self._taken.pop(next(iter(self._taken)))
        out: list[Any] = []
        missing: dict[int, int] = {}  # stream seq -> position
        for m in listed:
            hit = held.get(m.seq)
            if hit is not None and hit[0] == context:
                out.append(hit[1])
            else:
                missing[m.seq] = len(out)
                out.append(None)
        seqs = sorted(missing)  # read and prepared a chunk at a time: a whole run, maybe, never all at once
        for start in range(0, len(seqs), self.read_chunk):
            bodies = await read_seqs(bus, subject, set(seqs[start:start + self.read_chunk]), fetch=self.read_chunk)
            with gc_paused():
                decoded = {missing[seq]: self.decode(body) for seq, body in bodies.items()}
            del bodies

            def prepare_all(decoded: dict[int, Any] = decoded) -> None:
                with gc_paused():
                    for position, batch in decoded.items():
                        out[position] = self.prepare(context, batch)  # type: ignore[arg-type]

            await asyncio.to_thread(prepare_all)  # the event loop keeps going
        return out

    def forget(self, run: str) -> None:
        """Drop what is held for a run that will not be taken (cancelled, failed)."""
        self._drop(run)
        self._taken[run] = None
