"""A JetStream pull consumer for handlers that run hundreds of messages at once (the enricher).

FastStream's concurrent subscriber costs ~190 us of CPU per message on top of the handler (an anyio
task group and semaphore, a context scope, a middleware chain per message; measured against this loop
on the same stream). :class:`PullConsumer` does the same job with nats-py directly: it asks the server
for as many messages as it has free slots, runs each in an asyncio task as it arrives, acks it when the
handler returns, naks it when the handler raises (redelivered at once, to any replica), and tells the
server every quarter of the ack wait that the messages still running are in progress (one timer for all
of them, not one task each).
The durable consumer is the one FastStream would create (same name, filter subject, ack wait and
deliveries), so replicas and restarts share it the same way.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext, api

from shared.adapters.nats_jetstream import api_prefix, client_of


class RetryLater(Exception):  # noqa: N818 - an instruction, not an error
    """Raised by a handler wrapper: nak the message with this delay (seconds) instead of at once."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.1f}s")
        self.delay = delay


class RawMessage:
    """What the services' message wrappers read of a FastStream ``NatsMessage``, over a nats-py message."""

    __slots__ = ("raw_message",)

    def __init__(self, msg: Msg) -> None:
        self.raw_message = msg

    @property
    def body(self) -> bytes:
        return self.raw_message.data

    async def in_progress(self) -> None:
        await self.raw_message.in_progress()


Handle = Callable[[Any], Awaitable[None]]

PULL_GRACE = 2.0  # seconds past a pull request's expiry before its missing answer counts as lost
REFUSED_PAUSE = 1.0  # seconds before asking again when the server refused a request (a consumer deleted...)


@dataclass(slots=True)
class _PullRequest:
    asked: int
    left: int  # messages still to come
    deadline: float  # monotonic time by which the server has answered it


class PullConsumer:
    def __init__(self, js: JetStreamContext, *, stream: str, subject: str, durable: str, handle: Handle,
                 max_workers: int, ack_wait: float, max_deliver: int, fetch_timeout: float = 5.0,
                 log: Any = None, nc: NATS | None = None, max_ack_pending: int | None = None) -> None:
        self.js = js
        self.nc: NATS = nc if nc is not None else client_of(js)
        self.stream = stream
        self.subject = subject
        self.durable = durable
        self.handle = handle
        self.max_workers = max(1, max_workers)
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self.fetch_timeout = fetch_timeout  # how long one pull request waits on the server
        # messages out unacked across every process sharing the consumer (None: the server's default, 1000;
        # -1: no limit, each process bounded by its max_workers alone)
        self.max_ack_pending = max_ack_pending
        self.log = log
        self._free = self.max_workers
        self._changed = asyncio.Event()  # a slot freed or a pull request ended
        self._running: dict[asyncio.Task[None], Msg] = {}
        self._backlog: collections.deque[Msg] = collections.deque()  # delivered beyond the free slots
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._sub: Subscription | None = None
        self._request: _PullRequest | None = None
        self._pause_until = 0.0
        self._next_subject = f"{api_prefix(js)}.CONSUMER.MSG.NEXT.{stream}.{durable}"

    async def start(self) -> None:
        await self._ensure_consumer()
        inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(inbox, cb=self._delivered)
        self._tasks = [asyncio.create_task(self._pull(inbox)), asyncio.create_task(self._heartbeats())]

    async def _ensure_consumer(self) -> None:
        """The durable consumer as FastStream's subscriber (through nats-py) would create it, or the one there
        (its ``max_ack_pending`` updated to this one's, when given)."""
        try:
            info = await self.js.consumer_info(self.stream, self.durable)
        except nats.js.errors.NotFoundError:
            config = api.ConsumerConfig(name=self.durable, durable_name=self.durable, filter_subject=self.subject,
                                        ack_wait=self.ack_wait, max_deliver=self.max_deliver,
                                        max_ack_pending=self.max_ack_pending)
            with contextlib.suppress(nats.js.errors.BadRequestError):  # another replica created it meanwhile
                await self.js.add_consumer(self.stream, config=config)
                return
            info = await self.js.consumer_info(self.stream, self.durable)
        if self.max_ack_pending is not None and info.config.max_ack_pending != self.max_ack_pending:
            await self.js.add_consumer(self.stream, config=info.config.evolve(max_ack_pending=self.max_ack_pending))

    async def stop(self, grace: float = 10.0) -> None:
        """Stop pulling; wait up to ``grace`` seconds for the running messages, then nak the rest."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._sub is not None:
            # no interest left in the pull requests' inbox: the server gives what is handed back below to
            # another consumer, not to a request still waiting here
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        backlog, self._backlog = list(self._backlog), collections.deque()
        for msg in backlog:
            with contextlib.suppress(Exception):
                await msg.nak()
        if self._running:
            done, pending = await asyncio.wait(list(self._running), timeout=grace)
            for task in pending:
                msg = self._running.get(task)
                task.cancel()
                if msg is not None:
                    with contextlib.suppress(Exception):
                        await msg.nak()

    async def _pull(self, inbox: str) -> None:
        """One pull request at a time, for the free slots, each message started as it arrives.

        (nats-py's ``fetch`` returns a batch only once it is full or its time is up: when the consumer's
        ``max_ack_pending`` holds the server back, e.g. replicas asking for more leads than it lets out, the
        leads it hands out one by one waited in the batch for seconds.) The server ends a request when it
        has delivered the batch, or with a status (no messages, request timeout...); one that goes
        unanswered past its expiry (a reconnect) counts as over. A request lingering for a few leads while
        more slots free up loses nothing: it lingers because the server has nothing to hand out."""
        while not self._stopping:
            request = self._request
            if request is not None:
                left = request.deadline - time.monotonic()
                if left > 0:
                    self._changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), left)
                    continue
                self._request = None  # unanswered past its expiry
            pause = self._pause_until - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            want = self._free - len(self._backlog)
            if want <= 0:
                self._changed.clear()
                await self._changed.wait()
                continue
            self._request = _PullRequest(want, want, time.monotonic() + self.fetch_timeout + PULL_GRACE)
            body = json.dumps({"batch": want, "expires": int(self.fetch_timeout * 1e9)}).encode()
            try:
                await self.nc.publish(self._next_subject, body, reply=inbox)
            except nats.errors.ConnectionClosedError:
                return
            except Exception as exc:  # noqa: BLE001 - a reconnecting server: try again shortly
                self._request = None
                if self.log is not None:
                    self.log.warning("pull_failed", durable=self.durable, error=str(exc))
                await asyncio.sleep(1.0)

    async def _delivered(self, msg: Msg) -> None:
        request = self._request
        status = msg.headers.get(api.Header.STATUS) if msg.headers else None
        if status:
            if status != "100" and request is not None:  # not a heartbeat: the request is over
                if status != "408" and request.left == request.asked:  # refused (no consumer...): not at once
                    self._pause_until = time.monotonic() + REFUSED_PAUSE
                    if self.log is not None:
                        self.log.warning("pull_refused", durable=self.durable, status=status,
                                         description=msg.headers.get(api.Header.DESCRIPTION) if msg.headers else None)
                self._request = None
                self._changed.set()
            return
        if self._stopping:
            with contextlib.suppress(Exception):
                await msg.nak()
            return
        if request is not None:
            request.left -= 1
            if request.left <= 0:
                self._request = None
                self._changed.set()
        if self._free > 0:
            self._start(msg)
        else:  # a request the server answered late: run it when a slot frees
            self._backlog.append(msg)

    def _start(self, msg: Msg) -> None:
        self._free -= 1
        self._running[asyncio.create_task(self._run(msg))] = msg

    async def _run(self, msg: Msg) -> None:
        try:
            try:
                await self.handle(RawMessage(msg))
            except asyncio.CancelledError:
                raise
            except RetryLater as later:
                with contextlib.suppress(Exception):
                    await msg.nak(delay=later.delay)
                return
            except Exception:  # noqa: BLE001 - the wrapper logged it; redeliver
                with contextlib.suppress(Exception):
                    await msg.nak()
                return
            with contextlib.suppress(Exception):
                await msg.ack()
        finally:
            self._running.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            self._free += 1
            if self._backlog and not self._stopping:
                self._start(self._backlog.popleft())
            self._changed.set()

    async def _heartbeats(self) -> None:
        # every running message, every quarter of the ack wait: one fetched just after a tick is told at the
        # next one, so the server hears of each message at least twice per ack wait even when this loop is late
        every = max(0.05, self.ack_wait / 4)
        while True:
            await asyncio.sleep(every)
            for msg in [*self._running.values(), *self._backlog]:
                with contextlib.suppress(Exception):
                    await msg.in_progress()
