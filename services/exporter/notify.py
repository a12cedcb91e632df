"""Tell the configured webhook (a saved setting) that an export or a run finished; every attempt is
recorded as an API call."""

from __future__ import annotations

from typing import Any

import httpx

from services.exporter.webhook import post_webhook
from shared.bus import Bus
from shared.events import ApiCallsRecorded
from shared.stored_config import stored_setting


async def notify(bus: Bus, event: str, payload: dict[str, Any], run_id: str | None, *, log: Any) -> None:
    """POST to the configured webhook (if any); every attempt is recorded as an api_call."""
    url = await stored_setting(bus, "webhook_url")
    if not url:
        return
    secret = await stored_setting(bus, "webhook_secret")
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
        delivery = await post_webhook(client, url, event, payload, secret=secret)
    await bus.publish(ApiCallsRecorded(run_id=run_id, calls=delivery.calls), service="exporter")
    if not delivery.delivered:
        log.warning("webhook_failed", url=url, webhook_event=event, run_id=run_id,
                    attempts=len(delivery.calls), error=delivery.calls[-1].error)
