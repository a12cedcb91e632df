"""The run report: one run's funnel, coverage, quality score, stage timeline, budgets, API calls and
reject reasons, judged against its KPI targets. The same facts feed the Run page, the API
(``GET /api/runs/{id}/report``) and the end of ``hunter hunt``.

:func:`gather_facts` reads what the vault holds of a run; :func:`build_report` is pure arithmetic on
those facts (the unit tests hit it with plain values)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.gateway.rejects import reason_text
from shared.vault.schema import (
    ApiCallRow,
    Company,
    DroppedRow,
    EnrichmentRow,
    IcpProfileRow,
    Lead,
    Run,
    RunStepRow,
)

# Coverage weights of the quality score (they add up to 1): what makes a lead workable.
QUALITY_WEIGHTS = {"phone": 0.25, "email": 0.25, "site": 0.20, "whatsapp": 0.15, "technologies": 0.10,
                   "socials": 0.05}
# Reject reasons that mean bad input (the reject rate); MEI and duplicates are policy, not bad data.
BAD_INPUT_REASONS = ("malformed_row", "invalid_registry_id", "invalid_row", "bad_row")
STAGE_ROWS = {"extract": "extracted", "clean": "in", "score": "scored", "enrich": "enriched", "rescore": "rescored"}
TARGET_WORDS = {
    "min_quality_score": ("quality score", ">="),
    "min_leads": ("leads", ">="),
    "min_hot": ("hot leads", ">="),
    "min_enriched_with_site_rate": ("enriched leads with a site", ">="),
    "max_reject_rate": ("reject rate", "<="),
    "min_rows_per_s": ("rows per second", ">="),
}


@dataclass
class RunFacts:
    """What the vault holds of one run, as plain values."""

    run: dict[str, Any]
    steps: list[dict[str, Any]]
    leads: dict[str, int]  # leads, hot, enriched, with_site, with_email, with_whatsapp, ... (see gather_facts)
    api_calls: list[dict[str, Any]] = field(default_factory=list)
    rejects: dict[str, int] = field(default_factory=dict)
    icp_targets: dict[str, float] = field(default_factory=dict)


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def stage_timeline(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per stage: its first start, its end (completed, failed or cancelled), rows and rows/s."""
    out: dict[str, dict[str, Any]] = {}
    for st in steps:
        if st["stage"] == "run":
            continue
        stage = out.setdefault(st["stage"], {"stage": st["stage"], "started_at": None, "ended_at": None,
                                             "status": "running", "rows": None})
        if st["status"] == "started" and stage["started_at"] is None:
            stage["started_at"] = st["occurred_at"]
        elif st["status"] in ("completed", "failed", "cancelled"):
            stage.update(ended_at=st["occurred_at"], status=st["status"])
            stage["started_at"] = stage["started_at"] or st["occurred_at"]
        key = STAGE_ROWS.get(st["stage"])
        if key and key in st["counts"]:
            stage["rows"] = st["counts"][key]
        elif st["stage"] == "export" and st["status"] == "completed":
            stage["rows"] = sum(v for v in st["counts"].values() if isinstance(v, int))
    for stage in out.values():
        start, end = _when(stage["started_at"]), _when(stage["ended_at"])
        seconds = (end - start).total_seconds() if start and end else None
        stage["seconds"] = round(seconds, 3) if seconds is not None else None
        rows = stage["rows"]
        stage["rows_per_s"] = round(rows / seconds, 1) if rows and seconds and seconds > 0 else None
    return list(out.values())


def quality_score(coverage: dict[str, float | None], reject_rate: float | None) -> float | None:
    """0–100: the weighted coverage of workable contact data, times the share of rows that were not bad input."""
    if all(v is None for v in coverage.values()):
        return None
    covered = sum(w * (coverage.get(k) or 0.0) for k, w in QUALITY_WEIGHTS.items())
    return round(100 * covered * (1 - (reject_rate or 0.0)), 1)


def judge(targets: dict[str, float], actual: dict[str, float | None]) -> dict[str, Any]:
    """MET / NOT MET per target set, and overall (None when no target is set)."""
    rows = []
    for key, target in targets.items():
        words, op = TARGET_WORDS[key]
        value = actual.get(key)
        met = value is not None and (value >= target if op == ">=" else value <= target)
        rows.append({"target": key, "label": words, "op": op, "goal": target, "actual": value,
                     "status": "MET" if met else "NOT MET"})
    overall = None if not rows else ("MET" if all(r["status"] == "MET" for r in rows) else "NOT MET")
    return {"targets": rows, "overall": overall}


def build_report(facts: RunFacts, *, budgets: dict[str, float]) -> dict[str, Any]:
    run, counts, leads = facts.run, facts.run.get("counts") or {}, facts.leads
    extracted = counts.get("extract.extracted", 0)
    rejected_rows = counts.get("extract.rejected", 0)
    invalid = counts.get("clean.dropped_invalid_registry_id", 0)
    enriched = counts.get("enrich.enriched", leads.get("enriched", 0))
    read = extracted + rejected_rows
    # (key, words, count, the step its rate is taken of): the tail counts the enriched leads that gained each
    funnel_steps = [
        ("read", "rows read", read, None),
        ("valid", "valid rows", max(extracted - invalid, 0), "read"),
        ("cleaned", "cleaned (MEI and duplicates out)", counts.get("clean.out", leads.get("leads", 0)), "valid"),
        ("scored", "scored", counts.get("score.scored", leads.get("leads", 0)), "cleaned"),
        ("selected", "selected for enrichment", counts.get("score.selected_for_enrichment", 0), "scored"),
        ("enriched", "enriched", enriched, "selected"),
        ("with_site", "enriched with a site", leads.get("enriched_with_site", 0), "enriched"),
        ("with_email", "enriched with an e-mail", leads.get("enriched_with_email", 0), "enriched"),
        ("with_whatsapp", "enriched with WhatsApp", leads.get("enriched_with_whatsapp", 0), "enriched"),
        ("hot", "hot", leads.get("hot", 0), "scored"),
    ]
    funnel, seen = [], {}
    for key, label, n, of in funnel_steps:
        seen[key] = n
        funnel.append({"step": key, "label": label, "count": n, "of": of,
                       "rate": _rate(n, seen[of]) if of else None, "rate_of_read": _rate(n, read)})
    total = leads.get("leads", 0)
    coverage = {k: _rate(leads.get(f"with_{k}", 0), total) for k in QUALITY_WEIGHTS}
    bad = rejected_rows + invalid
    reject_rate = _rate(bad, read)
    quality = quality_score(coverage, reject_rate)
    timeline = stage_timeline(facts.steps)
    started, finished = _when(run.get("requested_at")), _when(run.get("finished_at"))
    wall = (finished - started).total_seconds() if started and finished else None
    rows_per_s = round(read / wall, 1) if wall and wall > 0 else None
    enrich_seconds = next((s["seconds"] for s in timeline if s["stage"] == "enrich"), None)
    fetched = [c for c in facts.api_calls if c["service"] == "enricher"]
    budget_rows = [
        {"budget": "requests", "used": sum(c["calls"] - c["cache_hits"] for c in fetched),
         "limit": budgets.get("requests")},
        {"budget": "bytes", "used": sum(c["bytes"] for c in fetched), "limit": budgets.get("bytes")},
        {"budget": "seconds", "used": enrich_seconds, "limit": budgets.get("seconds")},
    ]
    for b in budget_rows:
        b["share"] = _rate(b["used"] or 0, b["limit"] or 0)
    with_site_rate = _rate(leads.get("enriched_with_site", 0), enriched)
    targets = {**facts.icp_targets, **(run.get("targets") or {})}
    actual = {"min_quality_score": quality, "min_leads": total, "min_hot": leads.get("hot", 0),
              "min_enriched_with_site_rate": with_site_rate, "max_reject_rate": reject_rate,
              "min_rows_per_s": rows_per_s}
    rejects = sorted(facts.rejects.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "run_id": run["run_id"], "label": run.get("label"), "source": run.get("source"), "status": run.get("status"),
        "message": run.get("message") or "", "icp": run.get("icp"), "requested_at": run.get("requested_at"),
        "finished_at": run.get("finished_at"), "seconds": round(wall, 3) if wall is not None else None,
        "rows_per_s": rows_per_s, "funnel": funnel,
        "coverage": {k: {"leads": leads.get(f"with_{k}", 0), "rate": coverage[k]} for k in QUALITY_WEIGHTS},
        "leads": total, "reject_rate": reject_rate, "quality_score": quality,
        "quality_weights": QUALITY_WEIGHTS, "timeline": timeline, "budgets": budget_rows,
        "api_calls": facts.api_calls,
        "rejects": [{"reason": r, "label": reason_text(r), "rows": n} for r, n in rejects],
        "kpi": judge(targets, actual),
    }


def gather_facts(engine: Engine, run_id: str) -> RunFacts | None:
    """The run's row, steps, lead coverage, API calls, rejects and its ICP profile's targets."""
    with Session(engine) as s:
        run = s.get(Run, run_id)
        if run is None:
            return None
        run_d = run.model_dump()
        for k in ("filters", "counts", "targets"):
            run_d[k] = json.loads(run_d.get(k) or "{}")
        steps = [{"stage": st.stage, "status": st.status, "counts": json.loads(st.counts),
                  "occurred_at": st.occurred_at}
                 for st in s.exec(select(RunStepRow).where(RunStepRow.run_id == run_id)  # type: ignore[call-overload]
                                  .order_by(RunStepRow.seq)).scalars()]
        leads = _lead_coverage(s, run_id)
        calls = s.execute(
            select(ApiCallRow.service, func.count(), func.sum(case((ApiCallRow.error.is_not(None), 1), else_=0)),  # type: ignore[union-attr]
                   func.avg(ApiCallRow.latency_ms), func.max(ApiCallRow.latency_ms),
                   func.sum(case((ApiCallRow.cache_hit, 1), else_=0)), func.sum(ApiCallRow.bytes))
            .where(ApiCallRow.run_id == run_id).group_by(ApiCallRow.service).order_by(ApiCallRow.service)).all()
        api_calls = [{"service": svc, "calls": n, "errors": int(err or 0), "avg_latency_ms": round(avg or 0.0, 1),
                      "max_latency_ms": round(mx or 0.0, 1), "cache_hits": int(hits or 0), "bytes": int(nbytes or 0)}
                     for svc, n, err, avg, mx, hits, nbytes in calls]
        rejects = {r: int(n) for r, n in s.execute(select(DroppedRow.reason, func.count())
                                                   .where(DroppedRow.run_id == run_id).group_by(DroppedRow.reason))}
        icp_targets: dict[str, float] = {}
        if run.icp:
            row = s.get(IcpProfileRow, run.icp)
            if row is not None:
                icp_targets = {k: v for k, v in (json.loads(row.profile).get("targets") or {}).items()
                               if v is not None}
    return RunFacts(run=run_d, steps=steps, leads=leads, api_calls=api_calls, rejects=rejects,
                    icp_targets=icp_targets)


def _lead_coverage(s: Session, run_id: str) -> dict[str, int]:
    """Counts over the run's leads of workable contact data, from the registry or from the site."""
    out = dict.fromkeys(("leads", "hot", "enriched", "with_site", "with_email", "with_whatsapp", "with_phone",
                         "with_technologies", "with_socials", "enriched_with_site", "enriched_with_email",
                         "enriched_with_whatsapp"), 0)
    rows = s.execute(
        select(Lead.bucket, Lead.enriched, Lead.has_site, Lead.has_whatsapp, Lead.technologies != "",
               Company.email.is_not(None), Company.whatsapp.is_not(None), Company.phone.is_not(None),  # type: ignore[union-attr]
               EnrichmentRow.data)
        .select_from(Lead).join(Company, Company.lead_key == Lead.lead_key)  # type: ignore[arg-type]
        .outerjoin(EnrichmentRow, and_(EnrichmentRow.lead_key == Lead.lead_key, Lead.enriched))  # type: ignore[arg-type]
        .where(Lead.run_id == run_id))
    for bucket, enriched, site, has_wa, techs, email, wa, phone, data in rows:
        found = orjson.loads(data) if data else {}
        out["leads"] += 1
        out["hot"] += bucket == "hot"
        out["enriched"] += bool(enriched)
        has_email, has_whatsapp = bool(email or found.get("emails")), bool(wa or has_wa or found.get("whatsapp"))
        out["with_site"] += bool(site)
        out["with_email"] += has_email
        out["with_whatsapp"] += has_whatsapp
        if enriched:
            out["enriched_with_site"] += bool(site)
            out["enriched_with_email"] += has_email
            out["enriched_with_whatsapp"] += has_whatsapp
        out["with_phone"] += bool(phone or found.get("phones"))
        out["with_technologies"] += bool(techs)
        out["with_socials"] += bool(found.get("socials"))
    return out


def budget_limits(settings: Any) -> dict[str, float]:
    """The per-run enrichment budgets in force (the enrichers read the same settings)."""
    return {"requests": settings.run_budget_requests, "bytes": settings.run_budget_bytes,
            "seconds": settings.run_budget_seconds}


def report_for(engine: Engine, settings: Any, run_id: str) -> dict[str, Any] | None:
    facts = gather_facts(engine, run_id)
    return None if facts is None else build_report(facts, budgets=budget_limits(settings))
