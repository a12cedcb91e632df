"""Rejected rows (the vault's ``dropped`` table): listed with their reason in words, and written
as CSV whose cells a spreadsheet will not run as formulas."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from shared.csv_safety import safe_cell
from shared.vault.schema import DroppedRow

REASONS = {  # reason code -> what a user reads
    "mei": "MEI (microempreendedor individual): a one-person business, not a B2B prospect",
    "invalid_registry_id": "Registry id fails its check digits",
    "malformed_row": "Malformed line in the source file",
    "duplicate": "Duplicate: merged into another lead of the run",
}
CSV_COLUMNS = ("run_id", "stage", "reason", "reason_code", "detail", "source_file", "source_line", "lead_key")


def reason_text(code: str) -> str:
    """The reason in words; an unknown code reads as its words (``too_far`` -> "Too far")."""
    return REASONS.get(code) or code.replace("_", " ").capitalize()


def _where(run_id: str | None, reason: str | None) -> list[Any]:
    where = []
    if run_id:
        where.append(DroppedRow.run_id == run_id)
    if reason:
        where.append(DroppedRow.reason == reason)
    return where


def _item(row: DroppedRow) -> dict[str, Any]:
    return {"run_id": row.run_id, "stage": row.stage, "reason": reason_text(row.reason), "reason_code": row.reason,
            "detail": row.detail, "source_file": row.source_file, "source_line": row.source_line,
            "lead_key": row.lead_key, "seq": row.seq, "idx": row.idx}


def list_rejects(engine: Engine, *, run_id: str | None = None, reason: str | None = None,
                 limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """A page of rejected rows, newest first, with the total and the count per reason (of the run)."""
    where = _where(run_id, reason)
    with Session(engine) as s:
        total = s.exec(select(func.count()).select_from(DroppedRow).where(*where)).one()
        per_reason = s.exec(select(DroppedRow.reason, func.count()).where(*_where(run_id, None))
                            .group_by(DroppedRow.reason).order_by(DroppedRow.reason)).all()
        rows = s.exec(select(DroppedRow).where(*where).order_by(DroppedRow.seq.desc(), DroppedRow.idx)  # type: ignore[attr-defined]
                      .offset(offset).limit(limit)).all()
        return {"total": total, "limit": limit, "offset": offset, "items": [_item(r) for r in rows],
                "reasons": [{"code": code, "reason": reason_text(code), "rows": n} for code, n in per_reason]}




def rejects_csv(engine: Engine, *, run_id: str | None = None, reason: str | None = None,
                limit: int | None = None, offset: int = 0, chunk: int = 2000) -> Iterator[str]:
    """The rejected rows of the filter as CSV text, header first, read ``chunk`` rows at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield out.getvalue()
    where, sent = _where(run_id, reason), 0
    with Session(engine) as s:
        while limit is None or sent < limit:
            size = chunk if limit is None else min(chunk, limit - sent)
            rows = s.exec(select(DroppedRow).where(*where).order_by(DroppedRow.seq.desc(), DroppedRow.idx)  # type: ignore[attr-defined]
                          .offset(offset + sent).limit(size)).all()
            if not rows:
                return
            out.seek(0)
            out.truncate()
            for r in rows:
                item = _item(r)
                writer.writerow([safe_cell(item[c]) for c in CSV_COLUMNS])
            sent += len(rows)
            yield out.getvalue()
            if len(rows) < size:
                return
