"""The KPI verdict of the run the exporter closes: the run report's judgement (MET / NOT MET per
target and overall) on the vault's facts of the run, with the run ending at ``finished_at`` — the
time its completion event carries, so the Run page's report judges it the same."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from shared.events import KpiVerdict
from shared.run_facts import gather_facts
from shared.run_report import build_report, kpi_verdict


def closing_verdict(engine: Engine, run_id: str, finished_at: datetime) -> KpiVerdict | None:
    """None when the run sets no target (nor its ICP profile), or the vault does not know the run."""
    facts = gather_facts(engine, run_id)
    if facts is None:
        return None
    facts.run.update(status="completed", finished_at=finished_at.isoformat())
    return kpi_verdict(build_report(facts, budgets={})["kpi"])
