"""Batches prepared as they are published (BatchPrefetch) give the step what reading the stream gives."""

from __future__ import annotations

import uuid

import msgspec

from shared.bus import Bus
from shared.events import LeadsCleaned
from shared.wire import records
from shared.wire.batch_codec import decode_mirror, encode_event, publish_encoded
from shared.wire.batch_prefetch import BatchPrefetch
from tests.factories import cleaned_lead


def _batch(run: str, n: int) -> records.LeadsCleaned:
    event = LeadsCleaned(run_id=run, batch=n, leads=[cleaned_lead(10 * n + i) for i in range(1, 4)])
    return records.to_struct(event, records.LeadsCleaned)


async def _publish(bus: Bus, run: str, batches: range) -> None:
    await publish_encoded(bus, [encode_event(_batch(run, n), key=(run, n)) for n in batches])


def _keys(batch: records.LeadsCleaned) -> tuple[int, list[str]]:
    return batch.batch, [lead.lead_key for lead in batch.leads]


async def test_batches_from_before_and_after_the_start_are_all_taken_in_stream_order_and_prepared_once(
        bus: Bus) -> None:
    run = f"prefetch-{uuid.uuid4().hex[:8]}"
    prepared: list[int] = []

    def prepare(_: None, batch: records.LeadsCleaned) -> tuple[int, list[str]]:
        prepared.append(batch.batch)
        return _keys(batch)

    prefetch: BatchPrefetch[records.LeadsCleaned, None, tuple[int, list[str]]] = BatchPrefetch(
        "lead.cleaned.*", records.LeadsCleaned, prepare)
    await _publish(bus, run, range(2))  # before the follower starts: read from the stream by take()
    await prefetch.start(bus)
    try:
        await _publish(bus, run, range(2, 5))  # followed as they are published
        taken = await prefetch.take(bus, f"lead.cleaned.{run}", run)
    finally:
        await prefetch.stop()
    assert taken == [_keys(_batch(run, n)) for n in range(5)]
    assert sorted(prepared) == [0, 1, 2, 3, 4]  # each batch prepared once, held or read


async def test_a_batch_prepared_under_another_context_is_prepared_again(bus: Bus) -> None:
    run = f"prefetch-{uuid.uuid4().hex[:8]}"
    profile = {"name": "old"}

    async def context(_: str) -> str:
        return profile["name"]

    prefetch: BatchPrefetch[records.LeadsCleaned, str, tuple[str, int]] = BatchPrefetch(
        "lead.cleaned.*", records.LeadsCleaned, lambda name, batch: (name, batch.batch), context=context)
    await prefetch.start(bus)
    try:
        await _publish(bus, run, range(2))
        profile["name"] = "new"  # e.g. the run's ICP profile saved again before its step
        taken = await prefetch.take(bus, f"lead.cleaned.{run}", run)
        again = await prefetch.take(bus, f"lead.cleaned.{run}", run)  # a redelivered step reads the stream
    finally:
        await prefetch.stop()
    assert taken == again == [("new", 0), ("new", 1)]


async def test_a_custom_decoder_sees_the_raw_body(bus: Bus) -> None:
    run = f"prefetch-{uuid.uuid4().hex[:8]}"
    prefetch: BatchPrefetch[bytes, None, bytes] = BatchPrefetch(
        "lead.cleaned.*", records.LeadsCleaned, lambda _, data: data, decode=lambda data: data)
    await prefetch.start(bus)
    try:
        await _publish(bus, run, range(1))
        [data] = await prefetch.take(bus, f"lead.cleaned.{run}", run)
    finally:
        await prefetch.stop()
    assert msgspec.to_builtins(decode_mirror(data, records.LeadsCleaned)) == msgspec.to_builtins(_batch(run, 0))
