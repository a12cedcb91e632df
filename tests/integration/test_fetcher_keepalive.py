"""A keep-alive connection the server has closed is not reused: the next request opens a fresh one."""

from __future__ import annotations

import asyncio

from services.enricher.fetcher import Fetcher
from services.enricher.http_cache import HttpCache
from shared.config import Settings

from .test_fetcher_loopback import LOOPBACK_NETWORKS


async def test_a_connection_closed_by_the_server_while_idle_is_replaced() -> None:
    served = 0
    closed = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await reader.readuntil(b"\r\n\r\n")
        served += 1
        body = f"page {served}".encode()
        # keep-alive is announced, then the server closes the connection anyway
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        closed.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = Settings(FETCH_RETRIES=0, FETCH_ALLOW_NETWORKS=LOOPBACK_NETWORKS)
        async with Fetcher(settings, cache=HttpCache(0)) as fetcher:
            first = await fetcher.fetch(f"http://127.0.0.1:{port}/a", check_robots=False)
            await closed.wait()  # on loopback the FIN is in the client's socket once the server has closed
            second = await fetcher.fetch(f"http://127.0.0.1:{port}/b", check_robots=False)
    finally:
        server.close()
        await server.wait_closed()
    assert first.ok and first.body == b"page 1"
    assert second.ok and second.body == b"page 2", second.error
