"""Follow a run's steps from the stream until it ends, and wait for the vault to catch up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from nats.js import api

from shared.bus import Bus, decode
from shared.events import RunStep, decode_event, subject_token
from shared.vault.access import open_reader, wait_for


class RunTimeout(TimeoutError):
    pass


async def watch_run(bus: Bus, run_id: str, *, on_step: Callable[[RunStep], None] | None = None,
                    timeout: float = 600.0) -> RunStep:
    """Deliver every step of the run (history, then live) until the run completes or fails."""
    queue: asyncio.Queue[RunStep] = asyncio.Queue()

    async def cb(msg) -> None:  # type: ignore[no-untyped-def]
        event = decode_event(decode(msg.data))
        assert isinstance(event, RunStep)
        queue.put_nowait(event)

    sub = await bus.js.subscribe(f"run.step.{subject_token(run_id)}.*", cb=cb, ordered_consumer=True,
                                 deliver_policy=api.DeliverPolicy.ALL, stream=bus.stream)
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunTimeout(f"run {run_id} did not finish within {timeout:.0f}s")
            try:
                step = await asyncio.wait_for(queue.get(), timeout=remaining)
            except TimeoutError as exc:
                raise RunTimeout(f"run {run_id} did not finish within {timeout:.0f}s") from exc
            if on_step:
                on_step(step)
            if step.stage == "run" and step.status in ("completed", "failed", "cancelled"):
                return step
    finally:
        await sub.unsubscribe()


async def wait_projected(bus: Bus, vault_url: str, *, timeout: float = 60.0) -> int:
    """Wait until the projector has applied everything the stream held when called."""
    target = await bus.last_seq()
    engine = open_reader(vault_url)
    try:
        return await wait_for(engine, target, timeout)
    finally:
        engine.dispose()
