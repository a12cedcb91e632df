"""Gateway: the HTTP API (OpenAPI at /docs) and the web UI. Reads only the vault; every write goes
out as an event. Everything, UI files included, sits behind basic auth when it is configured."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPBasicCredentials
from sqlalchemy import event
from swagger_ui_bundle import swagger_ui_path

from services.gateway import (
    routes_admin,
    routes_agenda,
    routes_batches,
    routes_catalog,
    routes_leads,
    routes_manual,
    routes_qualification,
    routes_ranking,
    routes_runs,
)
from services.gateway.api_docs import DOCS_HTML, DOCS_INIT_JS
from services.gateway.api_models import COMMON_RESPONSES
from services.gateway.basic_auth import AuthMisconfigured, Utf8HttpBasic, auth_settings_error, credentials_match
from services.gateway.body_limit import BodyLimit
from services.gateway.browser_guard import BrowserGuard
from services.gateway.context import Ctx, Gateway
from services.gateway.lead_pages import tune_connection
from services.gateway.request_metrics import RequestMetrics
from services.gateway.vault_swap import follow_swaps
from shared.bus import Bus, connect, ensure_stream
from shared.config import Settings, get_settings
from shared.metrics import metrics_endpoint
from shared.vault.access import VaultMissing, open_reader

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "report.js": "text/javascript", "agenda.js": "text/javascript",
                "exports.js": "text/javascript", "qualify.js": "text/javascript",
                "app.css": "text/css", "index.html": "text/html"}
SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                 "favicon-32x32.png": "image/png"}
_basic = Utf8HttpBasic()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if problem := auth_settings_error(settings.basic_auth_user, settings.basic_auth_pass,
                                      production=settings.production):
        raise AuthMisconfigured(problem)
    gw = Gateway(settings=settings, engine=open_reader(settings.vault_database_url))  # the projector's to create
    if gw.engine.dialect.name == "sqlite":
        event.listen(gw.engine, "connect", tune_connection)
        follow_swaps(gw.engine)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # vault queries run in ``def`` routes, on AnyIO's worker threads: as many as queries worth running at once
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.gateway_threads
        nc = await connect(settings.nats_url or "nats://127.0.0.1:4222", name="gateway")
        gw.bus = Bus(nc, stream=settings.stream_name, service="gateway")
        await ensure_stream(gw.bus.js, name=settings.stream_name, dedup_window_seconds=settings.dedup_window_seconds)
        try:
            yield
        finally:
            await nc.drain()
            gw.engine.dispose()

    async def auth(creds: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> None:
        if not settings.basic_auth_user:
            return
        if not credentials_match(creds, settings.basic_auth_user, settings.basic_auth_pass or ""):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required",
                                headers={"WWW-Authenticate": 'Basic realm="hunter", charset="UTF-8"'})

    app = FastAPI(title="Hunter", version="0.1.0", lifespan=lifespan, dependencies=[Depends(auth)],
                  responses=COMMON_RESPONSES,
                  description="Hunts, the lead vault, exports and diagnostics. Writes are events on the bus.",
                  docs_url=None, redoc_url=None, openapi_url=None)  # served below, behind the same auth
    app.state.gateway = gw

    @app.exception_handler(VaultMissing)
    async def vault_missing(_: Request, exc: VaultMissing) -> JSONResponse:
        """Before the projector's first start there is no vault to read: say so (not a 500)."""
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    # the last added runs first: every request is counted, then cross-site writes and big bodies are refused
    app.add_middleware(BodyLimit, max_upload=settings.max_upload_bytes)
    app.add_middleware(BrowserGuard, trusted_origins=settings.trusted_origins.split(","),
                       allowed_hosts=[*settings.allowed_hosts.split(","), settings.gateway_host])  # its bound name
    app.add_middleware(RequestMetrics)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)

    @app.get("/docs/static/{name}", include_in_schema=False)
    async def docs_static(name: str) -> Response:
        """Swagger UI from the swagger-ui-bundle package: /docs works with no Internet access."""
        if name == "swagger-init.js":
            return Response(DOCS_INIT_JS, media_type="text/javascript")
        if name not in SWAGGER_FILES:
            raise HTTPException(404, "no such file")
        return FileResponse(Path(swagger_ui_path) / name, media_type=SWAGGER_FILES[name])

    @app.get("/health", tags=["meta"])
    async def health(ctx: Ctx) -> dict[str, Any]:
        return {"status": "ok", "nats": bool(ctx.bus and ctx.bus.nc.is_connected)}

    async def livez(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> PlainTextResponse:
        connected = bool(gw.bus and gw.bus.nc.is_connected)
        return PlainTextResponse("ok\n" if connected else "not connected\n", status_code=200 if connected else 503)

    # the orchestrator's probes: plain routes, outside the API's basic auth, telling nothing but up / connected
    app.add_route("/livez", livez, include_in_schema=False)
    app.add_route("/readyz", readyz, include_in_schema=False)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise HTTPException(404, "no such file")
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name])

    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in (routes_runs.router, routes_batches.router, routes_leads.router, routes_manual.router,
                   routes_agenda.router, routes_catalog.router, routes_ranking.router, routes_admin.router,
                   routes_qualification.router):
        app.include_router(router)
    return app
