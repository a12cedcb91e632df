"""What the Exports page lists: each export with when it was asked for, its filter in words, rows, size
and checksum; and the bulk exports sources asked a provider for (Casa dos Dados: v5 export file,
followed on the v4 list), with the provider's status while it processes them."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from shared.vault.schema import ExportRow, SourceExportRow

PROVIDER_STATUS_WORDS = {
    "requested": "requested from the provider",
    "aguardando_processamento": "waiting in the provider's queue",
    "processando": "being processed by the provider",
    "processado": "processed by the provider",
    "downloaded": "downloaded and read into the run",
    "failed": "failed",
}
_FLAGS = {  # boolean filter fields: (words when true, words when false)
    "has_site": ("with a site", "without a site"),
    "has_whatsapp": ("with WhatsApp", "without WhatsApp"),
    "accountant_like": ("accountant-like contacts only", "no accountant-like contacts"),
    "include_do_not_contact": ("do-not-contact leads included", "do-not-contact leads left out"),
}


def filter_in_words(vault_filter: dict[str, Any], *, run_id: str | None, segment: str) -> str:
    """An export's filter for a person: ``hot leads of run r1``, ``bucket warm, UF SP, score 60–80``."""
    f = dict(vault_filter)
    run = f.pop("run_id", None) or run_id
    parts: list[str] = []
    if segment and segment != "all":
        parts.append(f"{segment} leads" + (f" of run {run}" if run else ""))
    elif run:
        parts.append(f"leads of run {run}")
    if f.get("bucket"):
        parts.append(f"bucket {f['bucket']}")
    low, high = f.get("min_score"), f.get("max_score")
    if low is not None and high is not None:
        parts.append(f"score {low}–{high}")
    elif low is not None:
        parts.append(f"score ≥ {low}")
    elif high is not None:
        parts.append(f"score ≤ {high}")
    for key, words in (("uf", "UF"), ("city", "city"), ("cnae", "CNAE"), ("technology", "using"),
                       ("status", "funnel status")):
        if f.get(key):
            parts.append(f"{words} {f[key]}")
    for key, (yes, no) in _FLAGS.items():
        if f.get(key) is not None and (key != "include_do_not_contact" or f[key]):
            parts.append(yes if f[key] else no)
    if f.get("q"):
        parts.append(f"matching “{f['q']}”")
    return ", ".join(parts) or "the whole vault"


def list_exports(engine: Engine, run_id: str | None = None) -> list[dict[str, Any]]:
    """Newest first: each export's row, its filter (and in words) and when it was created."""
    with Session(engine) as s:
        stmt = select(ExportRow).order_by(ExportRow.requested_at.desc(), ExportRow.export_id)  # type: ignore[union-attr]
        if run_id:
            stmt = stmt.where(ExportRow.run_id == run_id)
        rows = s.exec(stmt).all()
    out = []
    for e in rows:
        vault_filter = json.loads(e.vault_filter)
        out.append({**e.model_dump(), "files": json.loads(e.files), "vault_filter": vault_filter,
                    "created_at": e.requested_at or e.completed_at,
                    "filter_words": filter_in_words(vault_filter, run_id=e.run_id, segment=e.segment)})
    return out


def list_source_exports(engine: Engine, run_id: str | None = None) -> list[dict[str, Any]]:
    """Newest first: the provider-side exports sources asked for, with the provider's status in words."""
    with Session(engine) as s:
        stmt = select(SourceExportRow).order_by(SourceExportRow.requested_at.desc(),  # type: ignore[union-attr]
                                                SourceExportRow.request_id)
        if run_id:
            stmt = stmt.where(SourceExportRow.run_id == run_id)
        rows = s.exec(stmt).all()
    return [{**r.model_dump(), "status_words": PROVIDER_STATUS_WORDS.get(r.status, r.status),
             "in_progress": r.status not in ("downloaded", "failed")} for r in rows]
