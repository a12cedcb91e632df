"""CancelledRuns with ``fresh_for``: one stream lookup per run per period, however many leads ask."""

from __future__ import annotations

import asyncio

from shared.bus import StoredEvent
from shared.run_cancellation import CancelledRuns


class Stream:
    """Stands in for ``Bus.last`` on ``run.cancelled.<run>``: counts the lookups, cancels on demand."""

    def __init__(self) -> None:
        self.lookups: list[str] = []
        self.cancelled: set[str] = set()
        self.gate: asyncio.Event | None = None

    async def last(self, subject: str) -> StoredEvent | None:
        self.lookups.append(subject)
        if self.gate is not None:
            await self.gate.wait()
        run = subject.rsplit(".", 1)[1]
        return StoredEvent(1, subject, None, {}) if run in self.cancelled else None  # type: ignore[arg-type]


async def test_concurrent_questions_about_a_run_share_one_lookup_and_a_no_is_trusted_for_a_while() -> None:
    stream = Stream()
    stream.gate = asyncio.Event()
    runs = CancelledRuns(stream.last, fresh_for=60.0)
    asking = [asyncio.create_task(runs("r1")) for _ in range(100)]
    await asyncio.sleep(0)
    stream.gate.set()
    assert await asyncio.gather(*asking) == [False] * 100
    assert not await runs("r1")
    assert len(stream.lookups) == 1
    assert not await runs("r2") and len(stream.lookups) == 2


async def test_a_cancellation_is_seen_once_the_no_has_gone_stale_and_then_remembered() -> None:
    stream = Stream()
    now = [100.0]
    runs = CancelledRuns(stream.last, fresh_for=1.0, clock=lambda: now[0])
    assert not await runs("r1")
    stream.cancelled.add("r1")
    now[0] += 0.9
    assert not await runs("r1")  # still the fresh "no"
    now[0] += 0.2
    assert await runs("r1")
    n = len(stream.lookups)
    assert await runs("r1") and len(stream.lookups) == n  # a yes is never asked again


async def test_without_fresh_for_every_question_is_a_lookup() -> None:
    stream = Stream()
    runs = CancelledRuns(stream.last)
    for _ in range(3):
        assert not await runs("r1")
    assert len(stream.lookups) == 3
