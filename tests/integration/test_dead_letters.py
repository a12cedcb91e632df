"""Bad input reaching a service goes to its dead-letter subject with the reason; the service goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hunter.stack import Stack
from shared.bus import Bus, StoredEvent, connect_bus
from shared.events import DeadLettered, RunCancelled, RunStep


async def _next_dead_letter(bus: Bus, after: int, timeout: float = 30.0) -> StoredEvent:
    queue: asyncio.Queue[StoredEvent] = asyncio.Queue()

    async def cb(msg) -> None:  # type: ignore[no-untyped-def]
        from shared.bus import decode

        if msg.metadata.sequence.stream > after:
            queue.put_nowait(StoredEvent(msg.metadata.sequence.stream, msg.subject, decode(msg.data), {}))

    sub = await bus.js.subscribe("dlq.>", cb=cb, ordered_consumer=True)
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    finally:
        await sub.unsubscribe()


async def test_garbage_and_unknown_events_are_dead_lettered_with_their_reason(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    stack = Stack(data_dir=tmp_path, nats_url=fresh_nats_url, gateway=False, services=["cleaner"])
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            seq = await bus.last_seq()
            await bus.js.publish("run.step.bad.extract", b"\x00not json at all", stream=bus.stream)
            first = await _next_dead_letter(bus, seq)
            letter = first.event()
            assert isinstance(letter, DeadLettered)
            assert letter.stage == "cleaner" and letter.subject == "run.step.bad.extract"
            assert letter.reason.startswith("undecodable")

            seq = await bus.last_seq()
            bogus = b'{"event_id":"x","type":"NoSuchEvent","occurred_at":"2026-01-01T00:00:00Z","payload":{}}'
            await bus.js.publish("run.step.bad2.extract", bogus, stream=bus.stream)
            second = (await _next_dead_letter(bus, seq)).event()
            assert isinstance(second, DeadLettered) and "NoSuchEvent" in second.reason

            # the service is still consuming: a well-formed step for an empty run is handled, not dead-lettered
            seq = await bus.last_seq()
            await bus.publish(RunStep(run_id="empty-run", stage="extract", status="completed"), key=("e",),
                              stage="extract")
            done = await _wait_step(bus, "empty-run", "clean")
            assert done.status == "completed" and done.counts.get("out", 0) == 0
    finally:
        stack.stop()


async def _wait_step(bus: Bus, run: str, stage: str, timeout: float = 30.0) -> RunStep:
    from shared.bus import decode
    from shared.events import decode_event

    queue: asyncio.Queue[RunStep] = asyncio.Queue()

    async def cb(msg) -> None:  # type: ignore[no-untyped-def]
        event = decode_event(decode(msg.data))
        assert isinstance(event, RunStep)
        if event.status != "started":  # the stage's outcome, not its start
            queue.put_nowait(event)

    sub = await bus.js.subscribe(f"run.step.{run}.{stage}", cb=cb, ordered_consumer=True)
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    finally:
        await sub.unsubscribe()


async def test_an_event_of_another_type_is_dead_lettered_at_once_and_fails_its_run(
    tmp_path: Path, fresh_nats_url: str
) -> None:
    """A typed subscriber (FastStream's, and the pull consumer's fast path) takes one event type: any
    other goes to its dead letters on the first delivery, with both types in the reason."""
    stack = Stack(data_dir=tmp_path, nats_url=fresh_nats_url, gateway=False, services=["cleaner", "enricher"])
    stack.start()
    try:
        async with connect_bus(fresh_nats_url, name="test") as bus:
            seq = await bus.last_seq()
            await bus.publish(RunCancelled(run_id="mixed-up", reason="x"), key=("wrong",),
                              subject="run.step.mixed-up.extract")
            stored = await _next_dead_letter(bus, seq)
            letter = stored.event_as(DeadLettered)
            assert letter.stage == "cleaner" and letter.subject == "run.step.mixed-up.extract"
            assert letter.reason == "WrongEventType: expected RunStep, got RunCancelled"
            assert letter.run_id == "mixed-up"
            failed = await _wait_step(bus, "mixed-up", "clean")  # the stage's on_dead_letter hook ran
            assert failed.status == "failed" and "expected RunStep" in (failed.message or "")

            seq = await bus.last_seq()
            await bus.publish(RunCancelled(run_id="mixed-up-2", reason="x"), key=("wrong", 2),
                              subject="enrich.requested.mixed-up-2")
            letter = (await _next_dead_letter(bus, seq)).event_as(DeadLettered)
            assert letter.stage == "enricher" and letter.subject == "enrich.requested.mixed-up-2"
            assert letter.reason == "WrongEventType: expected EnrichmentRequested, got RunCancelled"
    finally:
        stack.stop()
