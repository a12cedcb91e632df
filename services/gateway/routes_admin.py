"""ICP profiles, exports, diagnostics and settings."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import ValidationError

from services.gateway import export_listing, queries
from services.gateway.api_models import MAX_OFFSET, NOT_FOUND, SECRET_KEYS, ConfigUpdate, ExportCreate
from services.gateway.context import Ctx
from services.gateway.rejects import list_rejects, rejects_csv
from shared.domain.icp import IcpNotFound, IcpProfile, list_templates, load_icp
from shared.events import ConfigSaved, ExportRequested, IcpProfileSaved, Subjects, subject_token
from shared.secrets import SecretKeyMissing, seal

router = APIRouter(prefix="/api", tags=["admin"])
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]*$"


# ---- ICP --------------------------------------------------------------------------------------

@router.get("/icp", tags=["icp"])
def icps(ctx: Ctx) -> dict[str, Any]:
    """The shipped templates and the profiles saved from the UI."""
    return {"templates": list_templates(ctx.settings.icp_dir), "profiles": queries.icp_profiles(ctx.engine)}


@router.get("/icp/{name}", tags=["icp"], responses=NOT_FOUND)
def icp(ctx: Ctx, name: str = PathParam(pattern=NAME_PATTERN, max_length=64)) -> dict[str, Any]:
    """A saved profile or a template, by name (a name, never a file path)."""
    saved = next((p for p in queries.icp_profiles(ctx.engine) if p["name"] == name), None)
    if saved:
        return {**saved, "origin": "saved"}
    try:
        profile = load_icp(name, ctx.settings.icp_dir)
    except IcpNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    return {"name": name, "profile": profile.model_dump(mode="json"), "origin": "template"}


@router.put("/icp/{name}", status_code=202, tags=["icp"], responses=NOT_FOUND)
async def save_icp(ctx: Ctx, body: dict[str, Any],
                   name: str = PathParam(pattern=NAME_PATTERN, max_length=64)) -> dict[str, Any]:
    """Validate a profile (fields of ``IcpProfile``) and save it as ``IcpProfileSaved``."""
    try:
        profile = IcpProfile.model_validate({**body, "name": name})
    except ValidationError as exc:
        raise HTTPException(422, [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                                  for e in exc.errors(include_url=False, include_context=False)]) from exc
    seq = await ctx.publisher().publish(IcpProfileSaved(name=name, profile=profile.model_dump(mode="json")),
                                        name=name)
    return {"name": name, "seq": seq}


# ---- exports ----------------------------------------------------------------------------------

@router.get("/exports", tags=["exports"])
def exports(ctx: Ctx, run_id: str | None = None) -> list[dict[str, Any]]:
    """Newest first: status, when created, the filter (``vault_filter``, ``filter_words``), rows, size, checksum."""
    return export_listing.list_exports(ctx.engine, run_id)


@router.get("/source-exports", tags=["exports"])
def source_exports(ctx: Ctx, run_id: str | None = None) -> list[dict[str, Any]]:
    """Bulk exports asked of a provider by a run's source (Casa dos Dados), with the provider's status."""
    return export_listing.list_source_exports(ctx.engine, run_id)


@router.post("/exports", status_code=202, tags=["exports"])
async def create_export(ctx: Ctx, body: ExportCreate) -> dict[str, Any]:
    """Export a run's segment, or any vault filter (``vault_filter``, e.g. the Vault page's current filter)."""
    if body.run_id and body.vault_filter is None:
        vault_filter: dict[str, Any] = {}  # a run's segment, read back from the stream
    else:  # a vault filter (none at all: the whole vault), optionally narrowed to one run
        vault_filter = body.vault_filter.as_dict() if body.vault_filter else {}
        if body.run_id:
            vault_filter["run_id"] = body.run_id
    scope = body.run_id if body.run_id and not vault_filter else "vault"
    export_id = f"{subject_token(scope)}-{body.segment}-{secrets.token_hex(3)}"
    event = ExportRequested(export_id=export_id, run_id=body.run_id, segment=body.segment, formats=body.formats,
                            vault_filter=vault_filter, bom=body.bom, origin="user")
    await ctx.publisher().publish(event, key=(export_id,))
    return {"export_id": export_id, "status": "requested", "vault_filter": event.vault_filter}


@router.get("/exports/{export_id}", tags=["exports"], responses=NOT_FOUND)
def export(ctx: Ctx, export_id: str) -> dict[str, Any]:
    found = queries.get_export(ctx.engine, export_id)
    if found is None:
        raise HTTPException(404, f"export {export_id} not found (yet)")
    return found


@router.get("/exports/{export_id}/download", tags=["exports"], responses=NOT_FOUND)
def download(ctx: Ctx, export_id: str, format: Literal["csv", "parquet"] = "csv") -> FileResponse:
    found = queries.get_export(ctx.engine, export_id)
    if not found or format not in found["files"]:
        raise HTTPException(404, f"export {export_id} has no {format} file")
    path = Path(found["files"][format]).resolve()
    if not path.is_relative_to(ctx.settings.exports_path) or not path.is_file():
        raise HTTPException(404, f"export {export_id}: file not available")
    return FileResponse(path, filename=path.name, media_type=MEDIA_TYPES[format])


# ---- diagnostics ------------------------------------------------------------------------------

@router.get("/diagnostics/summary", tags=["diagnostics"])
def diagnostics_summary(ctx: Ctx, run_id: str | None = None) -> dict[str, Any]:
    """API calls per service, and the score distribution (per bucket and per 10-point band)."""
    return {"api_calls": queries.api_call_summary(ctx.engine, run_id),
            "scores": queries.score_distribution(ctx.engine, run_id)}


@router.get("/diagnostics/{table}", tags=["diagnostics"], responses=NOT_FOUND)
def diagnostics(
    ctx: Ctx, table: Literal["steps", "api_calls", "errors", "logs"],
    run_id: str | None = None, stage: str | None = None, status: str | None = None, service: str | None = None,
    kind: str | None = None, level: str | None = None, method: str | None = None, trace_id: str | None = None,
    errors_only: bool = False, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Run steps, API calls, errors (dead letters, failed steps) and shipped logs, newest first."""
    filters = {"run_id": run_id, "stage": stage, "status": status, "service": service, "kind": kind,
               "level": level, "method": method, "trace_id": trace_id}
    if table == "api_calls" and status:  # empty: no filter, as for the other columns
        if not status.isdigit():
            raise HTTPException(422, [{"loc": ["query", "status"], "msg": "an HTTP status code",
                                       "type": "int_parsing"}])
        filters["status"] = int(status)
    return queries.diagnostics(ctx.engine, table, filters, errors_only=errors_only, limit=limit, offset=offset)


@router.get("/rejects", tags=["diagnostics"])
def rejects(ctx: Ctx, run_id: str | None = None, reason: str | None = None,
            limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> dict[str, Any]:
    """Rows dropped on the way in (MEI, bad check digits, malformed line, duplicate merged), newest first:
    the reason in words (``reason``) and as a code (``reason_code``, what ``reason=`` filters on), the
    source file and line, the run and the lead key; ``reasons`` counts them per reason."""
    return list_rejects(ctx.engine, run_id=run_id, reason=reason, limit=limit, offset=offset)


@router.get("/rejects.csv", tags=["diagnostics"], response_class=StreamingResponse)
async def rejects_as_csv(ctx: Ctx, run_id: str | None = None, reason: str | None = None,
                         limit: int | None = Query(None, ge=1, le=MAX_OFFSET),
                         offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> StreamingResponse:
    """The rejected rows of the same filter as CSV (cells that a spreadsheet would run as formulas start with ')."""
    # a header is Latin-1: the file name keeps ASCII letters, digits, dot, dash and underscore only
    name = "rejects-" + (re.sub(r"[^A-Za-z0-9._-]", "_", run_id) if run_id else "vault") + ".csv"
    return StreamingResponse(rejects_csv(ctx.engine, run_id=run_id, reason=reason, limit=limit, offset=offset),
                             media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---- settings ---------------------------------------------------------------------------------

@router.get("/config", tags=["config"])
def get_config(ctx: Ctx) -> dict[str, Any]:
    """Every known setting: its value, or for secrets only whether it is set."""
    rows = queries.config(ctx.engine)
    out: dict[str, Any] = {}
    for key in ConfigUpdate.model_fields:
        row = rows.get(key)
        if key in SECRET_KEYS or (row is not None and row.secret):
            out[key] = {"secret": True, "set": bool(row and row.value)}
        else:
            out[key] = {"secret": False, "value": row.value if row else None}
    return out


@router.put("/config", status_code=202, tags=["config"])
async def put_config(ctx: Ctx, body: ConfigUpdate) -> dict[str, Any]:
    """Save the given settings (``ConfigSaved``; secrets sealed under ``HUNTER_SECRET_KEY``, with
    ``secret=True``: a 422 saying how when no key is set). Returns the keys saved."""
    values = {k: v for k, v in body.model_dump(exclude_unset=True, mode="json").items() if v is not None}
    if SECRET_KEYS & values.keys() and not ctx.settings.secret_key:
        raise HTTPException(422, [{"loc": ["body", sorted(SECRET_KEYS & values.keys())[0]],
                                   "msg": str(SecretKeyMissing()), "type": "value_error"}])
    saved = []
    for key, value in values.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if key in SECRET_KEYS:
            text = seal(text, ctx.settings.secret_key)
        await ctx.publisher().publish(ConfigSaved(key=key, value=text, secret=key in SECRET_KEYS),
                                      subject=Subjects.CONFIG_SAVED.format(key=subject_token(key)))
        saved.append(key)
    return {"saved": saved}
