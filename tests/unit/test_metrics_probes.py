"""The probes a service's metrics port answers for an orchestrator (deploy/k8s uses them)."""

from __future__ import annotations

import asyncio

from shared import metrics


async def _get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def test_readyz_follows_the_nats_connection_and_livez_only_needs_the_loop() -> None:
    connected = [True]
    server = await metrics.serve_metrics(0, host="127.0.0.1", ready=lambda: connected[0])
    port = server.sockets[0].getsockname()[1]
    try:
        assert await _get(port, "/readyz") == (200, b"ok\n")
        connected[0] = False
        assert (await _get(port, "/readyz"))[0] == 503
        assert (await _get(port, "/livez"))[0] == 200
        assert (await _get(port, "/metrics"))[0] == 200
        assert (await _get(port, "/nope"))[0] == 404
    finally:
        server.close()
