"""What every stage service shares: broker, bus, telemetry, logging, dead letters.

A stage's ``app.py`` makes a :class:`Service` and registers thin typed handlers with
:meth:`Service.on` (``fn(event, ctx)``; :meth:`Service.on_direct` for the pull-consumer fast
path). Bad input (undecodable bytes, unknown event, schema violation, an event of another type
than the handler's) goes to ``dlq.<stage>`` with the reason and is acked; an unexpected error is
retried by redelivery and dead-lettered on the last delivery attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import structlog
from faststream import FastStream
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.aio.msg import Msg
from nats.js import api
from opentelemetry import propagate
from opentelemetry import trace as otel_trace
from pydantic import ValidationError

from shared import metrics
from shared.adapters.faststream_broker import set_servers
from shared.adapters.otel_sdk import span_processor_count
from shared.bus import BUS_UNAVAILABLE, Bus, connect_bus, decode, nats_servers
from shared.config import Settings, get_settings
from shared.events import (
    ApiCallsRecorded,
    DeadLettered,
    Envelope,
    Event,
    LogRecorded,
    RunStep,
    UnknownEvent,
    decode_event_as,
)
from shared.gc_policy import tune_gc
from shared.logging import drain_shipped, get_logger, setup_logging
from shared.nats_security import client_options
from shared.nats_server import nats_for
from shared.pull_consumer import PullConsumer, RetryLater
from shared.tracing import lead_keys_of, lead_trace_id, record_lead_spans, setup_tracing

E = TypeVar("E", bound=Event)
DeadLetterHook = Callable[[Envelope, str], Awaitable[None]]  # (the message's envelope, the reason)
BAD_INPUT = (ValidationError, UnknownEvent, ValueError, UnicodeDecodeError)


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a handler gets besides its event."""

    env: Envelope  # the event's envelope: event_id (the causation of what it publishes), occurred_at, payload
    msg: Msg  # the NATS message: subject, headers, JetStream metadata
    bus: ObservedBus

    @property
    def seq(self) -> int:
        """The event's sequence in the stream."""
        return int(self.msg.metadata.sequence.stream)


class Delivered(Protocol):
    """What the handler wrappers read of a message: FastStream's ``NatsMessage`` or the pull consumer's
    ``RawMessage`` (``direct``), both over a nats-py ``Msg``."""

    @property
    def body(self) -> bytes: ...

    @property
    def raw_message(self) -> Msg: ...

    async def in_progress(self) -> None: ...


EventHandler = Callable[[E, Ctx], Awaitable[None]]
EnvelopeHandler = Callable[[Envelope, Msg], Awaitable[None]]
LOG_IDS = {"event", "level", "timestamp", "service", "run_id", "lead_key", "trace_id", "span_id", "no_ship"}


def spans_are_recorded() -> bool:
    """Whether a span started now reaches anyone: False when the process's tracer provider has no
    span processor (``OTEL_TRACES_EXPORTER=none``, the default). Per-lead spans of batch events
    cost ~25 us a lead to create; nobody can see them then, so they are not made."""
    count = span_processor_count(otel_trace.get_tracer_provider())
    return count is None or count > 0


class ObservedBus(Bus):
    """The bus as services use it: counts what they publish, marks each lead of a batch event with
    a span in the lead's trace, and turns recorded API calls into HTTP metrics."""

    async def publish(self, event: Event, **kwargs: Any) -> int:
        self.observe(event)
        return await super().publish(event, **kwargs)

    async def publish_many(self, items: Iterable[tuple[str, Envelope]]) -> int:
        items = list(items)
        for _, env in items:
            metrics.EVENTS_PUBLISHED.inc(service=self.service, type=env.type)
            if env.run_id and env.lead_key and spans_are_recorded():
                record_lead_spans(self.service, f"{self.service}.{env.type}", env.run_id, [env.lead_key])
        return await super().publish_many(items)

    async def publish_events(self, events: Iterable[tuple[Event, dict[str, Any]]], *,
                             timeout: float = 10.0) -> list[int]:
        """Publish several events in order, pipelined: one write to the server and the stream's acks awaited
        together (a handler that emits two events per message pays one round trip). Each ``(event, kwargs)``
        takes ``publish``'s keyword arguments; observed like ``publish``. Returns the stream sequences."""
        items = []
        for event, kwargs in events:
            self.observe(event)
            items.append(self.wrap(event, **kwargs))
        acks = await self.publish_all(items, timeout=timeout)
        return [ack.seq for ack in acks]

    def observe(self, event: Event) -> None:
        """What ``publish`` does besides publishing, for code that publishes pre-encoded events."""
        metrics.EVENTS_PUBLISHED.inc(service=self.service, type=event.TYPE)
        run_id = getattr(event, "run_id", None)
        if isinstance(event, ApiCallsRecorded):
            metrics.record_api_calls(self.service, run_id, event.calls)
        elif run_id and spans_are_recorded():
            keys = lead_keys_of(event)
            if keys:
                record_lead_spans(self.service, f"{self.service}.{event.TYPE}", run_id, keys,
                                  {"batch": getattr(event, "batch", -1)})




def consumer_span(service: str, subscription: str, msg: Any) -> Any:
    """A consumer span for a message, the child of the span that published it (W3C context in its headers)."""
    return otel_trace.get_tracer(service).start_as_current_span(
        f"{subscription} process", context=propagate.extract(msg.headers or {}), kind=otel_trace.SpanKind.CONSUMER,
        attributes={"messaging.system": "nats", "messaging.destination.name": msg.subject},
    )


def run_event_loop(main: Awaitable[None]) -> None:
    """``asyncio.run`` on uvloop's event loop when it is installed (it comes with ``uvicorn[standard]``):
    the loop's own work is a sixth of an I/O-bound stage's CPU on asyncio's pure-Python loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)  # type: ignore[arg-type]
        return
    uvloop.run(main)  # type: ignore[arg-type]


async def _the_message(msg: NatsMessage) -> NatsMessage:
    """The subscribers' decoder: the handler is called with the message itself."""
    return msg


class Service:
    def __init__(self, name: str, settings: Settings | None = None) -> None:
        self.name = name
        self.settings = settings or get_settings()
        self.worker_id = f"{name}@{socket.gethostname()}:{os.getpid()}"
        setup_logging(name, self.settings.log_level)
        self.tracer_provider = setup_tracing(name)
        self.log = get_logger(name)
        # Handlers take the raw message (see ``subscriber``): no FastDepends injection, which resolves a
        # ``NatsMessage`` parameter on a worker thread for every message, and no JSON decoding of the body
        # before ``decode`` reads it again. Consumer spans only when a span can reach an exporter.
        self.broker = NatsBroker(
            nats_servers(self.settings.nats_url or "nats://127.0.0.1:4222"),
            name=self.worker_id,
            middlewares=[NatsTelemetryMiddleware(tracer_provider=self.tracer_provider)] if spans_are_recorded() else [],
            apply_types=False,
            log_level=logging.DEBUG,
            max_reconnect_attempts=-1,
        )
        self.app = FastStream(self.broker)
        self._bus: ObservedBus | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._durables: list[str] = []
        self._direct: list[dict[str, Any]] = []  # ``subscriber(direct=True)`` registrations
        self._consumers: list[PullConsumer] = []
        self._metrics_server: asyncio.Server | None = None
        self.app.after_startup(self._after_startup)
        self.app.on_shutdown(self._on_shutdown)
        self.stream = JStream(self.settings.stream_name, declare=False)

    @property
    def bus(self) -> ObservedBus:
        if self._bus is None:
            raise RuntimeError("bus used before the service started")
        return self._bus

    async def _after_startup(self) -> None:
        tune_gc()
        self._bus = ObservedBus(self.broker.connection, stream=self.settings.stream_name, service=self.name)
        for spec in self._direct:
            consumer = PullConsumer(self._bus.js, stream=self.settings.stream_name, log=self.log, nc=self._bus.nc,
                                    **spec)
            await consumer.start()
            self._consumers.append(consumer)
        self._tasks.append(asyncio.create_task(self._ship_logs()))
        port = metrics.metrics_port()
        if port:
            try:
                self._metrics_server = await metrics.serve_metrics(
                    port, ready=lambda: self.broker.connection.is_connected)
                self._tasks.append(asyncio.create_task(self._poll_consumer_lag()))
            except OSError as exc:  # e.g. a second replica on the same port: run without metrics
                self.log.warning("metrics_port_unavailable", port=port, error=str(exc))
        self.log.info("service_started", worker=self.worker_id, metrics_port=port or None)

    async def _on_shutdown(self) -> None:
        for consumer in self._consumers:
            await consumer.stop()
        for t in self._tasks:
            t.cancel()
        if self._metrics_server is not None:
            self._metrics_server.close()
        await self._flush_logs()

    def watch_consumer(self, durable: str) -> None:
        """Report this durable consumer's lag in the metrics (subscribers' durables are watched already)."""
        if durable not in self._durables:
            self._durables.append(durable)

    async def _poll_consumer_lag(self, every: float = 5.0) -> None:
        js = self.broker.connection.jetstream()
        while True:
            for durable in list(self._durables):
                with contextlib.suppress(Exception):
                    info = await js.consumer_info(self.settings.stream_name, durable)
                    metrics.CONSUMER_PENDING.set(info.num_pending or 0, service=self.name, consumer=durable)
                    metrics.CONSUMER_ACK_PENDING.set(info.num_ack_pending or 0, service=self.name, consumer=durable)
            await asyncio.sleep(every)

    async def _ship_logs(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self._flush_logs()

    async def _flush_logs(self) -> None:
        if self._bus is None:
            return
        for entry in drain_shipped():
            event = LogRecorded(
                service=self.name,
                level=str(entry.get("level", "warning")),
                message=str(entry.get("event", "")),
                run_id=entry.get("run_id"),
                lead_key=entry.get("lead_key"),
                trace_id=entry.get("trace_id"),
                span_id=entry.get("span_id"),
                context={k: str(v) for k, v in entry.items() if k not in LOG_IDS},
            )
            with contextlib.suppress(Exception):
                await self._bus.publish(event, service=self.name)

    async def dead_letter(self, *, subject: str, reason: str, raw: bytes, run_id: str | None = None) -> None:
        self.log.warning("dead_lettered", subject=subject, reason=reason, run_id=run_id, no_ship=True)
        await self.bus.publish(
            DeadLettered(
                stage=self.name, subject=subject, reason=reason,
                raw=raw[:4000].decode("utf-8", "replace"), run_id=run_id,
            ),
            stage=self.name,
        )

    def on(
        self,
        subject: str,
        event_type: type[E],
        *,
        durable: str | None = None,
        max_workers: int = 1,
        max_deliver: int = 5,
        on_dead_letter: DeadLetterHook | None = None,
    ) -> Callable[[EventHandler[E]], EventHandler[E]]:
        """Register ``fn(event, ctx)`` on a durable pull consumer shared by every replica.

        The message is decoded once here and its event checked to be an ``event_type``: an event of
        another type (or undecodable, or invalid) goes to ``dlq.<stage>`` with the reason, like any bad
        input. While a handler works it tells the server so (``in_progress``) every third of the ack
        wait; a crashed process's messages are redelivered to another replica after one ack wait.
        ``on_dead_letter``: told when a decoded message is dead-lettered (bad input, or its last attempt
        failed), so what waits for it ends (:meth:`fail_run` ends the run's step and the run as failed).
        """

        return self._registrar(subject, event_type, durable=durable, max_workers=max_workers,
                               max_deliver=max_deliver, on_dead_letter=on_dead_letter, direct=False)

    def on_direct(
        self,
        subject: str,
        event_type: type[E],
        *,
        durable: str | None = None,
        max_workers: int = 1,
        max_deliver: int = 5,
        on_dead_letter: DeadLetterHook | None = None,
    ) -> Callable[[EventHandler[E]], EventHandler[E]]:
        """:meth:`on` for a stage that runs hundreds of messages at once: consumed with
        :class:`~shared.pull_consumer.PullConsumer` (its :class:`~shared.pull_consumer.RawMessage`, a bare
        nats-py message) instead of FastStream's subscriber. Same consumer, acks, typed event, context and
        dead letters; ~190 us less CPU per message."""

        return self._registrar(subject, event_type, durable=durable, max_workers=max_workers,
                               max_deliver=max_deliver, on_dead_letter=on_dead_letter, direct=True)

    def _registrar(self, subject: str, event_type: type[E], *, durable: str | None, max_workers: int,
                   max_deliver: int, on_dead_letter: DeadLetterHook | None,
                   direct: bool) -> Callable[[EventHandler[E]], EventHandler[E]]:
        """The decorator of :meth:`on` (``direct=False``) and :meth:`on_direct`."""

        def register(fn: EventHandler[E]) -> EventHandler[E]:
            self._subscribe(subject, self._typed(fn, event_type), name=fn.__name__, durable=durable,
                            max_workers=max_workers, max_deliver=max_deliver, on_dead_letter=on_dead_letter,
                            direct=direct)
            return fn

        return register

    def _typed(self, fn: EventHandler[E], event_type: type[E]) -> EnvelopeHandler:
        async def call(env: Envelope, msg: Msg) -> None:
            await fn(decode_event_as(env, event_type), Ctx(env, msg, self.bus))

        return call

    def _subscribe(
        self,
        subject: str,
        fn: EnvelopeHandler,
        *,
        name: str,
        durable: str | None,
        max_workers: int,
        max_deliver: int,
        on_dead_letter: DeadLetterHook | None,
        direct: bool = False,
    ) -> None:
        """The handler wrappers: decode the envelope, dead-letter bad input, count and time each message,
        retry on an unavailable bus. ``direct``: messages come from a :class:`PullConsumer` (``RawMessage``)."""
        ack_wait = self.settings.ack_wait_seconds
        self.watch_consumer(durable or self.name)

        async def handle(msg: Delivered) -> None:
            t0, outcome = time.perf_counter(), "error"
            try:
                if direct and spans_are_recorded():  # the consumer span FastStream's middleware makes
                    with consumer_span(self.name, subject, msg.raw_message):
                        outcome = await handle_observed(msg)
                else:
                    outcome = await handle_observed(msg)
            except RetryLater as later:
                outcome = "retry"
                if direct:  # the pull consumer naks it with the delay
                    raise
                await cast(NatsMessage, msg).nack(delay=later.delay)
            finally:
                metrics.EVENTS_HANDLED.inc(service=self.name, subject=subject, outcome=outcome)
                metrics.HANDLER_SECONDS.observe(time.perf_counter() - t0, service=self.name, subject=subject)

        async def handle_observed(msg: Delivered) -> str:
            raw: bytes = msg.body
            try:
                env = decode(raw)
            except BAD_INPUT as exc:
                await self.dead_letter(subject=msg.raw_message.subject, reason=f"undecodable: {exc}", raw=raw)
                return "dead_letter"
            ids: dict[str, str] = {k: v for k, v in (("run_id", env.run_id), ("lead_key", env.lead_key)) if v}
            if env.run_id and env.lead_key:
                ids["trace_id"] = lead_trace_id(env.run_id, env.lead_key)
            with structlog.contextvars.bound_contextvars(**ids):
                return await handle_decoded(env, raw, msg)

        async def handle_decoded(env: Envelope, raw: bytes, msg: Delivered) -> str:
            # a direct consumer tells the server about all its running messages itself
            beat = None if direct else asyncio.create_task(self._heartbeat(msg, ack_wait / 3))
            try:
                await fn(env, msg.raw_message)
                return "ok"
            except BAD_INPUT as exc:
                reason = f"{type(exc).__name__}: {exc}"
                await self.dead_letter(subject=msg.raw_message.subject, reason=reason, raw=raw, run_id=env.run_id)
                await self._told_dead_letter(on_dead_letter, env, reason)
                return "dead_letter"
            except Exception as exc:
                delivered = msg.raw_message.metadata.num_delivered
                if isinstance(exc, BUS_UNAVAILABLE) and delivered < max_deliver:
                    # no stream leader for a moment (a cluster lost a node) or reconnecting: not this
                    # message's fault. Again later, not at once: immediate redeliveries would use up
                    # every attempt within the election and dead-letter a good message.
                    self.log.warning("bus_unavailable", subject=msg.raw_message.subject, attempt=delivered,
                                     error=f"{type(exc).__name__}: {exc}")
                    raise RetryLater(min(ack_wait, 2.0 ** delivered)) from exc
                if delivered >= max_deliver:
                    reason = f"failed {delivered} times: {type(exc).__name__}: {exc}"
                    await self.dead_letter(subject=msg.raw_message.subject, reason=reason, raw=raw,
                                           run_id=env.run_id)
                    await self._told_dead_letter(on_dead_letter, env, reason)
                    return "dead_letter"
                self.log.exception("handler_failed", subject=msg.raw_message.subject, attempt=delivered)
                raise
            finally:
                if beat is not None:
                    beat.cancel()

        if direct:
            # no limit on leads out unacked across replicas: each bounds its own (max_workers), and the
            # server's default (1000) would cap replicas x ENRICHER_CONCURRENCY, the scale-out, unseen
            self._direct.append(dict(subject=subject, durable=durable or self.name, handle=handle,
                                     max_workers=max_workers, ack_wait=ack_wait, max_deliver=max_deliver,
                                     max_ack_pending=-1))
            return

        async def consume(msg: NatsMessage) -> None:  # FastStream reads this signature: the message itself
            await handle(msg)

        # not functools.wraps: FastStream reads the wrapper's own signature (the raw message)
        consume.__name__ = consume.__qualname__ = name
        config = api.ConsumerConfig(ack_wait=ack_wait, max_deliver=max_deliver)
        self.broker.subscriber(
            subject,
            stream=self.stream,
            durable=durable or self.name,
            pull_sub=PullSub(batch_size=max(1, max_workers), timeout=5.0),
            max_workers=max_workers,
            config=config,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_the_message,
        )(consume)

    async def _told_dead_letter(self, hook: DeadLetterHook | None, env: Envelope, reason: str) -> None:
        if hook is None:
            return
        try:
            await hook(env, reason[:1000])
        except Exception:  # the dead letter is stored already; what the hook failed to say is logged
            self.log.exception("dead_letter_hook_failed", type=env.type, run_id=env.run_id)

    def fail_run(self, stage: str) -> DeadLetterHook:
        """An ``on_dead_letter`` hook for a handler that carries a run's ``stage``: the stage's step and the
        run end as *failed* with the reason, instead of the run waiting for ever."""

        async def fail(env: Envelope, reason: str) -> None:
            if not env.run_id:
                return
            run = env.run_id
            self.log.error("run_failed", run_id=run, stage=stage, reason=reason)
            await self.bus.publish(RunStep(run_id=run, stage=stage, status="failed", message=reason),  # type: ignore[arg-type]
                                   key=(run, stage, "failed"), stage=stage, causation_id=env.event_id)
            await self.bus.publish(RunStep(run_id=run, stage="run", status="failed", message=f"{stage}: {reason}"),
                                   key=(run, "run", "failed"), stage="run", causation_id=env.event_id)

        return fail

    @staticmethod
    async def _heartbeat(msg: Delivered, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    def run(self) -> None:
        """Run until SIGTERM/SIGINT; joins (or starts) an embedded NATS when NATS_URL is unset."""
        with nats_for(Path(self.settings.data_dir), self.settings.nats_url) as url:
            # the broker was built at import time (handlers register on it); point it at the URL now, with
            # the credentials and TLS of the environment (an embedded server's are set by nats_for)
            set_servers(self.broker, nats_servers(url), **client_options())

            async def main() -> None:
                async with connect_bus(
                    url, name=f"{self.name}-setup", stream=self.settings.stream_name,
                    dedup_window_seconds=self.settings.dedup_window_seconds,
                ):
                    pass  # the stream exists before any consumer is created
                await self.app.run()

            run_event_loop(main())
