"""Gateway: the HTTP API (OpenAPI at /docs) and the web UI. Reads only the vault; every write goes
out as an event. Everything, UI files included, sits behind basic auth when it is configured."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy import event
from swagger_ui_bundle import swagger_ui_path

from services.gateway import routes_admin, routes_leads, routes_ranking, routes_runs
from services.gateway.context import Ctx, Gateway
from services.gateway.lead_pages import tune_connection
from services.gateway.vault_swap import follow_swaps
from services.projector.db import make_engine
from shared.bus import Bus, connect, ensure_stream
from shared.config import Settings, get_settings
from shared.metrics import metrics_endpoint

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}
SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                 "favicon-32x32.png": "image/png"}
_basic = HTTPBasic(auto_error=False)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if settings.production and not (settings.basic_auth_user and settings.basic_auth_pass):
        raise RuntimeError("HUNTER_PRODUCTION=1 needs BASIC_AUTH_USER and BASIC_AUTH_PASS")
    gw = Gateway(settings=settings, engine=make_engine(settings.vault_database_url))
    if gw.engine.dialect.name == "sqlite":
        event.listen(gw.engine, "connect", tune_connection)
        follow_swaps(gw.engine)
        gw.engine.dispose()  # the connection that created the tables is opened again, tuned

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
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
        ok = creds is not None and secrets.compare_digest(creds.username, settings.basic_auth_user) and \
            secrets.compare_digest(creds.password, settings.basic_auth_pass or "")
        if not ok:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required",
                                headers={"WWW-Authenticate": 'Basic realm="hunter"'})

    app = FastAPI(title="Hunter", version="0.1.0", lifespan=lifespan, dependencies=[Depends(auth)],
                  description="Hunts, the lead vault, exports and diagnostics. Writes are events on the bus.",
                  docs_url=None, redoc_url=None, openapi_url=None)  # served below, behind the same auth
    app.state.gateway = gw

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Hunter API",
                                   swagger_js_url="/docs/static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/static/swagger-ui.css",
                                   swagger_favicon_url="/docs/static/favicon-32x32.png")

    @app.get("/docs/static/{name}", include_in_schema=False)
    async def docs_static(name: str) -> FileResponse:
        """Swagger UI from the swagger-ui-bundle package: /docs works with no Internet access."""
        if name not in SWAGGER_FILES:
            raise HTTPException(404, "no such file")
        return FileResponse(Path(swagger_ui_path) / name, media_type=SWAGGER_FILES[name])

    @app.get("/health", tags=["meta"])
    async def health(ctx: Ctx) -> dict[str, Any]:
        return {"status": "ok", "nats": bool(ctx.bus and ctx.bus.nc.is_connected)}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise HTTPException(404, "no such file")
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name])

    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in (routes_runs.router, routes_leads.router, routes_admin.router, routes_ranking.router):
        app.include_router(router)
    return app
