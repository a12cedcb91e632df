"""Server-Sent Events of one run's steps: the history from the stream, then live, until the run
ends (its final ``run`` step, or a cancellation).

However many browsers watch a run, the gateway reads its steps once: one ``RunFeed`` per watched
run holds an ordered consumer on the run's steps and one on its cancellation, renders each message
as an SSE frame once, keeps the frames (a run has tens of steps) for watchers who join later, and
hands every frame to every watcher's queue. The feed closes when its last watcher leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from nats.js import api

from shared.bus import Bus, decode
from shared.events import RunCancelled, RunStep, Subjects, WrongEventType, decode_event, subject_token

TERMINAL = {"completed", "failed", "cancelled"}
KEEPALIVE_SECONDS = 15.0


def sse(data: dict[str, object], *, event: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


@dataclass(frozen=True)
class Frames:
    """What one stream message becomes: its frames, and whether they end the run's stream.
    ``seq`` is the step's stream sequence (a resuming watcher skips those it has seen); a
    cancellation has none and reaches every watcher."""

    seq: int | None
    text: str
    ends: bool


def render(run_id: str, seq: int, data: bytes) -> Frames:
    event = decode_event(decode(data))
    if isinstance(event, RunCancelled):
        return Frames(None, sse({"run_id": run_id, "status": "cancelled", "reason": event.reason}, event="end"), True)
    if not isinstance(event, RunStep):
        raise WrongEventType(f"expected {RunStep.TYPE} or {RunCancelled.TYPE}, got {event.TYPE}")
    text = sse(event.model_dump(mode="json"), event="step", event_id=seq)
    if event.stage == "run" and event.status in TERMINAL:
        return Frames(seq, text + sse({"run_id": run_id, "status": event.status}, event="end"), True)
    return Frames(seq, text, False)


@dataclass
class RunFeed:
    run_id: str
    history: list[Frames] = field(default_factory=list)
    watchers: set[asyncio.Queue[Frames]] = field(default_factory=set)
    subscriptions: list[object] = field(default_factory=list)
    ready: asyncio.Future[None] | None = None

    def on_message(self, seq: int, data: bytes) -> None:
        frames = render(self.run_id, seq, data)
        self.history.append(frames)
        for queue in self.watchers:
            queue.put_nowait(frames)

    async def subscribe(self, bus: Bus) -> None:
        async def on_msg(msg) -> None:  # type: ignore[no-untyped-def]
            self.on_message(msg.metadata.sequence.stream, msg.data)

        token = subject_token(self.run_id)
        self.subscriptions.append(await bus.js.subscribe(
            f"run.step.{token}.*", cb=on_msg, ordered_consumer=True, stream=bus.stream,
            deliver_policy=api.DeliverPolicy.ALL))
        self.subscriptions.append(await bus.js.subscribe(
            Subjects.RUN_CANCELLED.format(run_id=token), cb=on_msg, ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream))

    async def close(self) -> None:
        if self.ready is not None:
            with contextlib.suppress(Exception):
                await self.ready
        for sub in self.subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()  # type: ignore[attr-defined]


class RunFeeds:
    """The feeds of the runs being watched, on one bus connection."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.feeds: dict[str, RunFeed] = {}

    async def watch(self, run_id: str, *, after_seq: int = 0,
                    disconnected: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[str]:
        """SSE frames for each step of the run; ``after_seq`` resumes after a stream sequence
        (the browser's ``Last-Event-ID``)."""
        feed = self.feeds.get(run_id)
        if feed is None:
            feed = self.feeds[run_id] = RunFeed(run_id)
            feed.ready = asyncio.ensure_future(feed.subscribe(self.bus))
        queue: asyncio.Queue[Frames] = asyncio.Queue()
        for frames in feed.history:  # what the feed has read so far, then what it reads next
            queue.put_nowait(frames)
        feed.watchers.add(queue)
        try:
            await asyncio.shield(feed.ready)  # type: ignore[arg-type]
            yield "retry: 2000\n\n"
            while True:
                try:
                    frames = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    if disconnected is not None and await disconnected():
                        return
                    yield ": keepalive\n\n"
                    continue
                if frames.seq is not None and frames.seq <= after_seq:
                    continue
                yield frames.text
                if frames.ends:
                    return
        finally:
            feed.watchers.discard(queue)
            if not feed.watchers and self.feeds.get(run_id) is feed:
                del self.feeds[run_id]
                await feed.close()

