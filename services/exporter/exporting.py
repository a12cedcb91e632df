"""Write one requested export (a segment of rows, with its manifest) and say how it went: an
``ExportCompleted``, *failed* with the reason in words when the files cannot be written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from services.exporter.files import write_export
from shared.config import Settings
from shared.domain.segments import Row, select_segment
from shared.events import ExportCompleted, ExportRequested, subject_token


def export_failure(exc: BaseException) -> str:
    """Why an export could not be written, for a person: the OS's words for a disk error, else the message."""
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"cannot write the export{where}: {exc.strerror or exc}"[:500]
    if isinstance(exc, ValueError):
        return str(exc)[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


async def export(request: ExportRequested, requested_at: datetime, rows: list[Row], *, settings: Settings, log: Any,
                 left_out: int = 0) -> ExportCompleted:
    """Write the segment's rows; the manifest says how many opted-out leads were ``left_out``."""
    out = settings.exports_path / subject_token(request.run_id or "vault") / request.export_id
    manifest = {
        "export_id": request.export_id, "run_id": request.run_id, "segment": request.segment,
        "filter": request.vault_filter, "created_at": requested_at.isoformat(),
        "left_out_do_not_contact": left_out,
    }
    try:
        selected = select_segment(rows, request.segment)
        written = write_export(selected, out, name=f"hunter_{request.segment}", formats=request.formats,
                               manifest=manifest, max_rows=settings.max_export_rows, bom=request.bom)
    except Exception as exc:  # a full or read-only export disk, too many rows...: a failed export, with the reason
        reason = export_failure(exc)
        log.warning("export_failed", export_id=request.export_id, reason=reason, run_id=request.run_id)
        return ExportCompleted(export_id=request.export_id, run_id=request.run_id, segment=request.segment,
                               status="failed", error=reason)
    return ExportCompleted(
        export_id=request.export_id, run_id=request.run_id, segment=request.segment, path=str(Path(written.path)),
        files=written.files, rows=written.rows, bytes=written.bytes, sha256=written.sha256,
    )
