"""Read-only queries on the vault for the API."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.projector.models import Company, EnrichmentRow, ExportRow, Lead, Run, RunStepRow


def _run_dict(run: Run) -> dict[str, Any]:
    d = run.model_dump()
    d["filters"] = json.loads(run.filters)
    d["counts"] = json.loads(run.counts)
    return d


def list_runs(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    with Session(engine) as s:
        rows = s.exec(select(Run).order_by(Run.requested_at.desc()).limit(limit)).all()  # type: ignore[union-attr]
        return [_run_dict(r) for r in rows]


def get_run(engine: Engine, run_id: str) -> dict[str, Any] | None:
    with Session(engine) as s:
        run = s.get(Run, run_id)
        if run is None:
            return None
        steps = s.exec(select(RunStepRow).where(RunStepRow.run_id == run_id).order_by(RunStepRow.seq)).all()
        buckets = dict(
            s.exec(select(Lead.bucket, func.count()).where(Lead.run_id == run_id).group_by(Lead.bucket)).all()
        )
        out = _run_dict(run)
        out["steps"] = [{**st.model_dump(), "counts": json.loads(st.counts)} for st in steps]
        out["buckets"] = {k or "none": v for k, v in buckets.items()}
        return out


def list_leads(engine: Engine, *, run_id: str | None = None, bucket: str | None = None,
               min_score: int | None = None, max_score: int | None = None, uf: str | None = None,
               city: str | None = None, cnae: str | None = None, has_site: bool | None = None,
               has_whatsapp: bool | None = None, technology: str | None = None,
               accountant_like: bool | None = None, q: str | None = None,
               limit: int = 50, offset: int = 0) -> dict[str, Any]:
    with Session(engine) as s:
        stmt = select(Lead, Company).join(Company, Company.lead_key == Lead.lead_key)  # type: ignore[arg-type]
        conds: list[Any] = []
        if run_id:
            conds.append(Lead.run_id == run_id)
        if bucket:
            conds.append(Lead.bucket == bucket)
        if min_score is not None:
            conds.append(Lead.score >= min_score)  # type: ignore[operator]
        if max_score is not None:
            conds.append(Lead.score <= max_score)  # type: ignore[operator]
        if uf:
            conds.append(Company.state == uf.upper())
        if city:
            conds.append(func.upper(Company.city) == city.upper())
        if cnae:
            conds.append(Company.activity_main.startswith(cnae))  # type: ignore[union-attr]
        if has_site is not None:
            conds.append(Lead.has_site == has_site)
        if has_whatsapp is not None:
            conds.append(Lead.has_whatsapp == has_whatsapp)
        if technology:
            conds.append(Lead.technologies.contains(technology))  # type: ignore[attr-defined]
        if accountant_like is not None:
            conds.append(Company.accountant_like == accountant_like)
        if q:
            like = f"%{q.upper()}%"
            conds.append(or_(func.upper(Company.legal_name).like(like), func.upper(Company.trade_name).like(like),
                             Company.registry_id.like(f"%{q}%")))  # type: ignore[union-attr]
        for c in conds:
            stmt = stmt.where(c)
        total = s.exec(select(func.count()).select_from(stmt.subquery())).one()
        rows = s.exec(stmt.order_by(Lead.score.desc(), Lead.lead_key).offset(offset).limit(limit)).all()  # type: ignore[union-attr]
        items = []
        for lead, company in rows:
            items.append({
                **lead.model_dump(), "reasons": json.loads(lead.reasons),
                "legal_name": company.legal_name, "trade_name": company.trade_name, "city": company.city,
                "state": company.state, "activity_main": company.activity_main, "phone": company.phone,
                "whatsapp": company.whatsapp, "email": company.email, "accountant_like": company.accountant_like,
            })
        return {"total": total, "items": items, "limit": limit, "offset": offset}


def get_lead(engine: Engine, lead_key: str) -> dict[str, Any] | None:
    with Session(engine) as s:
        company = s.get(Company, lead_key)
        if company is None:
            return None
        runs = s.exec(select(Lead).where(Lead.lead_key == lead_key).order_by(Lead.run_id)).all()
        enrichment = s.get(EnrichmentRow, lead_key)
        return {
            "company": {**company.model_dump(exclude={"data"}), "data": json.loads(company.data)},
            "runs": [{**r.model_dump(), "reasons": json.loads(r.reasons)} for r in runs],
            "enrichment": json.loads(enrichment.data) if enrichment else None,
        }


def list_exports(engine: Engine, run_id: str | None = None) -> list[dict[str, Any]]:
    with Session(engine) as s:
        stmt = select(ExportRow).order_by(ExportRow.export_id)
        if run_id:
            stmt = stmt.where(ExportRow.run_id == run_id)
        return [{**e.model_dump(), "files": json.loads(e.files)} for e in s.exec(stmt).all()]
