"""Per-run budgets (requests, bytes, seconds), shared by the enricher replicas.

Each replica counts what it spends on a run. The replicas tell each other their totals
(:meth:`RunBudgets.shared_report` / :meth:`RunBudgets.merge`; the service sends them every
``ENRICHER_BUDGET_SHARE_SECONDS`` on a plain NATS subject outside the stream, ``Subjects.BUDGET_SHARE``), and a
run's budget is spent when the sum over every replica reaches it. The reports are running totals,
so a lost or repeated one changes nothing; the overshoot is bounded by what the replicas spend in
one sharing interval plus the requests already in flight. The seconds budget runs from the
earliest start any replica saw (wall clock, comparable across machines)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


class BudgetExceeded(Exception):
    """The run has used up one of its budgets; no more fetching for it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.api_calls: list[Any] = []  # the calls sent before the budget ran out (a fetch fills them in)


@dataclass
class RunUsage:
    started: float = field(default_factory=time.time)
    requests: int = 0
    bytes: int = 0
    exceeded: str | None = None
    changed: bool = True  # since the last shared report


# a replica's report: run id -> [requests, bytes, started (epoch seconds)]
Report = dict[str, list[float]]


class RunBudgets:
    def __init__(self, max_requests: int, max_bytes: int, max_seconds: float) -> None:
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self._runs: dict[str, RunUsage] = {}
        self._peers: dict[str, Report] = {}  # the other replicas' latest totals, by replica

    @classmethod
    def from_settings(cls, settings: object) -> RunBudgets:
        return cls(
            int(getattr(settings, "run_budget_requests", 100_000)),
            int(getattr(settings, "run_budget_bytes", 2_000_000_000)),
            float(getattr(settings, "run_budget_seconds", 3600.0)),
        )

    def usage(self, run_id: str) -> RunUsage:
        """What this replica spent on the run."""
        u = self._runs.get(run_id)
        if u is None:
            u = self._runs[run_id] = RunUsage()
        return u

    def totals(self, run_id: str) -> tuple[int, int, float]:
        """(requests, bytes, start) of the run over every replica heard of."""
        u = self.usage(run_id)
        requests, nbytes, started = u.requests, u.bytes, u.started
        for report in self._peers.values():
            theirs = report.get(run_id)
            if theirs is not None:
                requests += int(theirs[0])
                nbytes += int(theirs[1])
                started = min(started, theirs[2])
        return requests, nbytes, started

    def exceeded(self, run_id: str | None) -> str | None:
        """Which budget the run exceeded ("requests", "bytes", "seconds"), or None."""
        if run_id is None:
            return None
        u = self.usage(run_id)
        if u.exceeded:
            return u.exceeded
        requests, nbytes, started = self.totals(run_id) if self._peers else (u.requests, u.bytes, u.started)
        if requests >= self.max_requests:
            u.exceeded = "requests"
        elif nbytes >= self.max_bytes:
            u.exceeded = "bytes"
        elif time.time() - started >= self.max_seconds:
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
        u.changed = True

    def shared_report(self) -> Report:
        """This replica's totals for the runs it spent on since the last report (for the others)."""
        report: Report = {}
        for run_id, u in self._runs.items():
            if u.changed:
                report[run_id] = [u.requests, u.bytes, u.started]
                u.changed = False
        return report

    def merge(self, replica: str, report: Report) -> None:
        """Another replica's totals (a report of :meth:`shared_report`)."""
        mine = self._peers.setdefault(replica, {})
        for run_id, values in report.items():
            if len(values) == 3:
                mine[run_id] = [float(v) for v in values]
