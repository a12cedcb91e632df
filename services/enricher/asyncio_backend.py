"""An asyncio-native network backend for httpcore: sockets without anyio in the path.

httpcore runs its I/O on anyio under asyncio. anyio's streams cost a cancel scope per read and write
(``fail_after``), a task-state lookup and an extra checkpoint, which made up a good part of the
enricher's HTTP CPU. :class:`AsyncioBackend` implements ``httpcore.AsyncNetworkBackend`` on an
asyncio transport and protocol: the loop delivers received bytes to the protocol's buffer, a read
takes them from there (waiting on one future, with a ``call_later`` timer for the timeout, only when
the buffer is empty), a write hands its bytes to the transport (waiting for it to drain only when it
is over its high-water mark). Errors and timeouts raise the httpcore exceptions anyio's backend raises
(``ConnectError``/``ConnectTimeout``, ``ReadError``/``ReadTimeout``, ``WriteError``/``WriteTimeout``);
``start_tls`` upgrades the connection with ``loop.start_tls``.

:func:`fast_locks` swaps the anyio locks httpcore takes around each request on a connection (an
anyio ``Lock`` yields to the loop on every acquisition, inside a shielded cancel scope) for a plain
asyncio-style lock, on the pool's own connection objects only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import select
import ssl
import typing

import httpcore

_HIGH_WATER = 256 * 1024  # received bytes buffered before the transport stops reading


class _Protocol(asyncio.Protocol):
    """Buffers what the transport receives; wakes the one reader waiting for data."""

    __slots__ = ("transport", "chunks", "size", "eof", "exc", "closed", "waiter", "paused", "drain_waiter")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.eof = False
        self.exc: BaseException | None = None
        self.closed = False  # the connection is lost
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False  # reading paused: the buffer is full
        self.drain_waiter: asyncio.Future[None] | None = None  # set while writing is paused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > _HIGH_WATER and not self.paused and self.transport is not None:
            try:
                self.transport.pause_reading()
                self.paused = True
            except (AttributeError, NotImplementedError, RuntimeError):
                pass
        self._wake()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake()
        return None  # the transport closes itself: nothing is written after the server's end of stream

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.exc is None:
            self.exc = exc
        self._wake()
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        if self.drain_waiter is None:
            self.drain_waiter = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


def _readable(sock: typing.Any) -> bool:
    fd = sock.fileno() if sock is not None else -1
    if fd < 0:
        return True  # a closed socket reads as the end of the stream
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return bool(select.select([fd], [], [], 0)[0])
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection: an asyncio transport and the protocol buffering what it receives."""

    __slots__ = ("_transport", "_protocol", "_loop", "_sock", "_raw", "_closed")

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol,
                 raw: asyncio.Transport | None = None) -> None:
        self._transport = transport
        self._protocol = protocol
        self._loop = asyncio.get_running_loop()
        self._raw = raw  # the TCP transport under a TLS one
        self._sock = (raw or transport).get_extra_info("socket")
        self._closed = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.chunks:
            if self._closed:
                raise httpcore.ReadError("the connection is closed")
            if protocol.exc is not None:
                raise httpcore.ReadError(str(protocol.exc) or type(protocol.exc).__name__) from protocol.exc
            if protocol.eof or protocol.closed:
                return b""
            fut = protocol.waiter = self._loop.create_future()
            timer = self._loop.call_later(timeout, _expire, fut) if timeout is not None else None
            try:
                await fut
            except TimeoutError:
                raise httpcore.ReadTimeout("timed out reading from the connection") from None
            finally:
                protocol.waiter = None
                if timer is not None:
                    timer.cancel()
            if not protocol.chunks:
                if protocol.exc is not None:
                    raise httpcore.ReadError(str(protocol.exc) or type(protocol.exc).__name__) from protocol.exc
                if self._closed:
                    raise httpcore.ReadError("the connection is closed")
                return b""
        chunks = protocol.chunks
        data = chunks.popleft()
        if len(data) > max_bytes:
            chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        elif chunks and len(data) + len(chunks[0]) <= max_bytes:
            parts = [data]
            n = len(data)
            while chunks and n + len(chunks[0]) <= max_bytes:
                part = chunks.popleft()
                parts.append(part)
                n += len(part)
            data = b"".join(parts)
        protocol.size -= len(data)
        if protocol.paused and protocol.size <= _HIGH_WATER // 4:
            protocol.paused = False
            with contextlib.suppress(AttributeError, NotImplementedError, RuntimeError):
                self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._closed or protocol.closed or self._transport.is_closing():
            exc = protocol.exc
            raise httpcore.WriteError(str(exc) if exc is not None else "the connection is closed") from exc
        try:
            self._transport.write(buffer)
        except (OSError, RuntimeError) as exc:
            raise httpcore.WriteError(str(exc)) from exc
        waiter = protocol.drain_waiter
        if waiter is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            raise httpcore.WriteTimeout("timed out writing to the connection") from None
        if protocol.closed and protocol.exc is not None:
            raise httpcore.WriteError(str(protocol.exc)) from protocol.exc

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # like anyio's TLS stream with standard_compatible=False: no close_notify exchange, the TCP
        # connection is closed (a TLS transport's own close would wait for the peer's close_notify)
        (self._raw or self._transport).close()
        self._protocol._wake()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        protocol = self._protocol
        try:
            async with asyncio.timeout(timeout):
                transport = await self._loop.start_tls(self._transport, protocol, ssl_context,
                                                       server_hostname=server_hostname)
        except TimeoutError:
            (self._raw or self._transport).close()
            raise httpcore.ConnectTimeout("timed out during the TLS handshake") from None
        except (OSError, ssl.SSLError, ConnectionError, RuntimeError, TypeError) as exc:
            (self._raw or self._transport).close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            (self._raw or self._transport).close()
            raise
        if transport is None:  # the connection was closed during the handshake
            raise httpcore.ConnectError("the connection was closed during the TLS handshake")
        protocol.transport = transport  # type: ignore[assignment]
        return AsyncioStream(transport, protocol, raw=self._raw or self._transport)  # type: ignore[arg-type]

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            protocol = self._protocol
            if protocol.chunks or protocol.eof or protocol.closed or self._closed:
                return True
            return _readable(self._sock)
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._sock
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """``httpcore.AsyncNetworkBackend`` on asyncio transports (only for use under an asyncio loop)."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, host, port, local_addr=(local_address, 0) if local_address else None,
                    **_happy_eyeballs(loop))
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return _with_options(transport, protocol, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_unix_connection(_Protocol, path)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {path}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return _with_options(transport, protocol, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _happy_eyeballs(loop: asyncio.AbstractEventLoop) -> dict[str, float]:
    # anyio tries a host's addresses "happy eyeballs" style, 250 ms apart; asyncio's own loop does the
    # same when asked (uvloop's create_connection has no such argument: addresses one after another)
    return {"happy_eyeballs_delay": 0.25} if isinstance(loop, asyncio.BaseEventLoop) else {}


def _with_options(transport: asyncio.Transport, protocol: _Protocol,
                  socket_options: typing.Iterable[typing.Any] | None) -> AsyncioStream:
    stream = AsyncioStream(transport, protocol)
    if socket_options:
        sock = transport.get_extra_info("socket")
        try:
            for option in socket_options:
                sock.setsockopt(*option)
        except OSError as exc:
            transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
    return stream


# ---------------------------------------------------------------- httpcore's per-connection locks


class _Lock:
    """An asyncio lock with the interface of httpcore's ``AsyncLock`` (``async with``), taken without
    yielding to the loop when free: what httpcore's anyio lock costs is the checkpoint it forces on
    every acquisition (a shielded cancel scope and a trip through the event loop)."""

    __slots__ = ("_locked", "_waiters")

    def __init__(self) -> None:
        self._locked = False
        self._waiters: collections.deque[asyncio.Future[None]] | None = None

    async def __aenter__(self) -> _Lock:
        if not self._locked and not self._waiters:
            self._locked = True
            return self
        if self._waiters is None:
            self._waiters = collections.deque()
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._release()  # ownership was handed over just as the waiter was cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # ownership passes to the waiter: _locked stays set
                return
        self._locked = False


try:
    from httpcore._synchronization import AsyncLock as _HttpcoreLock
except ImportError:  # pragma: no cover - another httpcore layout: fast_locks changes nothing
    _HttpcoreLock = None  # type: ignore[assignment,misc]


class _OwnedLock(_Lock):
    """The lock a connection takes around connecting: on release, the connection it has just set up
    gets asyncio locks too (httpcore creates the HTTP/1.1 connection under this lock)."""

    __slots__ = ("_owner",)

    def __init__(self, owner: object) -> None:
        super().__init__()
        self._owner = owner

    async def __aexit__(self, *exc: object) -> None:
        self._release()
        _adopt(self._owner)


def _fresh(lock: object) -> bool:
    # an httpcore AsyncLock nobody has taken yet: setup() not run, no backend lock to hand over
    return _HttpcoreLock is not None and type(lock) is _HttpcoreLock and getattr(lock, "_backend", None) == ""


def _adopt(connection: object) -> None:
    """Swap the untaken httpcore locks of ``connection`` and of the connection it wraps for asyncio ones."""
    for name in ("_request_lock", "_connect_lock"):
        if _fresh(getattr(connection, name, None)):
            setattr(connection, name, _OwnedLock(connection))
    inner = getattr(connection, "_connection", None)
    if inner is None:
        return
    if type(inner).__name__ == "AsyncHTTP11Connection":
        if _fresh(getattr(inner, "_state_lock", None)):
            inner._state_lock = _Lock()
    elif _fresh(getattr(inner, "_request_lock", None)):
        _adopt(inner)


def fast_locks(pool: object) -> bool:
    """Give the connections ``pool`` (an ``httpcore.AsyncConnectionPool``) creates asyncio locks.

    httpcore takes an anyio lock around every request on a connection (``AsyncHTTPConnection``'s
    request lock) and two around the HTTP/1.1 connection's state (on sending, and on closing the
    response); each acquisition of an anyio lock yields to the event loop inside a shielded cancel
    scope. The pool's ``create_connection`` is wrapped (an attribute of this pool object, nothing
    global): a new connection's request (or proxy connect) lock is replaced, and, when that lock is
    released after connecting, the HTTP/1.1 connection's state lock. Only locks nobody has taken yet
    are replaced. False, and nothing changed, when the pool does not have the expected shape."""
    create = getattr(pool, "create_connection", None)
    if _HttpcoreLock is None or not callable(create) or getattr(create, "_fast_locks", False):
        return False

    def create_connection(*args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        connection = create(*args, **kwargs)
        _adopt(connection)
        return connection

    create_connection._fast_locks = True  # type: ignore[attr-defined]
    pool.create_connection = create_connection  # type: ignore[attr-defined]

    close = getattr(pool, "_close_connections", None)
    if callable(close):
        # the pool closes the connections it dropped after every request and every response, inside a
        # shielded anyio cancel scope even when there are none: skip that when there are none
        async def close_connections(closing: list[typing.Any]) -> None:
            if closing:
                await close(closing)

        pool._close_connections = close_connections  # type: ignore[attr-defined]
    return True
