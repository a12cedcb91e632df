"""Request counts and latency for the gateway's ``/metrics``, per route template (``/api/leads/{lead_key}``,
never the raw path, so the number of series stays small) and status."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.metrics import HTTP_IN_FLIGHT, HTTP_REQUEST_SECONDS, HTTP_REQUESTS


class RequestMetrics:
    """ASGI middleware recording every HTTP request once its response is sent (or has failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before answering
        t0 = time.perf_counter()

        async def recorded(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        HTTP_IN_FLIGHT.inc(1)
        try:
            await self.app(scope, receive, recorded)
        finally:
            HTTP_IN_FLIGHT.inc(-1)
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            HTTP_REQUESTS.inc(method=scope["method"], route=route, status=str(status))
            HTTP_REQUEST_SECONDS.observe(time.perf_counter() - t0, method=scope["method"], route=route)
