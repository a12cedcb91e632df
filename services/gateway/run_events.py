"""Server-Sent Events of one run's steps: the history from the stream, then live, until the run
ends (its final ``run`` step, or a cancellation)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from nats.js import api

from shared.bus import Bus, decode
from shared.events import RunCancelled, RunStep, Subjects, decode_event, subject_token

TERMINAL = {"completed", "failed", "cancelled"}
KEEPALIVE_SECONDS = 15.0


def sse(data: dict[str, object], *, event: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


async def run_step_events(bus: Bus, run_id: str, *, after_seq: int = 0,
                          disconnected: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[str]:
    """SSE frames for each step of the run (ordered consumer on ``run.step.<run>.*``).

    ``after_seq`` resumes after a stream sequence (the browser's ``Last-Event-ID``).
    """
    token = subject_token(run_id)
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()

    async def on_msg(msg) -> None:  # type: ignore[no-untyped-def]
        queue.put_nowait((msg.metadata.sequence.stream, msg.data))

    start = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after_seq + 1)
    steps = await bus.js.subscribe(f"run.step.{token}.*", cb=on_msg, ordered_consumer=True, stream=bus.stream,
                                   config=start if after_seq > 0 else None,
                                   deliver_policy=None if after_seq > 0 else api.DeliverPolicy.ALL)
    cancels = await bus.js.subscribe(Subjects.RUN_CANCELLED.format(run_id=token), cb=on_msg,
                                     ordered_consumer=True, deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream)
    try:
        yield "retry: 2000\n\n"
        while True:
            try:
                seq, data = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                if disconnected is not None and await disconnected():
                    return
                yield ": keepalive\n\n"
                continue
            event = decode_event(decode(data))
            if isinstance(event, RunCancelled):
                yield sse({"run_id": run_id, "status": "cancelled", "reason": event.reason}, event="end")
                return
            assert isinstance(event, RunStep)
            yield sse(event.model_dump(mode="json"), event="step", event_id=seq)
            if event.stage == "run" and event.status in TERMINAL:
                yield sse({"run_id": run_id, "status": event.status}, event="end")
                return
    finally:
        for sub in (steps, cancels):
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
