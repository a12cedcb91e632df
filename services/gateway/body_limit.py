"""A cap on request bodies, checked while they arrive: a body announced (``Content-Length``) or
found to be over the cap gets 413 before the rest is read. Multipart uploads have their own cap
(``MAX_UPLOAD_BYTES``); every other body is small JSON."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_BODY = 4 * 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and small form fields around the file


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit:,} bytes")


class BodyLimit:
    """ASGI middleware: 413 for a body over its cap, announced or counted as it streams in."""

    def __init__(self, app: ASGIApp, max_upload: int, max_body: int = MAX_JSON_BODY) -> None:
        self.app, self.max_upload, self.max_body = app, max_upload, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        multipart = headers.get("content-type", "").lower().startswith("multipart/")
        limit = self.max_upload + MULTIPART_OVERHEAD if multipart else self.max_body
        shown = self.max_upload if multipart else self.max_body
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, shown)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(shown)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, shown)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        await JSONResponse({"detail": BodyTooLarge(limit).detail}, status_code=413,
                           headers={"Connection": "close"})(scope, receive, send)
