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


async def test_a_message_the_ack_pending_limit_held_back_starts_as_soon_as_the_server_lets_it_out(
    bus: Bus, stream: tuple[str, str],
) -> None:
    """Replicas asking for more messages than the consumer's ``max_ack_pending`` lets out: each message the
    server hands out as others are acked starts at once, not when a batch fills or a request expires."""
    name, prefix = stream
    await bus.js.add_consumer(name, api.ConsumerConfig(
        name="capped", durable_name="capped", filter_subject=f"{prefix}.cap.*", ack_wait=60, max_deliver=5,
        max_ack_pending=2,
    ))
    started: dict[bytes, asyncio.Event] = {b"%d" % i: asyncio.Event() for i in range(3)}
    release: dict[bytes, asyncio.Event] = {b"%d" % i: asyncio.Event() for i in range(3)}

    async def handle(msg: RawMessage) -> None:
        started[msg.body].set()
        await release[msg.body].wait()

    consumers = [PullConsumer(bus.js, stream=name, subject=f"{prefix}.cap.*", durable="capped", handle=handle,
                              max_workers=4, ack_wait=60, max_deliver=5, fetch_timeout=30) for _ in range(2)]
    for consumer in consumers:
        await consumer.start()
    try:
        await publish(bus, f"{prefix}.cap.a", 3)
        await asyncio.wait_for(asyncio.gather(started[b"0"].wait(), started[b"1"].wait()), 20)
        assert not started[b"2"].is_set()  # the limit: two unacked at most
        release[b"0"].set()
        # held back until "0" is acked; then out at once (a batching fetch kept it for its 30 s request)
        await asyncio.wait_for(started[b"2"].wait(), 10)
    finally:
        for event in release.values():
            event.set()
        for consumer in consumers:
            await consumer.stop()


async def test_the_ack_pending_limit_asked_for_is_set_on_a_new_or_existing_consumer(
    bus: Bus, stream: tuple[str, str],
) -> None:
    name, prefix = stream
    await bus.js.add_consumer(name, api.ConsumerConfig(
        name="old", durable_name="old", filter_subject=f"{prefix}.old.*", ack_wait=60, max_deliver=5,
    ))
    assert (await bus.js.consumer_info(name, "old")).config.max_ack_pending == 1000  # the server's default

    async def handle(msg: RawMessage) -> None:
        pass

    for durable in ("old", "new"):
        consumer = PullConsumer(bus.js, stream=name, subject=f"{prefix}.{durable}.*", durable=durable, handle=handle,
                                max_workers=4, ack_wait=60, max_deliver=5, max_ack_pending=-1)
        await consumer.start()
        await consumer.stop()
        info = await bus.js.consumer_info(name, durable)
        assert info.config.max_ack_pending == -1 and info.config.ack_wait == 60, durable


class _Refusals:
    """A logger that keeps the times of ``pull_refused`` warnings."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.changed = asyncio.Event()

    def warning(self, event: str, **fields: object) -> None:
        if event == "pull_refused":
            self.times.append(asyncio.get_running_loop().time())
            self.changed.set()


async def test_a_refused_pull_request_is_asked_again_after_a_pause_not_in_a_loop(
    bus: Bus, stream: tuple[str, str],
) -> None:
    name, prefix = stream
    log = _Refusals()

    async def handle(msg: RawMessage) -> None:
        pass

    consumer = PullConsumer(bus.js, stream=name, subject=f"{prefix}.gone.*", durable="gone", handle=handle,
                            max_workers=4, ack_wait=60, max_deliver=5, fetch_timeout=30, log=log)
    await consumer.start()
    try:
        await bus.js.delete_consumer(name, "gone")  # its requests are refused from now on
        while len(log.times) < 3:
            log.changed.clear()
            await asyncio.wait_for(log.changed.wait(), 20)
    finally:
        await consumer.stop()
    gaps = [b - a for a, b in zip(log.times[1:], log.times[2:], strict=False)]
    assert gaps and min(gaps) >= 0.9, gaps


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
