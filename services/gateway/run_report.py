"""The run report of one run, as the gateway serves it (the Run page, ``GET /api/runs/{id}/report``,
the end of ``hunter hunt``): the vault's facts (:mod:`shared.run_facts`) through the pure builder
(:mod:`shared.run_report`), with reject reasons in words and the enrichment budgets in force."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from services.gateway.rejects import reason_text
from shared.run_facts import gather_facts
from shared.run_report import build_report


def budget_limits(settings: Any) -> dict[str, float]:
    """The per-run enrichment budgets in force (the enrichers read the same settings)."""
    return {"requests": settings.run_budget_requests, "bytes": settings.run_budget_bytes,
            "seconds": settings.run_budget_seconds}


def report_for(engine: Engine, settings: Any, run_id: str) -> dict[str, Any] | None:
    facts = gather_facts(engine, run_id)
    return None if facts is None else build_report(facts, budgets=budget_limits(settings), reason_words=reason_text)
