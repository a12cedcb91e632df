"""Where metrics are served: each service on its own port, on loopback unless told otherwise,
and the gateway's /metrics with real request figures."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hunter.stack import Stack
from services.gateway.app import create_app
from shared import metrics
from shared.config import Settings
from shared.nats_server import free_port
from shared.vault.access import open_writer


def _sample(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


async def test_the_metrics_listener_binds_loopback_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METRICS_HOST", raising=False)
    server = await metrics.serve_metrics(0)
    try:
        assert server.sockets[0].getsockname()[0] == "127.0.0.1"
    finally:
        server.close()
    monkeypatch.setenv("METRICS_HOST", "0.0.0.0")
    server = await metrics.serve_metrics(0)
    try:
        assert server.sockets[0].getsockname()[0] == "0.0.0.0"
    finally:
        server.close()


async def test_every_service_of_a_stack_serves_metrics_on_a_port_of_its_own(
    tmp_path: Path, fresh_nats_url: str,
) -> None:
    base = free_port()
    while not all(_free(base + i) for i in range(3)):
        base = free_port()
    stack = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, gateway=False,
                  services=["cleaner", "scorer", "exporter"], env_extra={"METRICS_PORT": str(base)})
    stack.start()
    try:
        assert stack.metrics_ports == {"cleaner": [base], "scorer": [base + 1], "exporter": [base + 2]}
        answers: dict[int, str] = {}
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(timeout=2) as client:
            while len(answers) < 3 and time.monotonic() < deadline:
                for port in (base, base + 1, base + 2):
                    if port not in answers:
                        with contextlib.suppress(httpx.TransportError):
                            answers[port] = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                await asyncio.sleep(0.3)
        assert sorted(answers) == [base, base + 1, base + 2], (answers.keys(), stack.crashed())
        assert all("# TYPE hunter_events_handled_total counter" in text for text in answers.values())
        logs = "".join((tmp_path / "data" / "logs" / f"{n}.log").read_text() for n in ("cleaner", "scorer", "exporter"))
        assert "metrics_port_unavailable" not in logs
    finally:
        stack.stop()


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_gateway_metrics_count_requests_by_route_and_status_with_their_latency(
    tmp_path: Path, nats_url: str,
) -> None:
    settings = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url)
    open_writer(settings.vault_database_url).dispose()  # the vault, as the projector creates it
    with TestClient(create_app(settings)) as client:
        before = client.get("/metrics").text
        for _ in range(3):
            assert client.get("/api/leads").status_code == 200
        assert client.get("/api/leads/BR:nope").status_code == 404
        assert client.post("/api/runs/x/cancel", headers={"Origin": "http://evil.example"}).status_code == 403
        after = client.get("/metrics").text
    ok = 'hunter_http_requests_total{method="GET",route="/api/leads",status="200"}'
    missing = 'hunter_http_requests_total{method="GET",route="/api/leads/{lead_key}",status="404"}'
    refused = 'hunter_http_requests_total{method="POST",route="unmatched",status="403"}'
    assert _sample(after, ok) - _sample(before, ok) == 3
    assert _sample(after, missing) - _sample(before, missing) == 1
    assert _sample(after, refused) - _sample(before, refused) == 1
    latency = 'hunter_http_request_seconds_count{method="GET",route="/api/leads"}'
    assert _sample(after, latency) - _sample(before, latency) == 3
    assert _sample(after, 'hunter_http_request_seconds_sum{method="GET",route="/api/leads"}') > 0
