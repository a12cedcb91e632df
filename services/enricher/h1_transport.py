"""A lean HTTP/1.1 transport for httpx, made for crawling: many hosts, small pages, thousands in flight.

httpx's default transport (httpcore + h11) spends ~0.4 ms of CPU per request on a crawl: h11's
generic event machine, httpcore's pool bookkeeping and per-request locks, and several await layers
per read. A crawler needs much less: ``GET`` with a few headers, one response at a time per
connection. :class:`H1Transport` implements ``httpx.AsyncBaseTransport`` on an ``asyncio.Protocol``
that parses the response as the bytes arrive (status line and headers in one pass, bodies framed by
``Content-Length``, chunked, or the end of the connection) and hands the body to the reader in the
chunks the loop delivered. Through ``handle_async_request`` httpx builds the requests and responses and
decodes the bodies; the crawler's fetcher calls :meth:`H1Transport.get` instead, which skips httpx's
request and response objects (~150 us of CPU per request on a crawl) but reads URLs, decodes bodies
(gzip/deflate as httpx does, one encoding at most and capped as the output grows: a decompression bomb
costs the cap) and raises errors as httpx would (``ConnectError``/``ConnectTimeout``,
``ReadError``/``ReadTimeout``, ``RemoteProtocolError``, ``ProxyError``, ``DecodingError``).

Connections are kept alive in a pool per origin, or per proxy: plain-http requests through a forward
proxy go in absolute form (``GET http://host/path``) on any connection to the proxy, so one warm
connection serves every host; ``https://`` through a proxy tunnels with ``CONNECT`` per origin.
A kept connection that the server closed is known from the protocol (no syscall to check it); a
request whose reused connection dies before any byte of the response is sent again on a new one,
once (what httpcore does). Idle connections are capped per origin and in total, oldest closed first,
and expire after ``keepalive_expiry`` seconds. Host names are resolved through a cache (answers kept
``DNS_TTL`` seconds, names that do not resolve ``DNS_FAILURE_TTL``; one lookup at a time per name), and
each of a name's addresses is tried in turn.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ipaddress
import re
import socket
import ssl
import time
import typing
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import NamedTuple

import httpx

from .addresses import AddressPolicy, BlockedAddress, blocked

DNS_TTL = 300.0  # seconds an answer is kept (a crawl reads a site once: long enough for its pages)
DNS_FAILURE_TTL = 60.0  # and a name that does not resolve (domain guesses: most do not exist)
DNS_CACHE_SIZE = 20_000
_HIGH_WATER = 1024 * 1024  # body bytes buffered before the transport stops reading
_MAX_HEAD = 64 * 1024  # status line and headers

# parser states
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS, _UNTIL_CLOSE, _DONE = range(8)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: sends a request, parses its response as bytes arrive."""

    __slots__ = (
        "transport", "key", "state", "buf", "remaining", "chunks", "buffered", "waiter", "exc", "closed",
        "head", "keep_alive", "no_body", "paused", "idle_since", "used", "received",
    )

    def __init__(self, key: tuple[typing.Any, ...]) -> None:
        self.transport: asyncio.Transport | None = None
        self.key = key
        self.state = _DONE
        self.buf = b""
        self.remaining = 0
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.waiter: asyncio.Future[None] | None = None
        self.exc: BaseException | None = None
        self.closed = False
        self.head: tuple[int, bytes, list[tuple[bytes, bytes]]] | None = None
        self.keep_alive = True
        self.no_body = False
        self.paused = False
        self.idle_since = 0.0
        self.used = False  # has carried a request before this one
        self.received = False  # a byte of the current response arrived

    # ---------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self._feed(data)
        except httpx.RemoteProtocolError as exc:
            self._fail(exc)
            if self.transport is not None:
                self.transport.close()
            return
        self._wake()

    def eof_received(self) -> bool | None:
        if self.state == _UNTIL_CLOSE:
            self.state = _DONE
            self.keep_alive = False
        elif self.state != _DONE or self.head is None and self.waiter is not None:
            self._fail(httpx.RemoteProtocolError("server disconnected without sending a complete response"))
        self.closed = True
        self._wake()
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.state == _UNTIL_CLOSE:
            self.state = _DONE
            self.keep_alive = False
        elif self.state != _DONE or self.head is None and self.waiter is not None:
            self._fail(httpx.ReadError(str(exc)) if exc else
                       httpx.RemoteProtocolError("server disconnected without sending a complete response"))
        self._wake()

    # ---------------------------------------------------------------- parsing

    def start(self, no_body: bool) -> None:
        self.state = _HEAD
        self.buf = b""
        self.head = None
        self.keep_alive = True
        self.no_body = no_body
        self.exc = None
        self.received = False

    def _fail(self, exc: BaseException) -> None:
        if self.exc is None:
            self.exc = exc
        self.keep_alive = False

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _feed(self, data: bytes) -> None:
        state = self.state
        if state == _HEAD:
            data = self.buf + data if self.buf else data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > _MAX_HEAD:
                    raise httpx.RemoteProtocolError("response head too large")
                self.buf = data
                return
            self.buf = b""
            self._parse_head(data[:end])
            data = data[end + 4:]
            state = self.state
            if state == _HEAD:  # an interim 1xx response: the real head follows
                if data:
                    self._feed(data)
                return
        if not data:
            return
        if state == _LENGTH:
            n = len(data)
            if n <= self.remaining:
                self._push(data)
                self.remaining -= n
                if not self.remaining:
                    self.state = _DONE
            else:  # more than the response: the connection is out of step, not reusable
                self._push(data[: self.remaining])
                self.remaining = 0
                self.state = _DONE
                self.keep_alive = False
        elif state == _UNTIL_CLOSE:
            self._push(data)
        elif state == _DONE:
            self.keep_alive = False  # bytes nobody asked for
        else:
            self._feed_chunked(data)

    def _parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        status_line = lines[0]
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
            raise httpx.RemoteProtocolError(f"malformed status line: {status_line[:100]!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else b""
        headers: list[tuple[bytes, bytes]] = []
        length: int | None = None
        chunked = False
        close = parts[0] == b"HTTP/1.0"
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name[-1:] in (b" ", b"\t"):
                if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding
                    n, v = headers[-1]
                    headers[-1] = (n, v + b" " + line.strip())
                    continue
                raise httpx.RemoteProtocolError(f"malformed header line: {line[:100]!r}")
            value = value.strip()
            headers.append((name, value))
            low = name.lower()
            if low == b"content-length":
                try:
                    n = int(value)
                except ValueError:
                    raise httpx.RemoteProtocolError(f"bad Content-Length: {value[:40]!r}") from None
                if n < 0 or length is not None and length != n:
                    raise httpx.RemoteProtocolError(f"bad Content-Length: {value[:40]!r}")
                length = n
            elif low == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
            elif low == b"connection":
                tokens = value.lower()
                if b"close" in tokens:
                    close = True
                elif b"keep-alive" in tokens:
                    close = False
        if 100 <= status < 200:
            if status == 101:
                raise httpx.RemoteProtocolError("protocol switching is not supported")
            return  # stays in _HEAD
        self.head = (status, reason, headers)
        self.keep_alive = not close
        if self.no_body or status in (204, 304):
            self.state = _DONE
        elif chunked:
            self.state = _CHUNK_SIZE
        elif length is not None:
            self.remaining = length
            self.state = _LENGTH if length else _DONE
        else:
            self.state = _UNTIL_CLOSE
            self.keep_alive = False

    def _feed_chunked(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        self.buf = b""
        pos = 0
        size = len(buf)
        while pos < size:
            state = self.state
            if state == _CHUNK_DATA:
                take = min(self.remaining, size - pos)
                self._push(buf[pos:pos + take])
                pos += take
                self.remaining -= take
                if not self.remaining:
                    self.state = _CHUNK_CRLF
            elif state == _CHUNK_CRLF:
                if size - pos < 2:
                    break
                if buf[pos:pos + 2] != b"\r\n":
                    raise httpx.RemoteProtocolError("malformed chunked body")
                pos += 2
                self.state = _CHUNK_SIZE
            elif state == _CHUNK_SIZE:
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    if size - pos > 1024:
                        raise httpx.RemoteProtocolError("malformed chunk size")
                    break
                field = buf[pos:end].split(b";", 1)[0].strip()
                try:
                    n = int(field, 16)
                except ValueError:
                    raise httpx.RemoteProtocolError(f"malformed chunk size: {field[:20]!r}") from None
                pos = end + 2
                if n:
                    self.remaining = n
                    self.state = _CHUNK_DATA
                else:
                    self.state = _TRAILERS
            elif state == _TRAILERS:
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    if size - pos > _MAX_HEAD:
                        raise httpx.RemoteProtocolError("trailers too large")
                    break
                empty = end == pos
                pos = end + 2
                if empty:  # the blank line that ends the trailers
                    self.state = _DONE
                    if pos < size:
                        self.keep_alive = False
                    return
            else:  # _DONE
                self.keep_alive = False
                return
        self.buf = buf[pos:]

    def _push(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True

    def take(self) -> bytes | None:
        if not self.chunks:
            return None
        data = self.chunks.popleft()
        self.buffered -= len(data)
        if self.paused and self.buffered < _HIGH_WATER // 2 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    async def wait(self, timeout: float | None) -> None:
        """Until something arrives (or the connection ends); raises ``httpx.ReadTimeout`` after ``timeout``."""
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            await waiter
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the response") from None
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Body(httpx.AsyncByteStream):
    """A response body read from its connection; closing it gives the connection back (or closes it)."""

    __slots__ = ("_conn", "_owner", "_timeout", "_open")

    def __init__(self, conn: _Connection, owner: H1Transport, timeout: float | None) -> None:
        self._conn = conn
        self._owner = owner
        self._timeout = timeout
        self._open = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while True:
            data = conn.take()
            if data is not None:
                yield data
                continue
            if conn.exc is not None:
                raise conn.exc
            if conn.state == _DONE:
                return
            if conn.closed:
                raise httpx.RemoteProtocolError("server disconnected without sending a complete response")
            await conn.wait(self._timeout)

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._owner._release(self._conn)


class H1Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio for httpx, direct or through an ``http://`` proxy (see the module's docstring)."""

    def __init__(
        self,
        *,
        proxy: str | httpx.URL | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_idle_per_origin: int = 4,
        max_idle: int = 1024,
        keepalive_expiry: float = 5.0,
        address_policy: AddressPolicy | None = None,
    ) -> None:
        # the SSRF guard (``addresses``): connections only to the addresses it allows, checked on the address
        # connected to; through a proxy, on the target's host before the proxy is asked. None: no guard
        self._policy = address_policy
        self._proxy: tuple[str, int] | None = None
        self._proxy_auth: bytes | None = None
        if proxy is not None:
            url = httpx.URL(proxy)
            if url.scheme != "http":
                raise ValueError(f"only http:// proxies are supported, not {url}")
            self._proxy = (url.host, url.port or 80)
            if url.username or url.password:
                import base64

                creds = f"{url.username}:{url.password}".encode()
                self._proxy_auth = b"Basic " + base64.b64encode(creds)
        self._ssl = ssl_context if ssl_context is not None else ssl.create_default_context()
        self._per_origin = max(1, max_idle_per_origin)
        self._max_idle = max(1, max_idle)
        self._expiry = keepalive_expiry
        self._idle: dict[tuple[typing.Any, ...], list[_Connection]] = {}
        self._lru: dict[_Connection, None] = {}  # idle connections, oldest first
        self._closed = False
        self._dns: dict[tuple[str, int], tuple[float, typing.Any]] = {}  # (host, port) -> (until, answer)
        self._resolving: dict[tuple[str, int], asyncio.Future[typing.Any]] = {}
        self.dns_lookups = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        timeouts = request.extensions.get("timeout") or {}
        method = request.method
        has_body = method not in ("GET", "HEAD")
        if not has_body:
            for name, value in request.headers.raw:
                if len(name) == 14 and name.lower() == b"content-length" and value != b"0":
                    has_body = True
        body = await request.aread() if has_body else b""
        conn = await self._exchange(method.encode("ascii"), url.scheme, url.raw_host.decode("ascii"),
                                    url.port, url.netloc, url.raw_path, request.headers.raw, body, timeouts)
        read_timeout = timeouts.get("read")
        status, reason, headers = conn.head  # type: ignore[misc]
        return httpx.Response(status, headers=headers, stream=_Body(conn, self, read_timeout),
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})

    async def get(self, url: str, headers: Sequence[tuple[bytes, bytes]], *, timeouts: dict[str, float | None],
                  max_bytes: int) -> Reply:
        """``GET url`` without httpx's request and response objects (~150 us less per request on a crawl),
        sending a ``Host`` header and ``headers`` as httpx would. The status, the headers as they came, and
        the body decoded per its Content-Encoding (as ``Response.aiter_bytes`` would, but one encoding at most
        and the output capped as it grows: see :func:`content_decoder`), at most ``max_bytes`` of it. The URL
        is read as httpx reads it; errors are httpx's, as from ``handle_async_request``."""
        scheme, host, port, netloc, target = split_url(url)
        conn = await self._exchange(b"GET", scheme, host, port, netloc, target, [(b"Host", netloc), *headers], b"",
                                    timeouts)
        status, _reason, raw_headers = conn.head  # type: ignore[misc]
        stream = _Body(conn, self, timeouts.get("read"))
        try:
            decoder = content_decoder(raw_headers)
            chunks: list[bytes] = []
            size = 0
            truncated = False
            async for chunk in stream:
                if decoder is not None:  # never more than one byte past the cap, however small the input
                    chunk = decoder.decode(chunk, max_bytes - size + 1)
                chunks.append(chunk)
                size += len(chunk)
                if size >= max_bytes:
                    truncated = size > max_bytes
                    break
            else:
                if decoder is not None:
                    tail = decoder.flush()
                    chunks.append(tail)
                    size += len(tail)
                    truncated = size > max_bytes
            body = b"".join(chunks)
            return Reply(status, raw_headers, body[:max_bytes] if truncated else body, truncated)
        finally:
            await stream.aclose()

    async def _exchange(self, method: bytes, scheme: str, host: str, port: int | None, netloc: bytes,
                        target: bytes, headers: Sequence[tuple[bytes, bytes]], body: bytes,
                        timeouts: dict[str, float | None]) -> _Connection:
        """Send a request; the connection once its response's head has arrived (``conn.head``)."""
        if self._closed:
            raise httpx.UnsupportedProtocol("the transport is closed")
        port = port or (443 if scheme == "https" else 80)
        read_timeout = timeouts.get("read")
        if self._proxy is None:
            key: tuple[typing.Any, ...] = (scheme, host, port)
        elif scheme == "http":
            key = ("proxy",)
            target = b"http://" + netloc + target
        else:
            key = ("tunnel", host, port)
        if self._proxy is not None and self._policy is not None and self._policy.refuses_host(host):
            raise blocked(host, port)
        head = [method, b" ", target, b" HTTP/1.1\r\n"]
        for name, value in headers:
            head += (name, b": ", value, b"\r\n")
        if key[0] == "proxy" and self._proxy_auth is not None:
            head += (b"Proxy-Authorization: ", self._proxy_auth, b"\r\n")
        head.append(b"\r\n")
        if body:
            head.append(body)
        data = b"".join(head)
        no_body = method == b"HEAD"

        while True:
            conn = self._acquire(key)
            reused = conn is not None
            if conn is None:
                conn = await self._open(key, scheme, host, port, timeouts)
            conn.start(no_body)
            assert conn.transport is not None
            try:
                conn.transport.write(data)
                while conn.head is None:
                    if conn.exc is not None:
                        raise conn.exc
                    if conn.closed:
                        raise httpx.RemoteProtocolError("server disconnected without sending a response")
                    await conn.wait(read_timeout)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                conn.transport.close()
                if reused and not conn.received:  # a kept connection the server had closed: once more, fresh
                    continue
                raise
            except BaseException:
                conn.transport.close()
                raise
            return conn

    # ---------------------------------------------------------------- connections

    async def _open(self, key: tuple[typing.Any, ...], scheme: str, host: str, port: int,
                    timeouts: dict[str, float | None]) -> _Connection:
        loop = asyncio.get_running_loop()
        conn = _Connection(key)
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                if self._proxy is None:
                    await self._connect(conn, host, port, tls=scheme == "https")
                else:
                    await self._connect(conn, *self._proxy, tls=False)
                    if key[0] == "tunnel":
                        await self._tunnel(conn, host, port)
                        assert conn.transport is not None
                        conn.transport = await loop.start_tls(conn.transport, conn, self._ssl, server_hostname=host)
        except TimeoutError:
            if conn.transport is not None:
                conn.transport.close()
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except (httpx.ProxyError, BlockedAddress):
            if conn.transport is not None:
                conn.transport.close()
            raise
        except (OSError, ssl.SSLError, httpx.TransportError) as exc:
            if conn.transport is not None:
                conn.transport.close()
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:  # cancelled (a request's or a lead's deadline, a cancelled run): nothing left open
            if conn.transport is not None:
                conn.transport.close()
            raise
        return conn

    async def _connect(self, conn: _Connection, host: str, port: int, *, tls: bool) -> None:
        """Connect ``conn`` to ``host`` (its addresses from the DNS cache, tried in order), with TLS if asked."""
        loop = asyncio.get_running_loop()
        context, server_hostname = (self._ssl, host) if tls else (None, None)
        policy = self._policy if conn.key[0] != "proxy" and conn.key[0] != "tunnel" else None
        if _is_ip(host):
            if policy is not None and not policy.allows_address(host):
                raise blocked(host, port)
            await loop.create_connection(lambda: conn, host, port, ssl=context, server_hostname=server_hostname)
            return
        failure: OSError | None = None
        refused = False
        for family, _type, proto, _name, sockaddr in await self._resolve(host, port):
            # checked on the address connected to (no second lookup a rebinding name could answer otherwise)
            if policy is not None and not policy.allows_address(sockaddr[0]):
                refused = True
                continue
            try:
                await loop.create_connection(lambda: conn, sockaddr[0], port, family=family, proto=proto,
                                             ssl=context, server_hostname=server_hostname)
                return
            except ssl.SSLError:  # the host's certificate or handshake: the same at any of its addresses
                raise
            except OSError as exc:
                failure = exc
        if failure is None and refused:
            raise blocked(host, port)
        raise failure if failure is not None else OSError(f"no address for {host}")

    async def _resolve(self, host: str, port: int) -> list[tuple[typing.Any, ...]]:
        """``getaddrinfo`` through a cache: answers for ``DNS_TTL`` seconds, names that do not resolve for
        ``DNS_FAILURE_TTL``; one lookup at a time per name (a site's pages open their connections at once)."""
        key = (host, port)
        hit = self._dns.get(key)
        if hit is not None and hit[0] > time.monotonic():
            if isinstance(hit[1], socket.gaierror):
                raise socket.gaierror(*hit[1].args)
            return hit[1]
        lookup = self._resolving.get(key)
        if lookup is None:
            self.dns_lookups += 1
            lookup = self._resolving[key] = asyncio.ensure_future(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM))
            lookup.add_done_callback(functools.partial(self._resolved, key))
        return await asyncio.shield(lookup)

    def _resolved(self, key: tuple[str, int], lookup: asyncio.Future[typing.Any]) -> None:
        self._resolving.pop(key, None)
        if lookup.cancelled():
            return
        exc = lookup.exception()
        if exc is None:
            entry: tuple[float, typing.Any] = (time.monotonic() + DNS_TTL, lookup.result())
        elif isinstance(exc, socket.gaierror):
            entry = (time.monotonic() + DNS_FAILURE_TTL, exc)
        else:
            return
        self._dns[key] = entry
        if len(self._dns) > DNS_CACHE_SIZE:
            del self._dns[next(iter(self._dns))]  # the oldest answer

    async def _tunnel(self, conn: _Connection, host: str, port: int) -> None:
        authority = f"{host}:{port}".encode("idna")
        request = [b"CONNECT ", authority, b" HTTP/1.1\r\nHost: ", authority, b"\r\n"]
        if self._proxy_auth is not None:
            request += (b"Proxy-Authorization: ", self._proxy_auth, b"\r\n")
        request.append(b"\r\n")
        conn.start(no_body=True)
        assert conn.transport is not None
        conn.transport.write(b"".join(request))
        while conn.head is None:
            if conn.exc is not None:
                raise conn.exc
            if conn.closed:
                raise httpx.ProxyError("the proxy closed the connection during CONNECT")
            await conn.wait(None)  # bounded by the connect timeout around it
        status = conn.head[0]
        if not 200 <= status < 300:
            raise httpx.ProxyError(f"proxy answered CONNECT {host}:{port} with {status}")
        conn.head = None

    def _acquire(self, key: tuple[typing.Any, ...]) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            del self._lru[conn]
            if conn.closed or now - conn.idle_since > self._expiry:
                if conn.transport is not None:
                    conn.transport.close()
                continue
            if not idle:
                del self._idle[key]
            return conn
        del self._idle[key]
        return None

    def _release(self, conn: _Connection) -> None:
        reusable = (conn.state == _DONE and conn.keep_alive and not conn.closed and conn.exc is None
                    and not conn.chunks and not self._closed)
        if not reusable:
            if conn.transport is not None:
                conn.transport.close()
            return
        if conn.paused and conn.transport is not None:
            conn.paused = False
            conn.transport.resume_reading()
        idle = self._idle.setdefault(conn.key, [])
        if conn.key[0] != "proxy" and len(idle) >= self._per_origin:
            assert conn.transport is not None
            conn.transport.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)
        self._lru[conn] = None
        if len(self._lru) > self._max_idle:
            oldest = next(iter(self._lru))
            del self._lru[oldest]
            bucket = self._idle[oldest.key]
            bucket.remove(oldest)
            if not bucket:
                del self._idle[oldest.key]
            if oldest.transport is not None:
                oldest.transport.close()

    @property
    def idle_connections(self) -> int:
        return len(self._lru)

    async def aclose(self) -> None:
        self._closed = True
        for conn in self._lru:
            if conn.transport is not None:
                conn.transport.close()
        self._lru.clear()
        self._idle.clear()


class Reply(NamedTuple):
    """What :meth:`H1Transport.get` answers."""

    status: int
    headers: list[tuple[bytes, bytes]]  # as received: names in their case, repeated names repeated
    body: bytes
    truncated: bool  # the body went past ``max_bytes`` (cut there)


# a URL that httpx takes as it is: lower-case host, no port or a decimal one, a path and query of characters
# it leaves alone (no "%" it would check, no dot segment it would remove), no fragment or user info
_PLAIN_URL_RE = re.compile(
    r"(https?)://([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::([0-9]{1,5}))?"
    r"((?:/[A-Za-z0-9_~!$&'()*+,;=:@-][A-Za-z0-9._~!$&'()*+,;=:@-]*|/)*)(\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def split_url(url: str) -> tuple[str, str, int | None, bytes, bytes]:
    """scheme, host (IDNA), port (None for the scheme's default), netloc and request target of ``url``, as
    ``httpx.URL`` gives them (``raw_host``, ``port``, ``netloc``, ``raw_path``); plain URLs without parsing."""
    m = _PLAIN_URL_RE.fullmatch(url)
    if m is not None:
        scheme, host, port_text, path, query = m.groups()
        port = int(port_text) if port_text else None
        if port is not None and not 0 <= port <= 65535:
            m = None
        else:
            if port == _DEFAULT_PORTS[scheme]:
                port = None
            netloc = host if port is None else f"{host}:{port}"
            return scheme, host, port, netloc.encode("ascii"), ((path or "/") + (query or "")).encode("ascii")
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {parsed.scheme!r}")
    return parsed.scheme, parsed.raw_host.decode("ascii"), parsed.port, parsed.netloc, parsed.raw_path


DECODED_ENCODINGS = ("gzip", "deflate")  # what ``content_decoder`` decodes (what the crawler asks for)


def content_decoder(headers: list[tuple[bytes, bytes]]) -> CappedDecoder | None:
    """The decoder for a response's Content-Encoding (gzip or deflate, decoded as httpx's decoders do), None
    for the identity or an encoding it does not know (the body is kept as it came, as httpx keeps it).
    Unlike httpx, stacked encodings (``gzip, gzip``: a bomb's way to multiply its ratio) are refused with
    ``httpx.DecodingError``, and the output is capped as it grows (:meth:`CappedDecoder.decode`)."""
    found: list[str] = []
    for name, value in headers:
        if len(name) == 16 and name.lower() == b"content-encoding":
            for token in value.decode("latin-1").split(","):
                token = token.strip().lower()
                if token in DECODED_ENCODINGS:
                    found.append(token)
    if not found:
        return None
    if len(found) > 1:
        raise httpx.DecodingError(f"stacked content encodings refused: {', '.join(found)}")
    return CappedDecoder(found[0])


class CappedDecoder:
    """gzip or deflate decoded incrementally, each piece of output at most the room the caller has left, so
    a decompression bomb costs the cap in memory and time, never its expanded size."""

    __slots__ = ("_z", "_first")

    def __init__(self, encoding: str) -> None:
        # deflate: zlib-wrapped, or raw when the first bytes say so (what httpx's DeflateDecoder does)
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
        self._first = encoding == "deflate"

    def decode(self, data: bytes, limit: int) -> bytes:
        """At most ``limit`` (>= 1) bytes of output for ``data``; input past what they need is dropped (the
        caller stops once it has ``limit`` bytes: a body past its cap is cut there)."""
        first, self._first = self._first, False
        try:
            return self._z.decompress(data, max(1, limit))
        except zlib.error as exc:
            if first:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decode(data, limit)
            raise httpx.DecodingError(str(exc)) from exc

    def flush(self) -> bytes:
        try:
            return self._z.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc)) from exc


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
