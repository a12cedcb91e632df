"""Dry runs: the plan of a hunt — source, filters in words, an estimate of the matching rows, the
enrichment it would do, its ICP and KPI targets, and what is wrong with it — without publishing
anything. The gateway and ``hunter hunt --dry-run`` both build it here."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson

from shared.domain.icp import IcpNotFound, load_icp
from shared.events import KpiTargets, PlanRequest, RunFilters, Subjects

PLAN_SECONDS = 5.0  # how long the extractor may count a file source before it answers "at least N"


def filters_in_words(f: RunFilters) -> str:
    parts = []
    if f.uf:
        parts.append("state " + " or ".join(f.uf))
    if f.city:
        parts.append("city " + " or ".join(f.city))
    if f.cnae:
        parts.append("CNAE " + " or ".join(f.cnae) + (" (main or secondary)" if f.include_secondary else ""))
    if f.naf:
        parts.append("NAF " + " or ".join(f.naf))
    status = "any registry status" if "*" in f.status else "status " + " or ".join(f.status)
    parts.append(status)
    if f.limit:
        parts.append(f"at most {f.limit:,} companies")
    return ", ".join(parts)


def resolve_icp(name: str | None, saved: dict[str, dict[str, Any]],
                icp_dir: Path | None) -> tuple[dict[str, Any], str | None]:
    """The ICP profile a run would use (saved ones win over files and templates), or the reason it has none."""
    if name and name in saved:
        return saved[name], None
    try:
        return load_icp(name, icp_dir).model_dump(exclude_none=True), None
    except (IcpNotFound, ValueError, OSError) as exc:
        return {"name": name}, f"unknown ICP profile {name!r}: {exc}"


def build_plan(*, source: str, filters: RunFilters, enrich_top: float, icp: dict[str, Any], icp_error: str | None,
               targets: KpiTargets | None, estimate: dict[str, Any], budgets: dict[str, float]) -> dict[str, Any]:
    rows = estimate.get("rows")
    problems = [p for p in (estimate.get("error"), icp_error) if p]
    merged = {**(icp.get("targets") or {}), **(targets.is_set() if targets else {})}
    return {
        "source": source, "source_kind": source.split(":", 1)[0], "filters": filters.model_dump(),
        "filters_in_words": filters_in_words(filters), "icp": icp.get("name") or "default",
        "targets": {k: v for k, v in merged.items() if v is not None}, "enrich_top": enrich_top,
        "estimate": estimate,
        "enrichment": {"leads": None if rows is None else math.ceil(rows * enrich_top),
                       "at_least": rows is not None and not estimate.get("exact", False), "budgets": budgets},
        "problems": problems, "ok": not problems, "published": False,
    }


async def ask_extractor(nc: Any, source: str, filters: RunFilters, *, seconds: float = PLAN_SECONDS) -> dict[str, Any]:
    """The extractor's count of the source's matching rows (plain NATS request/reply)."""
    ask = PlanRequest(source=source, filters=filters, seconds=seconds)
    try:
        reply = await nc.request(Subjects.PLAN_REQUEST, ask.model_dump_json().encode(), timeout=seconds + 10)
    except Exception as exc:  # noqa: BLE001 - no responders, a timeout: the plan says so instead of failing
        return {"rows": None, "exact": False, "error": None,
                "note": f"no estimate: no extractor answered ({type(exc).__name__})"}
    return orjson.loads(reply.data)
