"""Whether a run was cancelled: one direct get of ``run.cancelled.<run>`` per question, and a yes is
remembered by the process (a cancellation is never taken back)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared.bus import Bus, StoredEvent
from shared.events import RunStep, Subjects, subject_token

LastOn = Callable[[str], Awaitable[StoredEvent | None]]


class CancelledRuns:
    def __init__(self, last: LastOn, *, remember: int = 4096) -> None:
        self._last = last
        self._remember = remember
        self._cancelled: dict[str, None] = {}  # insertion-ordered: the oldest is forgotten first

    async def __call__(self, run_id: str) -> bool:
        if run_id in self._cancelled:
            return True
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
