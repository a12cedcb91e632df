"""The direct JetStream pull consumer: acks, naks and redelivery, its concurrency bound, heartbeats that keep
a long message from being redelivered, and a stop that hands running messages back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from nats.js import api

from shared.bus import Bus
from shared.pull_consumer import Handle, PullConsumer, RawMessage


@pytest.fixture
async def stream(bus: Bus) -> AsyncIterator[tuple[str, str]]:
    uid = uuid.uuid4().hex[:8]
    name, prefix = f"PC{uid}", f"pc{uid}"
    await bus.js.add_stream(api.StreamConfig(name=name, subjects=[f"{prefix}.>"]))
    try:
        yield name, prefix
    finally:
        await bus.js.delete_stream(name)


@contextlib.asynccontextmanager
async def consuming(bus: Bus, stream: str, subject: str, durable: str, handle: Handle, *, max_workers: int,
                    ack_wait: float = 30) -> AsyncIterator[PullConsumer]:
    consumer = PullConsumer(bus.js, stream=stream, subject=subject, durable=durable, handle=handle,
                            max_workers=max_workers, ack_wait=ack_wait, max_deliver=5)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def publish(bus: Bus, subject: str, n: int) -> None:
    acks = [await bus.js.publish_async(subject, b"%d" % i) for i in range(n)]
    await asyncio.gather(*acks)


async def test_every_message_is_handled_once_within_the_worker_bound_and_acked(
    bus: Bus, stream: tuple[str, str],
) -> None:
    name, prefix = stream
    seen: Counter[bytes] = Counter()
    running = peak = 0
    all_done = asyncio.Event()

    async def handle(msg: RawMessage) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)  # others may start meanwhile
        await asyncio.sleep(0.001)
        seen[msg.body] += 1
        running -= 1
        if len(seen) == 300:
            all_done.set()

    async with consuming(bus, name, f"{prefix}.work.*", "w", handle, max_workers=16):
        await publish(bus, f"{prefix}.work.a", 300)
        await asyncio.wait_for(all_done.wait(), 30)
    assert set(seen.values()) == {1} and len(seen) == 300
    assert 1 < peak <= 16
    info = await bus.js.consumer_info(name, "w")
    for _ in range(100):  # the last acks may still be on their way to the server
        if info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.05)
        info = await bus.js.consumer_info(name, "w")
    assert info.num_pending == 0 and info.num_ack_pending == 0 and info.num_redelivered == 0  # all acked, once


async def test_a_failing_message_is_naked_and_redelivered(bus: Bus, stream: tuple[str, str]) -> None:
    name, prefix = stream
    deliveries: list[int] = []
    handled = asyncio.Event()

    async def handle(msg: RawMessage) -> None:
        deliveries.append(msg.raw_message.metadata.num_delivered)
        if len(deliveries) == 1:
            raise RuntimeError("first try fails")
        handled.set()

    async with consuming(bus, name, f"{prefix}.fail.*", "f", handle, max_workers=4):
        await publish(bus, f"{prefix}.fail.a", 1)
        await asyncio.wait_for(handled.wait(), 20)  # well within the 30 s ack wait: the nak redelivered it
    assert deliveries == [1, 2]


async def test_a_long_message_is_kept_by_heartbeats_and_a_stop_hands_it_back(
    bus: Bus, stream: tuple[str, str],
) -> None:
    name, prefix = stream
    started: list[int] = []
    first_started = asyncio.Event()
    release = asyncio.Event()

    async def slow(msg: RawMessage) -> None:
        started.append(msg.raw_message.metadata.num_delivered)
        first_started.set()
        await release.wait()

    consumer = PullConsumer(bus.js, stream=name, subject=f"{prefix}.slow.*", durable="s", handle=slow,
                            max_workers=2, ack_wait=1, max_deliver=5)
    await consumer.start()
    await publish(bus, f"{prefix}.slow.a", 1)
    await asyncio.wait_for(first_started.wait(), 20)
    # three ack waits: without the in-progress heartbeats the server would have redelivered it by now
    await asyncio.sleep(3)
    assert started == [1]
    await consumer.stop(grace=0.1)  # still running: cancelled and naked
    again = asyncio.Event()

    async def quick(msg: RawMessage) -> None:
        started.append(msg.raw_message.metadata.num_delivered)
        again.set()

    async with consuming(bus, name, f"{prefix}.slow.*", "s", quick, max_workers=2, ack_wait=1):
        await asyncio.wait_for(again.wait(), 20)
    assert started == [1, 2]
