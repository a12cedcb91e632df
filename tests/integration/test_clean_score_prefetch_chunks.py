"""A run the prefetch did not follow (published before it started, or it fell behind) is read back from the
stream a few batches at a time: never the whole run decoded at once."""

from __future__ import annotations

import uuid

from shared.bus import Bus
from shared.wire import records
from shared.wire.batch_codec import decode_mirror
from shared.wire.batch_prefetch import BatchPrefetch
from tests.integration.test_clean_score_prefetch import _batch, _keys, _publish


async def test_batches_read_back_from_the_stream_are_decoded_a_chunk_at_a_time_in_stream_order(bus: Bus) -> None:
    run = f"chunks-{uuid.uuid4().hex[:8]}"
    alive, most = 0, 0

    def decode(data: bytes) -> records.LeadsCleaned:
        nonlocal alive, most
        alive += 1
        most = max(most, alive)
        return decode_mirror(data, records.LeadsCleaned)

    def prepare(_: None, batch: records.LeadsCleaned) -> tuple[int, list[str]]:
        nonlocal alive
        alive -= 1
        return _keys(batch)

    prefetch: BatchPrefetch[records.LeadsCleaned, None, tuple[int, list[str]]] = BatchPrefetch(
        "lead.cleaned.*", records.LeadsCleaned, prepare, decode=decode, read_chunk=3)
    await _publish(bus, run, range(20))  # before the follower starts: all read back by take()
    await prefetch.start(bus)
    try:
        taken = await prefetch.take(bus, f"lead.cleaned.{run}", run)
    finally:
        await prefetch.stop()
    assert taken == [_keys(_batch(run, n)) for n in range(20)]
    assert most == 3  # decoded and prepared three at a time
