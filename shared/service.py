"""What every stage service shares: broker, bus, telemetry, logging, dead letters.

A stage's ``app.py`` calls :func:`create_service` and registers thin handlers with
:meth:`Service.subscriber`; each handler gets a decoded :class:`Envelope`. Bad input
(undecodable bytes, unknown event, schema violation) goes to ``dlq.<stage>`` with the
reason and is acked; an unexpected error is retried by redelivery and dead-lettered on
the last delivery attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from faststream import FastStream
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.js import api
from pydantic import ValidationError

from shared.bus import Bus, connect_bus, decode
from shared.config import Settings, get_settings
from shared.events import DeadLettered, Envelope, LogRecorded, UnknownEvent
from shared.logging import drain_shipped, get_logger, setup_logging
from shared.nats_server import nats_for
from shared.tracing import setup_tracing

Handler = Callable[[Envelope, NatsMessage], Awaitable[None]]
BAD_INPUT = (ValidationError, UnknownEvent, ValueError, UnicodeDecodeError)


class Service:
    def __init__(self, name: str, settings: Settings | None = None) -> None:
        self.name = name
        self.settings = settings or get_settings()
        self.worker_id = f"{name}@{socket.gethostname()}:{os.getpid()}"
        setup_logging(name, self.settings.log_level)
        self.tracer_provider = setup_tracing(name)
        self.log = get_logger(name)
        self.broker = NatsBroker(
            self.settings.nats_url or "nats://127.0.0.1:4222",
            name=self.worker_id,
            middlewares=[NatsTelemetryMiddleware(tracer_provider=self.tracer_provider)],
            log_level=logging.DEBUG,
            max_reconnect_attempts=-1,
        )
        self.app = FastStream(self.broker)
        self._bus: Bus | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.app.after_startup(self._after_startup)
        self.app.on_shutdown(self._on_shutdown)
        self.stream = JStream(self.settings.stream_name, declare=False)

    @property
    def bus(self) -> Bus:
        if self._bus is None:
            raise RuntimeError("bus used before the service started")
        return self._bus

    async def _after_startup(self) -> None:
        self._bus = Bus(self.broker.connection, stream=self.settings.stream_name, service=self.name)
        self._tasks.append(asyncio.create_task(self._ship_logs()))
        self.log.info("service_started", worker=self.worker_id)

    async def _on_shutdown(self) -> None:
        for t in self._tasks:
            t.cancel()
        await self._flush_logs()

    async def _ship_logs(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self._flush_logs()

    async def _flush_logs(self) -> None:
        if self._bus is None:
            return
        for entry in drain_shipped():
            fields = {k: str(v) for k, v in entry.items() if k not in {"event", "level", "timestamp"}}
            event = LogRecorded(
                service=self.name,
                level=str(entry.get("level", "warning")),
                message=str(entry.get("event", "")),
                run_id=entry.get("run_id"),
                lead_key=entry.get("lead_key"),
                trace_id=entry.get("trace_id"),
                fields=fields,
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

    def subscriber(
        self,
        subject: str,
        *,
        durable: str | None = None,
        max_workers: int = 1,
        max_deliver: int = 5,
    ) -> Callable[[Handler], Handler]:
        """Register a handler on a durable pull consumer shared by every replica.

        While a handler works it tells the server so (``in_progress``) every third of the ack
        wait; a crashed process's messages are redelivered to another replica after one ack wait.
        """
        ack_wait = self.settings.ack_wait_seconds

        def register(fn: Handler) -> Handler:
            async def handle(msg: NatsMessage) -> None:
                raw: bytes = msg.body
                try:
                    env = decode(raw)
                except BAD_INPUT as exc:
                    await self.dead_letter(subject=msg.raw_message.subject, reason=f"undecodable: {exc}", raw=raw)
                    return
                beat = asyncio.create_task(self._heartbeat(msg, ack_wait / 3))
                try:
                    await fn(env, msg)
                except BAD_INPUT as exc:
                    await self.dead_letter(
                        subject=msg.raw_message.subject, reason=f"{type(exc).__name__}: {exc}",
                        raw=raw, run_id=env.run_id,
                    )
                except Exception as exc:
                    delivered = msg.raw_message.metadata.num_delivered
                    if delivered >= max_deliver:
                        await self.dead_letter(
                            subject=msg.raw_message.subject,
                            reason=f"failed {delivered} times: {type(exc).__name__}: {exc}",
                            raw=raw, run_id=env.run_id,
                        )
                        return
                    self.log.exception("handler_failed", subject=msg.raw_message.subject, attempt=delivered)
                    raise
                finally:
                    beat.cancel()

            # not functools.wraps: FastStream reads the wrapper's own signature (the raw message)
            handle.__name__ = handle.__qualname__ = fn.__name__
            config = api.ConsumerConfig(ack_wait=ack_wait, max_deliver=max_deliver)
            self.broker.subscriber(
                subject,
                stream=self.stream,
                durable=durable or self.name,
                pull_sub=PullSub(batch_size=max(1, max_workers), timeout=5.0),
                max_workers=max_workers,
                config=config,
                ack_policy=AckPolicy.NACK_ON_ERROR,
            )(handle)
            return fn

        return register

    @staticmethod
    async def _heartbeat(msg: NatsMessage, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    def run(self) -> None:
        """Run until SIGTERM/SIGINT; joins (or starts) an embedded NATS when NATS_URL is unset."""
        with nats_for(Path(self.settings.data_dir), self.settings.nats_url) as url:
            # the broker was built at import time (handlers register on it); point it at the URL now
            self.broker._connection_kwargs["servers"] = [url]

            async def main() -> None:
                async with connect_bus(
                    url, name=f"{self.name}-setup", stream=self.settings.stream_name,
                    dedup_window_seconds=self.settings.dedup_window_seconds,
                ):
                    pass  # the stream exists before any consumer is created
                await self.app.run()

            asyncio.run(main())
