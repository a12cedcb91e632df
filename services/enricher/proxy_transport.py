"""Connection pools for crawling thousands of hosts with httpx: small shards, shared through a proxy.

Two things make one plain httpx client slow with many hosts:

* httpcore's pool scans its connections on every request and response, and its idle-connection
  check is quadratic in the pool size (measured: ~18 ms of CPU per request with 200 connections).
  Small pools are cheap, so requests are spread over shards of ~``SHARD_CONNECTIONS`` connections.
* through a forward proxy httpx opens one connection *per origin host*, so each new host costs a
  fresh proxied connection. A forward proxy accepts absolute-form requests
  (``GET http://host/path HTTP/1.1``) for any host on any connection, so :class:`ForwardProxyTransport`
  sends plain-http requests to the proxy's own origin with the absolute URL as request target: every
  keep-alive connection to the proxy serves every host. ``https://`` still tunnels per host (CONNECT).
"""

from __future__ import annotations

import itertools
import ssl
import zlib
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

SHARD_CONNECTIONS = 4


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


class ForwardProxyTransport(httpx.AsyncBaseTransport):
    """Plain-http requests in absolute form to the proxy's origin: one pool for all hosts."""

    def __init__(self, proxy_url: str, *, limits: httpx.Limits, verify: ssl.SSLContext | bool = False) -> None:
        proxy = httpx.URL(proxy_url)
        if proxy.scheme != "http":
            raise ValueError(f"forward proxying needs an http:// proxy, not {proxy_url}")
        self._proxy = proxy
        # every request is sent to this one URL; the absolute target travels as httpcore's "target" extension
        self._to_proxy = httpx.URL(scheme="http", host=proxy.host, port=proxy.port, path="/")
        self._pool = httpx.AsyncHTTPTransport(limits=limits, verify=verify, trust_env=False)

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
        return httpx.AsyncHTTPTransport(proxy=proxy, limits=limits, verify=tls, trust_env=False)

    if proxy_url and proxy_url.startswith("http://"):
        plain = ShardedTransport([ForwardProxyTransport(proxy_url, limits=limits, verify=tls) for _ in range(shards)],
                                 by_host=False)
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
