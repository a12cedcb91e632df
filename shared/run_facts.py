"""A run's facts as the vault holds them (read-only queries), for the run report
(:mod:`shared.run_report`): its row, steps, lead coverage, API calls, rejects and its ICP profile's
targets. The gateway reads them for the Run page; the exporter for the verdict of the run it closes."""

from __future__ import annotations

import json

import orjson
from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from shared.run_report import RunFacts
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
