"""Hostile servers on loopback: a site trickling its answer a byte at a time is cut at the request's and the
lead's deadline with its connection closed; a decompression bomb is cut at the size cap with memory bounded;
stacked encodings are refused."""

from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc
from collections.abc import Awaitable, Callable

import pytest

from services.enricher.fetcher import Fetcher
from services.enricher.http_cache import HttpCache
from services.enricher.logic import Enricher
from shared.config import Settings

from .test_fetcher_enricher import lead
from .test_fetcher_loopback import LOOPBACK_NETWORKS

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"


def settings(**kw: object) -> Settings:
    return Settings(**{"FETCH_RETRIES": 0, "CACHE_TTL_HOURS": 0, "FETCH_CONNECT_TIMEOUT": 2, "FETCH_READ_TIMEOUT": 5,
                       "FETCH_ALLOW_NETWORKS": LOOPBACK_NETWORKS, "ENRICHER_PAGE_WORKERS": 0, **kw})


class HostileServer:
    """Answers every request with ``serve``; notes each connection's opening and its closing by the client."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.opened = 0
        self.closed = 0
        self.all_closed = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        self.all_closed.clear()
        try:
            await reader.readuntil(b"\r\n\r\n")
            serving = asyncio.create_task(self.serve(reader, writer))
            await reader.read()  # b"": the client closed its end
            serving.cancel()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # (cancelled: the test is over)
        finally:
            writer.close()
            self.closed += 1
            if self.closed == self.opened:
                self.all_closed.set()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> HostileServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def trickle(data: bytes, every: float = 0.25) -> Serve:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for i in range(len(data)):
            writer.write(data[i:i + 1])
            await writer.drain()
            await asyncio.sleep(every)
    return serve


def answer(data: bytes) -> Serve:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
    return serve


@pytest.mark.parametrize("what", ["head", "body"])
async def test_a_site_trickling_its_answer_is_cut_at_the_request_deadline_and_its_connection_closed(what: str) -> None:
    # a byte every 0.25 s never trips the 5 s read timeout: only the deadline ends it
    data = (HEAD + b"X-Pad: " + b"a" * 200 + b"\r\n\r\n") if what == "head" else \
        HEAD + b"Content-Length: 100000\r\n\r\n" + b"<html>" + b"a" * 100_000
    head, body = (data, b"") if what == "head" else (data[: data.index(b"\r\n\r\n") + 4], data[data.index(b"\r\n\r\n")
                                                                                             + 4:])

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if body:
            writer.write(head)
        await trickle(body or head)(reader, writer)

    fetcher = Fetcher(settings(FETCH_REQUEST_DEADLINE_S=1.0), cache=HttpCache(0))
    async with HostileServer(serve) as server, fetcher:
        t0 = time.monotonic()
        res = await asyncio.wait_for(fetcher.fetch(server.url + "/", check_robots=False), 60)
        took = time.monotonic() - t0
        await asyncio.wait_for(server.all_closed.wait(), 10)  # closed by the fetcher, not at its exit
    assert res.error is not None and res.error.startswith("timeout: request deadline"), res.error
    assert res.api_calls[-1].error == res.error
    assert took < 10, took
    assert server.opened == server.closed == 1


async def test_a_lead_whose_sites_trickle_ends_at_the_lead_deadline_with_its_connections_closed(tmp_path) -> None:
    async with HostileServer(trickle(HEAD + b"X-Pad: " + b"a" * 1000 + b"\r\n\r\n")) as server:
        s = settings(HUNTER_HTTP_PROXY=server.url, FETCH_SCHEMES="http", HUNTER_DATA_DIR=str(tmp_path),
                     FETCH_REQUEST_DEADLINE_S=60, ENRICH_LEAD_DEADLINE_S=1.5)
        async with Enricher(s) as enricher:
            t0 = time.monotonic()
            out = await asyncio.wait_for(enricher.enrich(lead("19131243000197", "Acme Pecas",
                                                              email="joao@acme.com.br"), run_id="r1"), 60)
            took = time.monotonic() - t0
            await asyncio.wait_for(server.all_closed.wait(), 10)
    assert out.enrichment.status == "error" and out.enrichment.error == "lead deadline exceeded (1.5 s)"
    assert took < 10, took
    assert server.opened >= 1 and server.closed == server.opened


def bomb(expanded: int) -> bytes:
    return gzip.compress(b"\0" * expanded, compresslevel=9)


async def test_a_decompression_bomb_is_cut_at_the_cap_with_memory_bounded_and_other_fetches_served() -> None:
    packed = bomb(200_000_000)  # ~200 KB expanding to 200 MB
    bomb_answer = HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed
    page = b"<html>" + b"ok " * 1000 + b"</html>"
    fine_answer = HEAD + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(page) + page
    fetcher = Fetcher(settings(FETCH_MAX_BYTES=1_000_000), cache=HttpCache(0))
    async with HostileServer(answer(bomb_answer)) as hostile, HostileServer(answer(fine_answer)) as fine, fetcher:
        await fetcher.fetch(fine.url + "/warm", check_robots=False)  # the connection machinery warmed up
        tracemalloc.start()
        try:
            bombs = [fetcher.fetch(f"{hostile.url}/{i}", check_robots=False) for i in range(4)]
            others = [fetcher.fetch(f"{fine.url}/{i}", check_robots=False) for i in range(20)]
            results = await asyncio.gather(*bombs, *others)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    for res in results[:4]:
        assert res.ok and res.truncated and res.body == b"\0" * 1_000_000
    assert all(res.ok and res.body == page for res in results[4:])
    # four bombs of 200 MB each read at once: a few times the cap, not the expanded size
    assert peak < 4 * 4 * 1_000_000 + 8_000_000, peak


async def test_stacked_content_encodings_are_refused() -> None:
    packed = gzip.compress(bomb(20_000_000))  # "gzip, gzip": the ratio multiplied
    data = HEAD + b"Content-Encoding: gzip, gzip\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed
    async with HostileServer(answer(data)) as server, Fetcher(settings(), cache=HttpCache(0)) as fetcher:
        tracemalloc.start()
        try:
            res = await fetcher.fetch(server.url + "/", check_robots=False)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        await asyncio.wait_for(server.all_closed.wait(), 10)
    assert res.status is None and res.body == b""
    assert res.error is not None and "stacked content encodings refused: gzip, gzip" in res.error
    assert peak < 5_000_000, peak
