"""Batches: one run per activity code (CNAE or NAF), each with its own report and exports, and a
summary per code — leads, hot, KPIs met, duration, failure reason."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.gateway.run_report import report_for
from shared.csv_safety import safe_cell
from shared.events import KpiTargets, RunFilters, RunRequested, new_run_id
from shared.vault.schema import ExportRow, Run

SUMMARY_COLUMNS = ("code", "run_id", "status", "leads", "hot", "kpi", "seconds", "message")


def new_batch_id() -> str:
    return f"batch-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def batch_requests(*, batch_id: str, kind: str, codes: list[str], source: str, filters: RunFilters,
                   enrich_top: float, icp: str | None, targets: KpiTargets | None, segments: list[str],
                   formats: list[str], label: str | None, requested_by: str | None) -> list[RunRequested]:
    """One ``RunRequested`` per code: the batch's filters with that one code, labelled with it."""
    out = []
    for code in dict.fromkeys(c.strip() for c in codes if c.strip()):
        one = filters.model_copy(update={kind: [code]})
        out.append(RunRequested(
            run_id=new_run_id(), source=source, filters=one, enrich_top=enrich_top, icp=icp, targets=targets,
            segments=segments, formats=formats, label=f"{label or batch_id}: {kind.upper()} {code}",
            requested_by=requested_by, batch_id=batch_id))
    return out


def code_of(filters: dict[str, Any]) -> str:
    codes = (filters.get("cnae") or []) + (filters.get("naf") or [])
    return ", ".join(codes) or "all"


def batch_summary(engine: Engine, settings: Any, batch_id: str) -> dict[str, Any] | None:
    """Per run of the batch: its code, status, leads, hot, KPIs, duration and failure reason."""
    with Session(engine) as s:
        runs = s.exec(select(Run).where(Run.batch_id == batch_id)  # type: ignore[call-overload]
                      .order_by(Run.requested_at, Run.run_id)).all()
        exports = {e.export_id: e for e in s.exec(select(ExportRow).where(  # type: ignore[call-overload]
            ExportRow.run_id.in_([r.run_id for r in runs]))).all()}  # type: ignore[union-attr]
    if not runs:
        return None
    rows = []
    for run in runs:
        report = report_for(engine, settings, run.run_id) or {}
        rows.append({
            "code": code_of(json.loads(run.filters)), "run_id": run.run_id, "status": run.status,
            "leads": report.get("leads", 0), "hot": next((f["count"] for f in report.get("funnel", [])
                                                           if f["step"] == "hot"), 0),
            "kpi": (report.get("kpi") or {}).get("overall"), "seconds": report.get("seconds"),
            "message": run.message or "",
            "exports": [{"segment": e.segment, "rows": e.rows, "status": e.status}
                        for e in exports.values() if e.run_id == run.run_id],
        })
    statuses = {r["status"] for r in rows}
    done = statuses <= {"completed", "failed", "cancelled"}
    return {
        "batch_id": batch_id, "runs": rows,
        "status": ("running" if not done else "completed" if statuses == {"completed"} else "completed_with_failures"),
        "totals": {"runs": len(rows), "completed": sum(r["status"] == "completed" for r in rows),
                   "failed": sum(r["status"] in ("failed", "cancelled") for r in rows),
                   "leads": sum(r["leads"] for r in rows), "hot": sum(r["hot"] for r in rows),
                   "kpi_met": sum(r["kpi"] == "MET" for r in rows)},
    }


def list_batches(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    with Session(engine) as s:
        rows = s.exec(select(Run.batch_id, func.count(), func.min(Run.requested_at))  # type: ignore[call-overload]
                      .where(Run.batch_id.is_not(None)).group_by(Run.batch_id)  # type: ignore[union-attr]
                      .order_by(func.min(Run.requested_at).desc()).limit(limit)).all()
    return [{"batch_id": b, "runs": n, "requested_at": at} for b, n, at in rows]


def summary_csv(summary: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(SUMMARY_COLUMNS)
    for r in summary["runs"]:
        w.writerow([safe_cell(r[c]) for c in SUMMARY_COLUMNS])  # failure reasons may quote a source
    return buf.getvalue()
