"""The enricher's asyncio network backend for httpcore, against real loopback servers.

Every scenario runs on asyncio's own loop and on uvloop (the services' loop): keep-alive reuse, a
connection the server closes while idle, refused connections, read and write timeouts, large bodies
read in bounded chunks, TLS through ``start_tls``, and the asyncio locks given to a pool's connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpcore
import httpx
import pytest

from services.enricher.asyncio_backend import AsyncioBackend, AsyncioStream, _Lock, fast_locks
from services.enricher.proxy_transport import _http_transport

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])
TIMEOUTS = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}


def run(loop: str, scenario: Callable[[], Awaitable[None]]) -> None:
    if loop == "uvloop":
        uvloop.run(scenario())
    else:
        asyncio.run(scenario())


class Server:
    """A loopback HTTP/1.1 server counting the connections it accepted and the requests it answered."""

    def __init__(self, body: Callable[[int], bytes] = lambda n: b"page %d" % n, *, close_after: bool = False) -> None:
        self.body = body
        self.close_after = close_after
        self.connections = 0
        self.requests = 0
        self.closed = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests += 1
                body = self.body(self.requests)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body))
                writer.write(body)
                await writer.drain()
                if self.close_after:
                    return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.closed.set()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def client() -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=4)
    return httpx.AsyncClient(transport=_http_transport(limits=limits, trust_env=False), timeout=5.0, trust_env=False)


@pytest.mark.parametrize("loop", LOOPS)
def test_transport_runs_on_the_asyncio_backend_and_reuses_keep_alive_connections(loop: str) -> None:
    async def scenario() -> None:
        server = Server()
        async with server as url, client() as c:
            for n in range(1, 4):
                r = await c.get(f"{url}/{n}")
                assert r.status_code == 200 and r.content == b"page %d" % n
            async with c.stream("GET", f"{url}/x") as r:
                assert isinstance(r.extensions["network_stream"], AsyncioStream)
                await r.aread()
        assert server.connections == 1 and server.requests == 4

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_connection_the_server_closed_while_idle_reads_as_readable_and_is_replaced(loop: str) -> None:
    async def scenario() -> None:
        server = Server(close_after=True)
        async with server as url, client() as c:
            async with c.stream("GET", f"{url}/a") as r:
                stream = r.extensions["network_stream"]
                assert await r.aread() == b"page 1"
            await server.closed.wait()  # on loopback the FIN is in the client's socket once the server has closed
            assert stream.get_extra_info("is_readable") is True
            r = await c.get(f"{url}/b")
            assert r.content == b"page 2"
        assert server.connections == 2

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_stream_reads_writes_and_reports_its_addresses(loop: str) -> None:
    async def scenario() -> None:
        server = Server(body=lambda n: b"x" * 100_000)
        async with server as url:
            port = int(url.rsplit(":", 1)[1])
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
            try:
                assert stream.get_extra_info("is_readable") is False  # connected, nothing sent yet
                assert stream.get_extra_info("ssl_object") is None
                assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
                client_addr = stream.get_extra_info("client_addr")
                assert client_addr[0] == "127.0.0.1"
                sock = stream.get_extra_info("socket")
                assert sock.fileno() >= 0 and sock.getsockname() == client_addr
                await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5.0)
                received = b""
                while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < 100_000:
                    chunk = await stream.read(1000, timeout=5.0)  # never more than asked for
                    assert 0 < len(chunk) <= 1000
                    received += chunk
                head, _, body = received.partition(b"\r\n\r\n")
                assert b"Content-Length: 100000" in head and body == b"x" * 100_000
            finally:
                await stream.aclose()
            with pytest.raises(httpcore.ReadError):
                await stream.read(10)
            with pytest.raises(httpcore.WriteError):
                await stream.write(b"late")
            assert stream.get_extra_info("is_readable") is True

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_large_bodies_stream_through_whole(loop: str) -> None:
    blob = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)  # 5 MiB: reading pauses and resumes

    async def scenario() -> None:
        server = Server(body=lambda n: blob)
        async with server as url, client() as c:
            for _ in range(2):
                digest = hashlib.sha256()
                size = 0
                async with c.stream("GET", f"{url}/big") as r:
                    async for chunk in r.aiter_raw():
                        digest.update(chunk)
                        size += len(chunk)
                        await asyncio.sleep(0)  # a slow consumer: the protocol's buffer fills up
                assert size == len(blob) and digest.digest() == hashlib.sha256(blob).digest()
        assert server.connections == 1

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_refused_connections_raise_connect_error(loop: str) -> None:
    async def scenario() -> None:
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(httpcore.ConnectError):
            await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
        async with client() as c:
            with pytest.raises(httpx.ConnectError):
                await c.get(f"http://127.0.0.1:{port}/")

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_server_that_does_not_answer_raises_read_timeout(loop: str) -> None:
    async def scenario() -> None:
        accepted = asyncio.Event()
        release = asyncio.Event()

        async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.set()
            await release.wait()
            writer.close()

        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
            with pytest.raises(httpcore.ReadTimeout):
                await stream.read(100, timeout=0.05)
            await stream.aclose()
            async with client() as c:
                with pytest.raises(httpx.ReadTimeout):
                    await c.get(f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(5.0, read=0.05))
        finally:
            release.set()
            server.close()
            await server.wait_closed()

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_peer_that_does_not_read_raises_write_timeout(loop: str) -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await release.wait()
            writer.close()

        server = await asyncio.start_server(deaf, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
            with pytest.raises(httpcore.WriteTimeout):
                for _ in range(1000):  # far more than the kernel's buffers hold
                    await stream.write(b"x" * 1024 * 1024, timeout=0.05)
            await stream.aclose()
        finally:
            release.set()
            server.close()
            await server.wait_closed()

    run(loop, scenario)


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _tls_contexts(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(the server's context with a self-signed certificate, a client's context trusting it)."""
    cert, key = _self_signed(tmp)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    return server_ctx, ssl.create_default_context(cafile=str(cert))


@pytest.mark.parametrize("loop", LOOPS)
def test_https_through_start_tls(loop: str, tmp_path: Path) -> None:
    server_ctx, client_ctx = _tls_contexts(tmp_path)

    async def scenario() -> None:
        server = Server()
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_ctx)
        port = srv.sockets[0].getsockname()[1]
        try:
            limits = httpx.Limits(max_keepalive_connections=2)
            async with httpx.AsyncClient(transport=_http_transport(limits=limits, verify=client_ctx, trust_env=False),
                                         timeout=5.0) as c:
                for n in (1, 2):
                    async with c.stream("GET", f"https://localhost:{port}/{n}") as r:
                        assert await r.aread() == b"page %d" % n
                        stream = r.extensions["network_stream"]
                        assert isinstance(stream, AsyncioStream)
                        assert stream.get_extra_info("ssl_object").version().startswith("TLS")
                        assert stream.get_extra_info("server_addr")[1] == port
            assert server.connections == 1 and server.requests == 2
            # a certificate the client does not trust fails the handshake as a connect error
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
            with pytest.raises(httpcore.ConnectError):
                await stream.start_tls(ssl.create_default_context(), server_hostname="localhost", timeout=5.0)
        finally:
            srv.close()
            await srv.wait_closed()

    run(loop, scenario)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.mark.parametrize("loop", LOOPS)
def test_https_tunnelled_through_an_http_proxy(loop: str, tmp_path: Path) -> None:
    server_ctx, client_ctx = _tls_contexts(tmp_path)

    async def scenario() -> None:
        server = Server()
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_ctx)
        port = srv.sockets[0].getsockname()[1]
        tunnels: list[bytes] = []

        async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            tunnels.append(head.split(b" ")[1])
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        prx = await asyncio.start_server(proxy, "127.0.0.1", 0)
        proxy_url = f"http://127.0.0.1:{prx.sockets[0].getsockname()[1]}"
        try:
            transport = _http_transport(proxy=proxy_url, verify=client_ctx, trust_env=False)
            async with httpx.AsyncClient(transport=transport, timeout=5.0) as c:
                for n in (1, 2):
                    r = await c.get(f"https://localhost:{port}/{n}")
                    assert r.content == b"page %d" % n
                (connection,) = transport._pool.connections  # type: ignore[attr-defined]
                assert isinstance(connection._connect_lock, _Lock)
                assert isinstance(connection._connection._state_lock, _Lock)
            assert tunnels == [b"localhost:%d" % port]
            assert server.connections == 1 and server.requests == 2
        finally:
            for s in (prx, srv):
                s.close()
                await s.wait_closed()

    run(loop, scenario)


def test_pools_get_asyncio_locks_on_their_connections() -> None:
    async def scenario() -> None:
        server = Server()
        async with server as url, client() as c:
            await asyncio.gather(*(c.get(f"{url}/{n}") for n in range(8)))
            pool = c._transport._pool  # type: ignore[attr-defined]
            assert pool.connections
            for connection in pool.connections:
                assert isinstance(connection._request_lock, _Lock)
                assert isinstance(connection._connection._state_lock, _Lock)
            assert fast_locks(pool) is False  # once only
        assert server.requests == 8

    run("asyncio", scenario)


def test_lock_hands_over_in_order_and_survives_cancelled_waiters() -> None:
    async def scenario() -> None:
        lock = _Lock()
        order: list[str] = []
        gate = asyncio.Event()

        async def hold(name: str) -> None:
            async with lock:
                order.append(name)
                await gate.wait()

        first = asyncio.create_task(hold("a"))
        await asyncio.sleep(0)
        waiters = [asyncio.create_task(hold(n)) for n in ("b", "c", "d")]
        await asyncio.sleep(0)
        waiters[1].cancel()  # "c" gives up while queued
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, waiters[0], waiters[2])
        assert waiters[1].cancelled()
        assert order == ["a", "b", "d"]
        async with lock:  # free again
            pass

    run("asyncio", scenario)
