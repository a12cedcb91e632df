"""Run-level stages read a whole run back and publish it pre-encoded, over a real NATS."""

from __future__ import annotations

import uuid

from shared.bus import Bus
from shared.events import LeadsCleaned
from shared.schemas import CleanedLead
from shared.wire.batch_codec import Encoded, encode_batches, publish_encoded, read_batches
from tests.factories import cleaned_lead


async def test_a_run_is_read_back_whole_and_in_order_across_many_fetches(bus: Bus) -> None:
    run, other = f"batches-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    leads = [cleaned_lead(n) for n in range(1, 301)]

    def batches(run_id: str, items: list[CleanedLead]) -> list[Encoded]:
        return encode_batches(items, lambda n, part: LeadsCleaned(run_id=run_id, batch=n, leads=part),
                              size=2, max_bytes=1_000_000, key=lambda n: (run_id, n))

    assert await publish_encoded(bus, batches(run, leads)) == 150
    await publish_encoded(bus, batches(other, leads[:4]))
    await publish_encoded(bus, batches(run, leads))  # a redelivered handler: deduplicated by event id

    events = await read_batches(bus, f"lead.cleaned.{run}", LeadsCleaned, fetch=64)
    assert [e.batch for e in events] == list(range(150))
    assert [lead for e in events for lead in e.leads] == leads
    assert await read_batches(bus, f"lead.cleaned.nothing-{uuid.uuid4().hex[:6]}", LeadsCleaned) == []
