"""The bus: one JetStream stream, idempotent publishing, and reading a subject back.

Every publish sets ``Nats-Msg-Id`` to the event id (deterministic ids make re-publishing a
no-op inside the dedup window) and injects the current OpenTelemetry context into the
message headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api
from nats.js.errors import BadRequestError, NoStreamResponseError, NotFoundError, ServiceUnavailableError
from opentelemetry import propagate

from shared.events import (
    STREAM_NAME,
    STREAM_SUBJECTS,
    Envelope,
    Event,
    RunRequested,
    Subjects,
    decode_event,
    decode_event_as,
    envelope,
    subject_for,
    subject_token,
)
from shared.logging import get_logger
from shared.nats_security import client_options

E = TypeVar("E", bound=Event)

# The stream cannot answer for a moment: no leader (a JetStream cluster electing one after losing a node),
# or the server is reconnecting. Asking again shortly is right; the event ids make a repeated publish a no-op.
BUS_UNAVAILABLE: tuple[type[BaseException], ...] = (
    NoStreamResponseError, NoRespondersError, ServiceUnavailableError, NatsTimeoutError, asyncio.TimeoutError,
)
log = get_logger("bus")
PUBLISH_RETRY_SECONDS = 60.0  # how long a publish keeps trying while the stream is unavailable


def encode(env: Envelope) -> bytes:
    return env.model_dump_json().encode()


def decode(data: bytes) -> Envelope:
    return Envelope.model_validate_json(data)


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    subject: str
    envelope: Envelope
    headers: dict[str, str]

    def event(self) -> Event:
        return decode_event(self.envelope)

    def event_as(self, cls: type[E]) -> E:
        """The event, which must be a ``cls`` (else :class:`~shared.events.WrongEventType`, bad input)."""
        return decode_event_as(self.envelope, cls)


async def ensure_stream(js: Any, *, name: str = STREAM_NAME, dedup_window_seconds: int = 3600,
                        replicas: int | None = None) -> None:
    """Create the stream, or bring its subjects up to date. Safe to call from every process.

    ``replicas``: copies kept on a JetStream cluster (default ``HUNTER_STREAM_REPLICAS``); set when the stream
    is created (an existing stream keeps its own)."""
    if replicas is None:
        from shared.config import get_settings

        replicas = get_settings().stream_replicas
    config = api.StreamConfig(
        name=name,
        subjects=STREAM_SUBJECTS,
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS,
        duplicate_window=float(dedup_window_seconds),
        allow_direct=True,
        num_replicas=replicas,
    )
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(config=config)
        except BadRequestError:  # created concurrently by another process
            await js.stream_info(name)
        return
    if set(info.config.subjects or []) != set(STREAM_SUBJECTS):
        info.config.subjects = STREAM_SUBJECTS
        await js.update_stream(config=info.config)


class Bus:
    def __init__(self, nc: NATS, *, stream: str = STREAM_NAME, service: str = "hunter",
                 retry_seconds: float = PUBLISH_RETRY_SECONDS) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.stream = stream
        self.service = service
        self.retry_seconds = retry_seconds

    async def _until_stored(self, publish: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``publish`` again while the stream is unavailable (a leader election, a reconnect), up to
        ``retry_seconds``. Safe because every message carries its event id as ``Nats-Msg-Id``: what the
        stream stored before its ack was lost is not stored twice (dedup window)."""
        deadline = time.monotonic() + self.retry_seconds
        pause = 0.1
        while True:
            try:
                return await publish()
            except BUS_UNAVAILABLE:
                if time.monotonic() + pause > deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(2 * pause, 2.0)

    async def publish_all(self, items: list[tuple[str, Envelope]], *, timeout: float | None = None) -> list[Any]:
        """Publish wrapped events pipelined (publish_async) and wait for every ack; all again, while the
        stream is unavailable (those already stored are deduplicated). Returns the acks, in order."""
        async def attempt() -> list[Any]:
            futures = [await self.js.publish_async(subj, encode(env), stream=self.stream, headers=self.headers(env))
                       for subj, env in items]
            gathered = asyncio.gather(*futures, return_exceptions=True)
            acks = await (asyncio.wait_for(gathered, timeout) if timeout else gathered)
            for ack in acks:
                if isinstance(ack, BaseException):
                    raise ack
            return acks

        return await self._until_stored(attempt) if items else []

    def headers(self, env: Envelope) -> dict[str, str]:
        """The NATS headers an event is published with: its id (the stream's dedup key), type, run and
        lead, and the current trace context."""
        headers = {"Nats-Msg-Id": env.event_id, "Hunter-Type": env.type}
        if env.run_id:
            headers["Hunter-Run"] = env.run_id
        if env.lead_key:
            headers["Hunter-Lead"] = env.lead_key
        propagate.inject(headers)
        return headers

    def observe(self, event: Event) -> None:
        """Told of each event published, pre-encoded ones too: nothing here; a service's bus
        (``shared.service.ObservedBus``) counts them and marks their leads' traces."""

    def wrap(
        self,
        event: Event,
        *,
        key: tuple[object, ...] | None = None,
        lead_key: str | None = None,
        causation_id: str | None = None,
        occurred_at: datetime | None = None,
        subject: str | None = None,
        payload: dict[str, Any] | None = None,
        **tokens: str,
    ) -> tuple[str, Envelope]:
        env = envelope(event, key=key, lead_key=lead_key, causation_id=causation_id, occurred_at=occurred_at,
                       payload=payload)
        return subject or subject_for(event, **tokens), env

    async def publish(
        self,
        event: Event,
        *,
        key: tuple[object, ...] | None = None,
        lead_key: str | None = None,
        causation_id: str | None = None,
        occurred_at: datetime | None = None,
        subject: str | None = None,
        **tokens: str,
    ) -> int:
        """Publish one event and wait for the stream's ack; returns its stream sequence."""
        subj, env = self.wrap(
            event, key=key, lead_key=lead_key, causation_id=causation_id,
            occurred_at=occurred_at, subject=subject, **tokens,
        )
        data, headers = encode(env), self.headers(env)
        ack = await self._until_stored(lambda: self.js.publish(subj, data, stream=self.stream, headers=headers))
        return ack.seq

    async def publish_many(self, items: Iterable[tuple[str, Envelope]]) -> int:
        """Publish many wrapped events pipelined (publish_async), then wait for all acks."""
        items = list(items)
        await self.publish_all(items)
        return len(items)

    async def last_seq(self) -> int:
        info = await self.js.stream_info(self.stream)
        return info.state.last_seq

    async def count(self, subject: str) -> int:
        """How many messages the stream holds on one subject (or a wildcard filter)."""
        info = await self.js.stream_info(self.stream, subjects_filter=subject)
        return sum((info.state.subjects or {}).values())

    async def last(self, subject: str) -> StoredEvent | None:
        try:
            msg = await self.js.get_last_msg(self.stream, subject)
        except NotFoundError:
            return None
        return StoredEvent(msg.seq, msg.subject, decode(msg.data or b""), dict(msg.headers or {}))

    async def run_request(self, run_id: str) -> RunRequested | None:
        stored = await self.last(Subjects.RUN_REQUESTED.format(run_id=subject_token(run_id)))
        if stored is None:
            return None
        return stored.event_as(RunRequested)

    async def read(
        self,
        subject: str = ">",
        *,
        start_seq: int = 1,
        end_seq: int | None = None,
        batch: int = 1000,
        raw: bool = False,
        stall_timeouts: int = 30,
    ) -> AsyncIterator[StoredEvent | tuple[int, str, bytes, dict[str, str]]]:
        """Read what the stream holds on ``subject`` from ``start_seq`` up to now (or ``end_seq``).

        An ephemeral pull consumer without acks; it ends when nothing is pending. A fetch that
        times out while the server still counts pending messages is retried, never taken as the
        end: a slow read must not look like a short one. ``stall_timeouts`` consecutive empty
        fetches with messages pending raise ``TimeoutError``.
        With ``raw=True`` yields (seq, subject, data, headers) without decoding.
        """
        end = end_seq if end_seq is not None else await self.last_seq()
        if ">" not in subject and "*" not in subject:
            try:  # the last message's sequence only: it may be one that does not decode
                last = await self.js.get_last_msg(self.stream, subject)
            except NotFoundError:
                return
            end = min(end, last.seq)
        if end < start_seq:
            return
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(1, start_seq),
            ack_policy=api.AckPolicy.NONE,
            filter_subject=subject,
            inactive_threshold=30.0,
            mem_storage=True,
            max_ack_pending=-1,
        )
        psub = await self.js.pull_subscribe(subject, stream=self.stream, config=config)
        stalls = 0
        try:
            while True:
                try:
                    msgs = await psub.fetch(batch, timeout=2.0)
                except (NatsTimeoutError, TimeoutError):
                    info = await psub.consumer_info()
                    if not info.num_pending:
                        return
                    stalls += 1
                    if stalls >= stall_timeouts:
                        raise TimeoutError(f"reading {subject}: {info.num_pending} pending, none delivered") from None
                    continue
                stalls = 0
                for m in msgs:
                    md = m.metadata
                    seq = md.sequence.stream
                    if seq > end:
                        return
                    headers = dict(m.headers or {})
                    if raw:
                        yield seq, m.subject, m.data, headers
                    else:
                        yield StoredEvent(seq, m.subject, decode(m.data), headers)
                    if md.num_pending == 0 or seq >= end:
                        return
        finally:
            with contextlib.suppress(Exception):
                await psub.unsubscribe()


def nats_servers(url: str) -> list[str]:
    """The servers of a ``NATS_URL``: one URL, or a cluster's nodes separated by commas. A client connects
    to one of them and reconnects to another when it goes away."""
    servers = [u.strip() for u in url.split(",") if u.strip()]
    if not servers:
        raise ValueError(f"no NATS server in {url!r}")
    return servers


async def connect(url: str, *, name: str = "hunter") -> NATS:
    """A connection to ``url`` with the environment's credentials and TLS (``NATS_CREDS``, ``NATS_TLS_*``:
    ``shared/nats_security.py``). It reconnects for ever once connected; a server that refuses it at the
    first connection (credentials, certificate) is an error at once, not an endless retry."""
    refused: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    async def on_error(exc: Exception) -> None:
        if refused.done():
            log.warning("nats_error", error=str(exc) or type(exc).__name__)
        elif refusal(exc):
            refused.set_result(exc)

    connecting = asyncio.ensure_future(nats.connect(
        nats_servers(url), name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5, error_cb=on_error,
        **client_options()))
    await asyncio.wait({connecting, refused}, return_when=asyncio.FIRST_COMPLETED)
    if connecting.done():
        if not refused.done():
            refused.set_result(RuntimeError("connected"))  # later errors are only logged
        return connecting.result()
    connecting.cancel()
    with contextlib.suppress(BaseException):
        await connecting
    raise NatsRefused(f"NATS at {url} refused {name}: {refused.result()} "
                      "(its credentials: NATS_CREDS or NATS_USER/NATS_PASSWORD; TLS: NATS_TLS_CA, NATS_TLS_CERT/KEY)")


class NatsRefused(ConnectionError):
    """The server would not have this client: wrong or missing credentials, or a certificate not trusted."""


def refusal(exc: BaseException) -> bool:
    """An error no retry mends: the server's no to these credentials, or a TLS certificate not trusted."""
    text = str(exc).lower()
    return isinstance(exc, ssl.SSLError) or "authorization" in text or "authentication" in text \
        or "tls required" in text or "secure connection" in text


@contextlib.asynccontextmanager
async def connect_bus(
    url: str, *, name: str = "hunter", stream: str = STREAM_NAME, dedup_window_seconds: int = 3600,
    replicas: int | None = None,
) -> AsyncIterator[Bus]:
    nc = await connect(url, name=name)
    try:
        bus = Bus(nc, stream=stream, service=name)
        await ensure_stream(bus.js, name=stream, dedup_window_seconds=dedup_window_seconds, replicas=replicas)
        yield bus
    finally:
        await nc.drain()
