"""Post a JSON notification to the configured webhook: HMAC-SHA256 signed, retried with bounded
backoff; every attempt comes back as an :class:`ApiCall` for the vault's ``api_calls``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.schemas import ApiCall

SIGNATURE_HEADER = "X-Hunter-Signature-256"
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC of the raw body>``, the value of :data:`SIGNATURE_HEADER`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(secret, body), header)


@dataclass
class Delivery:
    delivered: bool = False
    calls: list[ApiCall] = field(default_factory=list)


def backoff_delays(attempts: int, first: float, cap: float) -> list[float]:
    """Waits before attempts 2..n: first, 2*first, 4*first ... never over cap."""
    return [min(cap, first * 2**i) for i in range(max(0, attempts - 1))]


async def post_webhook(
    client: httpx.AsyncClient, url: str, event: str, payload: dict[str, Any], *, secret: str | None,
    attempts: int = 4, first_delay: float = 0.5, max_delay: float = 5.0,
) -> Delivery:
    body = json.dumps({"event": event, "data": payload}, sort_keys=True, default=str).encode()
    headers = {"Content-Type": "application/json", "X-Hunter-Event": event, "X-Hunter-Delivery": str(uuid.uuid4())}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    result = Delivery()
    delays = backoff_delays(attempts, first_delay, max_delay)
    for attempt in range(attempts):
        t0 = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            resp = await client.post(url, content=body, headers={**headers, "X-Hunter-Attempt": str(attempt + 1)})
            status = resp.status_code
            if status >= 400:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        result.calls.append(ApiCall(service="exporter", endpoint=url, method="POST", status=status,
                                    latency_ms=(time.perf_counter() - t0) * 1000, bytes=len(body), error=error))
        if error is None:
            result.delivered = True
            return result
        if status is not None and status not in RETRYABLE:
            return result  # a refusal (4xx) will not change by retrying
        if attempt < len(delays):
            await asyncio.sleep(delays[attempt])
    return result
