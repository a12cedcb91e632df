"""Whether a run was cancelled: a direct get of ``run.cancelled.<run>``, and a yes is remembered by the
process (a cancellation is never taken back).

A stage that asks once per lead passes ``fresh_for`` (seconds): a "no" is then trusted that long and
concurrent questions about the same run share one get, so a cancellation is noticed within
``fresh_for`` seconds at the cost of one request per run per period instead of one per lead."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from shared.bus import Bus, StoredEvent
from shared.events import RunStep, Subjects, subject_token

LastOn = Callable[[str], Awaitable[StoredEvent | None]]


class CancelledRuns:
    def __init__(self, last: LastOn, *, remember: int = 4096, fresh_for: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._last = last
        self._clock = clock
        self._remember = remember
        self._fresh_for = fresh_for
        self._cancelled: dict[str, None] = {}  # insertion-ordered: the oldest is forgotten first
        self._not_yet: dict[str, float] = {}  # run -> until when its "no" holds
        self._asking: dict[str, asyncio.Future[bool | None]] = {}  # None: the get failed, ask again

    async def __call__(self, run_id: str) -> bool:
        if run_id in self._cancelled:
            return True
        if self._fresh_for <= 0:
            return await self._ask(run_id)
        if self._not_yet.get(run_id, 0.0) > self._clock():
            return False
        pending = self._asking.get(run_id)
        if pending is not None:
            shared = await asyncio.shield(pending)
            return await self._ask(run_id) if shared is None else shared
        pending = self._asking[run_id] = asyncio.get_running_loop().create_future()
        try:
            answer = await self._ask(run_id)
        except BaseException:
            pending.set_result(None)
            raise
        finally:
            del self._asking[run_id]
        if not answer:
            if len(self._not_yet) >= self._remember:
                self._not_yet.pop(next(iter(self._not_yet)))
            self._not_yet[run_id] = self._clock() + self._fresh_for
        pending.set_result(answer)
        return answer

    def remember(self, run_id: str) -> None:
        """The run is cancelled (heard from its ``run.cancelled`` message): say so at once from now on."""
        if run_id in self._cancelled:
            return
        if len(self._cancelled) >= self._remember:
            self._cancelled.pop(next(iter(self._cancelled)))
        self._cancelled[run_id] = None
        self._not_yet.pop(run_id, None)

    async def _ask(self, run_id: str) -> bool:
        if await self._last(Subjects.RUN_CANCELLED.format(run_id=subject_token(run_id))) is None:
            return False
        if len(self._cancelled) >= self._remember:
            self._cancelled.pop(next(iter(self._cancelled)))
        self._cancelled[run_id] = None
        return True


async def publish_run_cancelled(bus: Bus, run_id: str, *, stage: str, causation_id: str | None = None) -> None:
    """Close the run as cancelled (once: the key dedups whichever stage noticed it first)."""
    await bus.publish(RunStep(run_id=run_id, stage="run", status="cancelled", message=f"cancelled before {stage}"),
                      key=(run_id, "run", "cancelled"), stage="run", causation_id=causation_id)
