"""Read a JetStream pull consumer fast: big pull requests on one plain subscription.

nats-py's ``fetch`` costs a task and a ``wait_for`` per message, and ``msg.metadata`` parses the
ack reply subject into objects: at tens of thousands of messages a second that is most of the
reading. Here a callback appends each message to a buffer (sequence and timestamp read from the
ack reply subject with one ``split``), pull requests ask for up to ``batch`` messages /
``max_bytes`` at a time and the next one goes out as soon as the previous one is done, as long as
fewer than ``buffered`` messages wait to be taken, which bounds memory while the reader stays
ahead of the consumer."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, NamedTuple

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

_DONE_STATUSES = {"404", "408", "409"}  # no messages, request expired, request limits reached


class Fetched(NamedTuple):
    seq: int  # stream sequence
    subject: str
    data: bytes
    reply: str  # the ack subject
    headers: dict[str, str] | None
    timestamp_ns: int  # when the stream stored it


def reply_metadata(reply: str) -> tuple[int, int]:
    """(stream sequence, timestamp ns) of a JetStream ack subject, v1
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`` or v2 (with domain and
    account hash after ``ACK``)."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[7])
    return int(tokens[7]), int(tokens[9])


class StreamReader:
    def __init__(self, nc: NATS, stream: str, consumer: str, *, batch: int = 2000, max_bytes: int = 16 << 20,
                 buffered: int = 20_000, expires: float | None = 1.0) -> None:
        """``expires`` None: requests do not wait for new messages (a replay of what is stored)."""
        self.nc, self.stream, self.consumer = nc, stream, consumer
        self.batch, self.max_bytes, self.buffered, self.expires = batch, max_bytes, buffered, expires
        self.buffer: list[Fetched] = []
        self.exhausted = False  # a no-wait request found nothing more
        self._arrived = asyncio.Event()
        self._request_done = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._outstanding = 0
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(inbox, cb=self._on_msg, pending_msgs_limit=-1, pending_bytes_limit=-1)
        self._inbox = inbox
        self._task = asyncio.create_task(self._pull_forever())

    async def resume(self) -> None:
        """Pull again after a request found no message (``exhausted``)."""
        self.exhausted = False
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._pull_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_msg(self, msg: Msg) -> None:
        if not msg.data and msg.headers and msg.headers.get("Status"):  # the end of a pull request
            if msg.headers["Status"] in _DONE_STATUSES:
                if msg.headers["Status"] == "404" and self.expires is None:
                    self.exhausted = True
                self._finish_request()
            return
        seq, ts = reply_metadata(msg.reply)
        self.buffer.append(Fetched(seq, msg.subject, msg.data, msg.reply, msg.headers, ts))
        self._received += 1
        if self._received >= self._asked:
            self._finish_request()
        if len(self.buffer) >= self.buffered:
            self._room.clear()
        self._arrived.set()

    def _finish_request(self) -> None:
        self._outstanding = 0
        self._request_done.set()
        self._arrived.set()

    async def _pull_forever(self) -> None:
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}"
        while not self.exhausted:
            await self._room.wait()
            request: dict[str, Any] = {"batch": self.batch, "max_bytes": self.max_bytes}
            if self.expires is None:
                request["no_wait"] = True
            else:
                request["expires"] = int(self.expires * 1e9)
            self._asked, self._received, self._outstanding = self.batch, 0, 1
            self._request_done.clear()
            await self.nc.publish(subject, json.dumps(request).encode(), reply=self._inbox)
            try:  # a request lost with a reconnect ends on our own clock
                await asyncio.wait_for(self._request_done.wait(), (self.expires or 5.0) + 5.0)
            except TimeoutError:
                self._outstanding = 0

    async def take(self, limit: int, timeout: float) -> list[Fetched]:
        """Up to ``limit`` buffered messages, waiting up to ``timeout`` for a first one ([]: none came,
        or a replay reached the end of what the stream holds)."""
        if not self.buffer and not self.exhausted:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
        out, self.buffer = self.buffer[:limit], self.buffer[limit:]
        if len(self.buffer) < self.buffered:
            self._room.set()
        return out
