"""Per-run budgets (requests, bytes, seconds) kept inside one enricher process."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class BudgetExceeded(Exception):
    """The run has used up one of its budgets; no more fetching for it."""


@dataclass
class RunUsage:
    started: float = field(default_factory=time.monotonic)
    requests: int = 0
    bytes: int = 0
    exceeded: str | None = None


class RunBudgets:
    def __init__(self, max_requests: int, max_bytes: int, max_seconds: float) -> None:
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self._runs: dict[str, RunUsage] = {}

    @classmethod
    def from_settings(cls, settings: object) -> RunBudgets:
        return cls(
            int(getattr(settings, "run_budget_requests", 100_000)),
            int(getattr(settings, "run_budget_bytes", 2_000_000_000)),
            float(getattr(settings, "run_budget_seconds", 3600.0)),
        )

    def usage(self, run_id: str) -> RunUsage:
        u = self._runs.get(run_id)
        if u is None:
            u = self._runs[run_id] = RunUsage()
        return u

    def exceeded(self, run_id: str | None) -> str | None:
        """Which budget the run exceeded ("requests", "bytes", "seconds"), or None."""
        if run_id is None:
            return None
        u = self.usage(run_id)
        if u.exceeded:
            return u.exceeded
        if u.requests >= self.max_requests:
            u.exceeded = "requests"
        elif u.bytes >= self.max_bytes:
            u.exceeded = "bytes"
        elif time.monotonic() - u.started >= self.max_seconds:
            u.exceeded = "seconds"
        return u.exceeded

    def check(self, run_id: str | None) -> None:
        which = self.exceeded(run_id)
        if which:
            raise BudgetExceeded(f"run budget exceeded: {which}")

    def charge(self, run_id: str | None, *, requests: int = 0, nbytes: int = 0) -> None:
        if run_id is None:
            return
        u = self.usage(run_id)
        u.requests += requests
        u.bytes += nbytes
