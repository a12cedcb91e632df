"""Gateway: the HTTP API and UI. Reads only the vault; every write goes out as an event."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field

from services.gateway import queries
from services.gateway.page import INDEX_HTML
from services.projector.db import make_engine
from shared.bus import Bus, connect, ensure_stream
from shared.config import Settings, get_settings
from shared.events import ExportRequested, RunCancelled, RunFilters, RunRequested, new_run_id, subject_token

_basic = HTTPBasic(auto_error=False)


class RunCreate(BaseModel):
    source: str = Field(description='"csv:PATH", "cnpj:DIR", "sirene:PATH" or "casadosdados"')
    filters: RunFilters = Field(default_factory=RunFilters)
    enrich_top: float = Field(default=0.2, ge=0.0, le=1.0)
    icp: str | None = None
    segments: list[str] = Field(default_factory=lambda: ["hot"])
    formats: list[str] = Field(default_factory=lambda: ["csv"])
    label: str | None = None


class ExportCreate(BaseModel):
    run_id: str
    segment: str = "hot"
    formats: list[str] = Field(default_factory=lambda: ["csv"])
    bom: bool = False


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if settings.production and not (settings.basic_auth_user and settings.basic_auth_pass):
        raise RuntimeError("HUNTER_PRODUCTION=1 needs BASIC_AUTH_USER and BASIC_AUTH_PASS")
    engine = make_engine(settings.vault_database_url)
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nc = await connect(settings.nats_url or "nats://127.0.0.1:4222", name="gateway")
        state["bus"] = Bus(nc, stream=settings.stream_name, service="gateway")
        await ensure_stream(state["bus"].js, name=settings.stream_name,
                            dedup_window_seconds=settings.dedup_window_seconds)
        try:
            yield
        finally:
            await nc.drain()
            engine.dispose()

    def auth(creds: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> None:
        if not settings.basic_auth_user:
            return
        ok = creds is not None and secrets.compare_digest(creds.username, settings.basic_auth_user) and \
            secrets.compare_digest(creds.password, settings.basic_auth_pass or "")
        if not ok:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required",
                                headers={"WWW-Authenticate": 'Basic realm="hunter"'})

    app = FastAPI(title="Hunter", version="0.1.0", lifespan=lifespan, dependencies=[Depends(auth)])

    def bus() -> Bus:
        return state["bus"]

    @app.get("/health")
    async def health() -> dict[str, Any]:
        b: Bus | None = state.get("bus")
        return {"status": "ok", "nats": bool(b and b.nc.is_connected)}

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return INDEX_HTML

    @app.post("/api/runs", status_code=202)
    async def create_run(body: RunCreate) -> dict[str, str]:
        run_id = new_run_id()
        event = RunRequested(run_id=run_id, **body.model_dump())
        await bus().publish(event, key=(run_id,))
        return {"run_id": run_id, "status": "requested"}

    @app.get("/api/runs")
    async def runs(limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
        return queries.list_runs(engine, limit)

    @app.get("/api/runs/{run_id}")
    async def run(run_id: str) -> dict[str, Any]:
        found = queries.get_run(engine, run_id)
        if found is None:
            raise HTTPException(404, f"run {run_id} not found (yet)")
        return found

    @app.post("/api/runs/{run_id}/cancel", status_code=202)
    async def cancel(run_id: str) -> dict[str, str]:
        await bus().publish(RunCancelled(run_id=run_id, reason="cancelled by user"), key=(run_id,))
        return {"run_id": run_id, "status": "cancel_requested"}

    @app.get("/api/leads")
    async def leads(
        run_id: str | None = None, bucket: str | None = None,
        min_score: int | None = Query(None, ge=0, le=100), max_score: int | None = Query(None, ge=0, le=100),
        uf: str | None = None, city: str | None = None, cnae: str | None = None,
        has_site: bool | None = None, has_whatsapp: bool | None = None, technology: str | None = None,
        accountant_like: bool | None = None, q: str | None = None,
        limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        return queries.list_leads(
            engine, run_id=run_id, bucket=bucket, min_score=min_score, max_score=max_score, uf=uf, city=city,
            cnae=cnae, has_site=has_site, has_whatsapp=has_whatsapp, technology=technology,
            accountant_like=accountant_like, q=q, limit=limit, offset=offset,
        )

    @app.get("/api/leads/{lead_key}")
    async def lead(lead_key: str) -> dict[str, Any]:
        found = queries.get_lead(engine, lead_key)
        if found is None:
            raise HTTPException(404, f"lead {lead_key} not found")
        return found

    @app.get("/api/exports")
    async def exports(run_id: str | None = None) -> list[dict[str, Any]]:
        return queries.list_exports(engine, run_id)

    @app.post("/api/exports", status_code=202)
    async def create_export(body: ExportCreate) -> dict[str, str]:
        export_id = f"{subject_token(body.run_id)}-{body.segment}-{secrets.token_hex(3)}"
        await bus().publish(ExportRequested(export_id=export_id, **body.model_dump()), key=(export_id,))
        return {"export_id": export_id, "status": "requested"}

    @app.get("/api/exports/{export_id}/download")
    async def download(export_id: str, format: str = "csv") -> FileResponse:
        match = [e for e in queries.list_exports(engine) if e["export_id"] == export_id]
        if not match or format not in match[0]["files"]:
            raise HTTPException(404, f"export {export_id} has no {format} file")
        path = Path(match[0]["files"][format])
        return FileResponse(path, filename=path.name)

    return app
