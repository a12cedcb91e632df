"""The scorer's per-process state, one dataclass: what it keeps of ICP profiles and of recent runs
(bounded), read from the stream when missing.

A run's ICP is resolved when v1 starts: the latest saved profile of that name on ``icp.saved.<name>``
(IcpProfileSaved), else a file or shipped template; v2 of the same run reuses it (per process)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from services.scorer.logic import RunScorer
from shared.bus import Bus
from shared.domain.icp import IcpProfile
from shared.domain.icp_profiles import is_profile_name, resolve_icp, saved_subject
from shared.events import IcpProfileSaved, Subjects, subject_token

RunIcp = tuple[IcpProfile, date, float]
RUN_CACHE_MAX = 256


@dataclass
class ScorerState:
    """Made with the service; each cache bounded to the ``RUN_CACHE_MAX`` latest runs."""

    icp_dir: Path | None
    icps: dict[tuple[str, int], IcpProfile] = field(default_factory=dict)  # (name, seq of the saved event or 0)
    runs: dict[str, RunIcp] = field(default_factory=dict)  # a run's profile, reference date and enrich-top
    scorers: dict[str, RunScorer] = field(default_factory=dict)  # a run's v1 scorer
    rescore_started: dict[str, None] = field(default_factory=dict)  # runs whose rescore `started` step is out

    async def resolve_run_icp(self, bus: Bus, name: str | None) -> IcpProfile:
        """A saved profile of that name (latest IcpProfileSaved) wins over files and templates."""
        saved = await bus.last(saved_subject(name.strip())) if name and is_profile_name(name) else None
        key = (name or "", saved.seq if saved else 0)
        if key not in self.icps:
            event = saved.event_as(IcpProfileSaved) if saved else None
            self.icps[key] = resolve_icp(name, event, self.icp_dir)
        return self.icps[key]

    async def run_icp(self, bus: Bus, run: str, *, refresh: bool = False) -> RunIcp:
        """The run's ICP profile, its reference date (when it was requested) and enrich-top."""
        runs = self.runs
        if not refresh and run in runs:
            return runs[run]
        stored = await bus.last(Subjects.RUN_REQUESTED.format(run_id=subject_token(run)))
        if stored is None:
            raise ValueError(f"run {run} has no run.requested event")
        request = stored.event()
        icp = await self.resolve_run_icp(bus, getattr(request, "icp", None))
        if len(runs) >= RUN_CACHE_MAX:
            runs.pop(next(iter(runs)))
        runs[run] = (icp, stored.envelope.occurred_at.date(), float(getattr(request, "enrich_top", 0.2)))
        return runs[run]

    async def run_scorer(self, bus: Bus, run: str) -> RunScorer:
        """The run's v1 scorer for its current profile (a new one when the profile changed)."""
        icp, as_of, _ = await self.run_icp(bus, run)
        scorers = self.scorers
        scorer = scorers.get(run)
        if scorer is None or scorer.icp is not icp or scorer.as_of != as_of:
            if len(scorers) >= RUN_CACHE_MAX:
                scorers.pop(next(iter(scorers)))
            scorers[run] = scorer = RunScorer(icp, as_of)
        return scorer
