"""Connection pools for crawling thousands of hosts with httpx: small shards, shared through a proxy.

Two things make one plain httpx client slow with many hosts:

* httpcore's pool scans its connections on every request and response, and its idle-connection
  check is quadratic in the pool size (measured: ~18 ms of CPU per request with 200 connections).
  Small pools are cheap, so requests are spread over shards of ~``SHARD_CONNECTIONS`` connections;
  through the forward proxy (one origin) each pool holds one connection and a request takes a pool
  with nothing in flight (:class:`FreeListTransport`), so a request checks one connection, not ~10.
  The pools run on asyncio transports, not anyio (:mod:`.asyncio_backend`): a check of an idle
  connection looks at what the protocol has received, and polls the kept socket only when nothing has.
* through a forward proxy httpx opens one connection *per origin host*, so each new host costs a
  fresh proxied connection. A forward proxy accepts absolute-form requests
  (``GET http://host/path HTTP/1.1``) for any host on any connection, so :class:`ForwardProxyTransport`
  sends plain-http requests to the proxy's own origin with the absolute URL as request target: every
  keep-alive connection to the proxy serves every host. ``https://`` still tunnels per host (CONNECT).
"""

from __future__ import annotations

import itertools
import ssl
import typing
import zlib
from collections.abc import AsyncIterator, Callable
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpcore
import httpx

from .asyncio_backend import AsyncioBackend, fast_locks

SHARD_CONNECTIONS = 4


def _http_transport(**kwargs: typing.Any) -> httpx.AsyncHTTPTransport:
    """``httpx.AsyncHTTPTransport(**kwargs)`` on :class:`~.asyncio_backend.AsyncioBackend`, with asyncio
    locks in its connections (when httpx's transport still keeps its httpcore pool where it did in
    httpx 0.28; httpcore's default backend otherwise)."""
    transport = httpx.AsyncHTTPTransport(**kwargs)
    pool = getattr(transport, "_pool", None)
    if isinstance(getattr(pool, "_network_backend", None), httpcore.AsyncNetworkBackend):
        pool._network_backend = AsyncioBackend()  # type: ignore[union-attr]
        fast_locks(pool)
    return transport


class ShardedTransport(httpx.AsyncBaseTransport):
    """Spreads requests over several small pools: round robin, or by host when connections are per host."""

    def __init__(self, shards: list[httpx.AsyncBaseTransport], *, by_host: bool) -> None:
        self._shards = shards
        self._by_host = by_host
        self._next = itertools.cycle(range(len(shards)))

    def _pick(self, request: httpx.Request) -> httpx.AsyncBaseTransport:
        if self._by_host:
            return self._shards[zlib.crc32(request.url.host.encode()) % len(self._shards)]
        return self._shards[next(self._next)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pick(request).handle_async_request(request)

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


class FreeListTransport(httpx.AsyncBaseTransport):
    """One-connection pools handed out from a free list: each request goes to a pool with nothing in flight.

    httpcore checks every connection of a pool (a readability syscall for each idle one) when a request
    starts and again when its response is closed, so the cost of a request grows with the pool's size.
    Here each pool holds one keep-alive connection, serving one request at a time: a request takes the
    pool released last (its connection is the warmest), or a new one when all are busy, and gives it
    back when its response is closed. Only for pools that reach one origin (the forward proxy): the
    pools needed are as many as the requests in flight at the peak.
    """

    def __init__(self, make: Callable[[], httpx.AsyncBaseTransport]) -> None:
        self._make = make
        self._free: list[httpx.AsyncBaseTransport] = []
        self._all: list[httpx.AsyncBaseTransport] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._free:
            pool = self._free.pop()
        else:
            pool = self._make()
            self._all.append(pool)
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            self._free.append(pool)
            raise
        response.stream = _GiveBack(response.stream, self._free, pool)  # type: ignore[arg-type]
        return response

    async def aclose(self) -> None:
        self._free.clear()
        for pool in self._all:
            await pool.aclose()
        self._all.clear()


class _GiveBack(httpx.AsyncByteStream):
    """A response stream that returns its pool to the free list once closed."""

    __slots__ = ("_stream", "_free", "_pool")

    def __init__(self, stream: httpx.AsyncByteStream, free: list[httpx.AsyncBaseTransport],
                 pool: httpx.AsyncBaseTransport) -> None:
        self._stream = stream
        self._free = free
        self._pool: httpx.AsyncBaseTransport | None = pool

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._pool is not None:
                self._free.append(self._pool)
                self._pool = None


class ForwardProxyTransport(httpx.AsyncBaseTransport):
    """Plain-http requests in absolute form to the proxy's origin: one pool for all hosts."""

    def __init__(self, proxy_url: str, *, limits: httpx.Limits, verify: ssl.SSLContext | bool = False) -> None:
        proxy = httpx.URL(proxy_url)
        if proxy.scheme != "http":
            raise ValueError(f"forward proxying needs an http:// proxy, not {proxy_url}")
        self._proxy = proxy
        # every request is sent to this one URL; the absolute target travels as httpcore's "target" extension
        self._to_proxy = httpx.URL(scheme="http", host=proxy.host, port=proxy.port, path="/")
        self._pool = _http_transport(limits=limits, verify=verify, trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # the Host header stays the origin's (httpx set it from the original URL); no URL is parsed here
        request.extensions = {**request.extensions, "target": str(request.url).encode("ascii")}
        request.url = self._to_proxy
        return await self._pool.handle_async_request(request)

    async def aclose(self) -> None:
        await self._pool.aclose()


def crawler_mounts(proxy_url: str | None, *, concurrency: int) -> dict[str, httpx.AsyncBaseTransport]:
    """Transports for a crawling httpx client, direct or behind ``proxy_url``, for ``concurrency`` requests."""
    shards = max(1, -(-concurrency // SHARD_CONNECTIONS))
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=SHARD_CONNECTIONS)

    tls = ssl.create_default_context()  # one context: each transport would otherwise load the CA store again

    def pool(proxy: str | None = None) -> httpx.AsyncBaseTransport:
        return _http_transport(proxy=proxy, limits=limits, verify=tls, trust_env=False)

    if proxy_url and proxy_url.startswith("http://"):
        single = httpx.Limits(max_connections=None, max_keepalive_connections=1)
        plain = FreeListTransport(lambda: ForwardProxyTransport(proxy_url, limits=single, verify=tls))
        return {"http://": plain, "https://": ShardedTransport([pool(proxy_url) for _ in range(shards)], by_host=True)}
    return {
        "http://": ShardedTransport([pool(proxy_url) for _ in range(shards)], by_host=True),
        "https://": ShardedTransport([pool(proxy_url) for _ in range(shards)], by_host=True),
    }


def no_cookie_jar() -> CookieJar:
    """A jar that stores nothing: a crawler must not carry one site's cookies to the next request,
    and a client-wide jar growing with every site is scanned on every request. Each response still
    exposes its own ``Set-Cookie`` values."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
