"""Read-only queries on the vault for the API."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, literal, literal_column, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.gateway.lead_pages import LEAD_ROWID, match_rowids, page_rowids
from shared.contracts.vocabulary import BUCKETS
from shared.funnel import REOPEN_TO, allowed_next, is_closed
from shared.vault.annotations import lead_annotations
from shared.vault.filters import SORTS, LeadFilter, lead_conditions, needs_company
from shared.vault.schema import (
    ApiCallRow,
    Company,
    ConfigRow,
    EnrichmentRow,
    ErrorRow,
    ExportRow,
    IcpProfileRow,
    Lead,
    LeadCurrent,
    LogRow,
    Partner,
    Run,
    RunStepRow,
    TimelineRow,
)
from shared.vault.search_text import fold


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
        exports = s.exec(select(ExportRow).where(ExportRow.run_id == run_id).order_by(ExportRow.export_id)).all()
        out = _run_dict(run)
        out["steps"] = [{**st.model_dump(), "counts": json.loads(st.counts)} for st in steps]
        out["buckets"] = {k or "none": v for k, v in buckets.items()}
        out["exports"] = [{**e.model_dump(), "files": json.loads(e.files)} for e in exports]
        return out


LEAD_COLUMNS = [c for c in LeadCurrent.__table__.columns]  # type: ignore[attr-defined]
LIST_COMPANY_COLUMNS = [getattr(Company, n) for n in (
    "legal_name", "trade_name", "city", "state", "activity_main", "phone", "whatsapp", "email", "accountant_like",
    "registry_id", "site_whatsapp")]  # never the big ``data`` column
LIST_KEYS = [c.key for c in (*LEAD_COLUMNS, *LIST_COMPANY_COLUMNS)]
COUNT_CAP = 10_000


def _lead_item(row: Any) -> dict[str, Any]:
    item = {k: row[i] for i, k in enumerate(LIST_KEYS)}
    item["reasons"] = json.loads(item["reasons"])
    for flag in ("enrich", "enriched", "has_site", "has_whatsapp", "accountant_like"):
        item[flag] = bool(item[flag])
    item["whatsapp"] = item["whatsapp"] or item["site_whatsapp"]  # the registry's, else the one its site shows
    item["has_whatsapp"] = item["has_whatsapp"] or bool(item["whatsapp"])
    return item


def count_leads(s: Session, flt: LeadFilter, cap: int) -> tuple[int, bool]:
    """Leads matching ``flt``, counted up to ``cap`` + 1: (count, whether the cap was passed)."""
    # no column: an index holding the filter's columns suffices
    inner = select(literal_column("1")).select_from(LeadCurrent)
    if needs_company(flt):
        inner = inner.join(Company, Company.lead_key == LeadCurrent.lead_key)  # type: ignore[arg-type]
    for c in lead_conditions(flt):
        inner = inner.where(c)
    found = s.exec(select(func.count()).select_from(inner.limit(cap + 1).subquery())).one()
    return found, found > cap


def list_leads(engine: Engine, flt: LeadFilter | None = None, *, sort: str = "-score",
               limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """One page of leads (one row per company: its current score, latest run, runs seen, funnel state)
    with their company's list fields. ``total`` is exact up to 10,000 (or the end of the page asked for);
    past that it is a lower bound and ``total_capped`` is true. Opted-out leads are left out unless the
    filter asks for them (as in its export)."""
    flt = flt or LeadFilter()
    cap = max(COUNT_CAP, offset + limit)
    with Session(engine) as s:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # one read snapshot for the count and the page; the counted rowids are kept when few
            s.connection().exec_driver_sql("BEGIN")
            total, rowids = match_rowids(s, flt, cap)
            capped = total > cap
        else:
            total, capped = count_leads(s, flt, cap)
        stmt = select(*LEAD_COLUMNS, *LIST_COMPANY_COLUMNS).join(  # type: ignore[call-overload]
            Company, Company.lead_key == LeadCurrent.lead_key)  # type: ignore[arg-type]
        rows = None
        if sqlite:  # the page's rowids first, then their columns
            ids = page_rowids(s, flt, sort=sort, limit=limit, offset=offset, found=total, matches=rowids)
            by_rowid = {r[-1]: r for r in s.execute(stmt.add_columns(LEAD_ROWID).where(LEAD_ROWID.in_(ids)))}
            if len(by_rowid) == len(ids):  # else a lead was rewritten in between: read the page in one go
                rows = [by_rowid[i] for i in ids]
        if rows is None:
            for c in lead_conditions(flt):
                stmt = stmt.where(c)
            rows = s.execute(stmt.order_by(*SORTS[sort]).offset(offset).limit(limit)).all()
        items = annotated([_lead_item(r) for r in rows], engine)
        return {"total": total, "total_capped": capped, "items": items, "limit": limit, "offset": offset, "sort": sort}


def annotated(items: list[dict[str, Any]], engine: Engine) -> list[dict[str, Any]]:
    """List items with the lead's propensity, its top features and its qualification score (None: not known)."""
    found = lead_annotations(engine, [item["lead_key"] for item in items])
    for item in items:
        extra = found.get(item["lead_key"], {})
        item["propensity"], item["top_features"] = extra.get("propensity"), extra.get("top_features", [])
        item["qualification_score"] = extra["qualification"]["score"] if "qualification" in extra else None
    return items


def funnel_of(state: str) -> dict[str, Any]:
    """A lead's funnel state with the moves a person may make from it."""
    return {"state": state, "allowed_next": list(allowed_next(state)), "closed": is_closed(state),
            "reopen_to": list(REOPEN_TO) if is_closed(state) else []}


def get_lead(engine: Engine, lead_key: str) -> dict[str, Any] | None:
    with Session(engine) as s:
        company = s.get(Company, lead_key)
        if company is None:
            return None
        current = s.get(LeadCurrent, lead_key)
        runs = s.exec(select(Lead).where(Lead.lead_key == lead_key).order_by(Lead.run_id)).all()
        enrichment = s.get(EnrichmentRow, lead_key)
        partners = s.exec(select(Partner).where(Partner.lead_key == lead_key).order_by(Partner.name)).all()
        timeline = s.exec(select(TimelineRow).where(TimelineRow.lead_key == lead_key)
                          .order_by(TimelineRow.seq.desc())).all()  # type: ignore[attr-defined]
        state = current.status if current else "new"
        return {
            "company": {**company.model_dump(exclude={"data"}), "data": json.loads(company.data)},
            "current": {**current.model_dump(), "reasons": json.loads(current.reasons)} if current else None,
            "funnel": {**funnel_of(state), "since": current.status_at if current else None},
            "timeline": [t.model_dump() for t in timeline],
            "runs": [{**r.model_dump(), "reasons": json.loads(r.reasons)} for r in runs],
            "enrichment": json.loads(enrichment.data) if enrichment else None,
            "partners": [p.model_dump() for p in partners],
        }


def funnel_state(engine: Engine, lead_key: str) -> str | None:
    """The lead's funnel state (None: no such company in the vault)."""
    with Session(engine) as s:
        if s.get(Company, lead_key) is None:
            return None
        current = s.get(LeadCurrent, lead_key)
        return current.status if current else "new"


def search_partners(engine: Engine, q: str, limit: int = 50) -> list[dict[str, Any]]:
    """Partners whose name holds every word of ``q`` at the start of one of its words, in any order,
    accents and case aside ("cesero andre" finds ANDRE CESERO, "Antônio de Pádua" ANTONIO DE PADUA),
    or whose document (CPF, masked) contains its digits; grouped by person with their companies."""
    digits = "".join(c for c in q if c.isdigit())
    words = [w for w in fold(q).split() if not w.isdigit()]
    with Session(engine) as s:
        name = literal(" ") + Partner.search_name  # a word starts after a space
        conds = []
        if words:
            conds.append(and_(*(name.like(f"% {_like_escaped(w)}%", escape="\\") for w in words)))
        if digits and len(digits) >= 3:
            conds.append(Partner.document.like(f"%{digits}%"))  # type: ignore[union-attr]
        if not conds:
            return []
        stmt = (select(Partner, Company).join(Company, Company.lead_key == Partner.lead_key)  # type: ignore[arg-type]
                .where(or_(*conds)).order_by(Partner.name, Partner.document, Company.legal_name).limit(limit * 10))
        people: dict[tuple[str, str], dict[str, Any]] = {}
        for p, c in s.exec(stmt).all():
            person = people.setdefault((p.name, p.document), {
                "name": p.name, "document": p.document, "kind": p.kind, "companies": []})
            person["companies"].append({
                "lead_key": c.lead_key, "registry_id": c.registry_id, "legal_name": c.legal_name,
                "trade_name": c.trade_name, "city": c.city, "state": c.state, "status": c.status,
                "activity_main": c.activity_main, "qualification": p.qualification, "joined_on": p.joined_on,
            })
        return list(people.values())[:limit]


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def companies(engine: Engine, lead_keys: list[str]) -> list[Company]:
    with Session(engine) as s:
        return list(s.exec(select(Company).where(Company.lead_key.in_(lead_keys))).all())  # type: ignore[attr-defined]


def list_exports(engine: Engine, run_id: str | None = None) -> list[dict[str, Any]]:
    with Session(engine) as s:
        stmt = select(ExportRow).order_by(ExportRow.requested_at.desc(), ExportRow.export_id)  # type: ignore[union-attr]
        if run_id:
            stmt = stmt.where(ExportRow.run_id == run_id)
        return [{**e.model_dump(), "files": json.loads(e.files)} for e in s.exec(stmt).all()]


def get_export(engine: Engine, export_id: str) -> dict[str, Any] | None:
    with Session(engine) as s:
        e = s.get(ExportRow, export_id)
        return {**e.model_dump(), "files": json.loads(e.files)} if e else None


def icp_profiles(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as s:
        rows = s.exec(select(IcpProfileRow).order_by(IcpProfileRow.name)).all()
        return [{"name": r.name, "profile": json.loads(r.profile), "updated_at": r.updated_at} for r in rows]


def config(engine: Engine) -> dict[str, ConfigRow]:
    with Session(engine) as s:
        return {r.key: r for r in s.exec(select(ConfigRow)).all()}


# ---- diagnostics ------------------------------------------------------------------------------

DIAGNOSTICS: dict[str, tuple[Any, tuple[str, ...]]] = {
    # table -> (model, columns one may filter on by equality)
    "steps": (RunStepRow, ("run_id", "stage", "status")),
    "api_calls": (ApiCallRow, ("run_id", "service", "status", "method")),
    "errors": (ErrorRow, ("run_id", "kind", "stage")),
    "logs": (LogRow, ("run_id", "service", "level", "trace_id")),
}
JSON_COLUMNS = {"counts", "fields", "context"}


def diagnostics(engine: Engine, table: str, filters: dict[str, Any], *, errors_only: bool = False,
                limit: int = 100, offset: int = 0) -> dict[str, Any]:
    model, columns = DIAGNOSTICS[table]
    with Session(engine) as s:
        stmt = select(model)
        for col in columns:
            if filters.get(col) not in (None, ""):
                stmt = stmt.where(getattr(model, col) == filters[col])
        if errors_only and table == "api_calls":
            stmt = stmt.where(ApiCallRow.error.is_not(None))  # type: ignore[union-attr]
        total = s.exec(select(func.count()).select_from(stmt.subquery())).one()
        order = [model.seq.desc()] + ([model.idx] if hasattr(model, "idx") else [])
        rows = s.exec(stmt.order_by(*order).offset(offset).limit(limit)).all()
        items = []
        for r in rows:
            d = r.model_dump()
            for k in JSON_COLUMNS & d.keys():
                d[k] = json.loads(d[k])
            items.append(d)
        return {"total": total, "items": items, "limit": limit, "offset": offset}


def api_call_summary(engine: Engine, run_id: str | None = None) -> list[dict[str, Any]]:
    """Calls, errors, mean latency and cache hits per service. Booleans are counted with CASE, not
    summed: PostgreSQL has no ``sum(boolean)``."""
    with Session(engine) as s:
        failed = func.count(case((ApiCallRow.error.is_not(None), 1)))  # type: ignore[union-attr]
        hits = func.count(case((ApiCallRow.cache_hit, 1)))
        stmt = select(ApiCallRow.service, func.count(), failed, func.avg(ApiCallRow.latency_ms), hits)
        if run_id:
            stmt = stmt.where(ApiCallRow.run_id == run_id)
        rows = s.exec(stmt.group_by(ApiCallRow.service).order_by(ApiCallRow.service)).all()
        return [{"service": svc, "calls": n, "errors": int(err or 0), "avg_latency_ms": round(float(lat or 0.0), 1),
                 "cache_hits": int(hit or 0)} for svc, n, err, lat, hit in rows]


def _scored_leads(run_id: str | None) -> Any:
    """(score, bucket) of the leads shown: a run's leads, or without a run one row per lead, from the
    latest run that saw it (as the Vault lists them)."""
    if run_id:
        return select(Lead.score.label("score"), Lead.bucket.label("bucket")).where(  # type: ignore[union-attr]
            Lead.run_id == run_id).subquery()
    latest = func.row_number().over(partition_by=Lead.lead_key,
                                    order_by=(Lead.updated_at.desc(), Lead.run_id.desc())).label("n")  # type: ignore[union-attr]
    ranked = select(Lead.score.label("score"), Lead.bucket.label("bucket"), latest).subquery()  # type: ignore[union-attr]
    return select(ranked.c.score, ranked.c.bucket).where(ranked.c.n == 1).subquery()


def score_distribution(engine: Engine, run_id: str | None = None) -> dict[str, Any]:
    """Leads per bucket and per 10-point score band (100 counts in the top band). The bands add up
    to the scored leads; ``leads`` counts them all, scored or not."""
    leads = _scored_leads(run_id)
    clamped = case((leads.c.score > 99, 99), (leads.c.score < 0, 0), else_=leads.c.score)
    band = cast(clamped, Integer) // 10  # integer division on both databases (never a float key)
    with Session(engine) as s:
        buckets = dict(s.execute(select(leads.c.bucket, func.count()).group_by(leads.c.bucket)).all())
        bands: dict[int, int] = {}
        for k, v in s.execute(select(band, func.count()).where(leads.c.score.is_not(None)).group_by(band)).all():
            bands[int(k)] = bands.get(int(k), 0) + int(v)
    return {
        "leads": int(sum(buckets.values())),
        "buckets": {b: int(buckets.get(b, 0)) for b in BUCKETS},
        "unscored": int(buckets.get(None, 0)),
        "bands": [{"from": i * 10, "to": i * 10 + 9 if i < 9 else 100, "leads": int(bands.get(i, 0))}
                  for i in range(10)],
    }
