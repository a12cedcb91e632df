"""The enricher's lean HTTP/1.1 transport against real loopback servers, on asyncio and uvloop.

Keep-alive reuse, the forward proxy's absolute-form requests (one connection for every host), a kept
connection the server closed (replaced without an error), bodies that end early or are not read to the
end, large bodies, refused connections, timeouts, TLS direct and tunnelled through ``CONNECT``, and the
idle-connection caps.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import hashlib
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from services.enricher.fetcher import Fetcher
from services.enricher.h1_transport import H1Transport
from services.enricher.http_cache import HttpCache
from shared.config import Settings

from .test_fetcher_loopback import LOOPBACK_NETWORKS

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])

Answer = Callable[[int, bytes], tuple[list[bytes], bool]]  # (request number, head) -> (writes, close after)


def run(loop: str, scenario: Callable[[], Awaitable[None]]) -> None:
    if loop == "uvloop":
        uvloop.run(scenario())
    else:
        asyncio.run(scenario())


def page(n: int, head: bytes) -> tuple[list[bytes], bool]:
    body = b"page %d" % n
    return [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body], False


class Server:
    """A loopback HTTP/1.1 server: answers each request as ``answer`` says, records heads and connections."""

    def __init__(self, answer: Answer = page, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.ssl_context = ssl_context
        self.heads: list[bytes] = []
        self.connections = 0
        self.closed = 0
        self.closed_event = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.heads.append(head)
                writes, close = self.answer(len(self.heads), head)
                for data in writes:
                    writer.write(data)
                    await writer.drain()
                if close:
                    return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
            self.closed += 1
            self.closed_event.set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.ssl_context)
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def client(transport: H1Transport | None = None, **timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport or H1Transport(), timeout=httpx.Timeout(5.0, **timeout),
                             trust_env=False)


@pytest.mark.parametrize("loop", LOOPS)
def test_keep_alive_connections_are_reused(loop: str) -> None:
    async def scenario() -> None:
        server = Server()
        async with server as url, client() as c:
            for n in range(1, 4):
                r = await c.get(f"{url}/{n}")
                assert (r.status_code, r.content, r.http_version) == (200, b"page %d" % n, "HTTP/1.1")
            assert r.headers["content-type"] == "text/plain"
        assert server.connections == 1 and len(server.heads) == 3
        assert server.heads[0].startswith(b"GET /1 HTTP/1.1\r\n") and b"\r\nHost: 127.0.0.1:" in server.heads[0]

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_through_a_forward_proxy_every_host_shares_one_connection(loop: str) -> None:
    async def scenario() -> None:
        proxy = Server()
        async with proxy as proxy_url, client(H1Transport(proxy=proxy_url)) as c:
            for host in ("a.example", "b.example", "café.example"):
                r = await c.get(f"http://{host}/path?q=1")
                assert r.status_code == 200
        assert proxy.connections == 1
        assert [h.split(b"\r\n")[0] for h in proxy.heads] == [
            b"GET http://%s/path?q=1 HTTP/1.1" % h for h in (b"a.example", b"b.example", b"xn--caf-dma.example")]
        assert b"\r\nHost: b.example\r\n" in proxy.heads[1]

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_kept_connection_the_server_closed_is_replaced_without_an_error(loop: str) -> None:
    def close_after(n: int, head: bytes) -> tuple[list[bytes], bool]:
        return page(n, head)[0], True  # keep-alive announced, then closed

    async def scenario() -> None:
        server = Server(close_after)
        transport = H1Transport()
        async with server as url, client(transport) as c:
            assert (await c.get(f"{url}/a")).content == b"page 1"
            await server.closed_event.wait()
            assert (await c.get(f"{url}/b")).content == b"page 2"  # the closed one is not used
            # and when the close lands only after the request went out: sent again on a new connection
            server.closed_event.clear()
            for conn in transport._lru:
                conn.closed = False  # as if the FIN had not arrived yet
            assert (await c.get(f"{url}/c")).content == b"page 3"
        assert server.connections == 3

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_chunked_and_gzip_bodies_are_decoded_by_httpx(loop: str) -> None:
    text = b"<html>" + b"ol\xc3\xa1 mundo " * 500 + b"</html>"
    packed = gzip.compress(text)

    def chunked(n: int, head: bytes) -> tuple[list[bytes], bool]:
        parts = [packed[i:i + 700] for i in range(0, len(packed), 700)]
        body = [b"%x\r\n%s\r\n" % (len(p), p) for p in parts]
        return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n", *body,
                b"0\r\n\r\n"], False

    async def scenario() -> None:
        server = Server(chunked)
        async with server as url, client() as c:
            for _ in range(2):
                r = await c.get(f"{url}/")
                assert r.content == text
        assert server.connections == 1

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_body_cut_short_raises_and_a_body_left_unread_closes_its_connection(loop: str) -> None:
    def answers(n: int, head: bytes) -> tuple[list[bytes], bool]:
        if n == 1:
            return [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"], True
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b"x" * 200000], False

    async def scenario() -> None:
        server = Server(answers)
        async with server as url, client() as c:
            with pytest.raises(httpx.RemoteProtocolError):
                await c.get(f"{url}/short")
            async with c.stream("GET", f"{url}/big") as r:
                async for _chunk in r.aiter_raw():
                    break  # a body cap: stop reading
            assert (await c.get(f"{url}/after")).status_code == 200
        assert server.connections == 3  # neither the cut nor the unread connection was reused

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_large_bodies_stream_through_whole(loop: str) -> None:
    blob = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)  # 5 MiB: reading pauses and resumes

    def big(n: int, head: bytes) -> tuple[list[bytes], bool]:
        return [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(blob), blob], False

    async def scenario() -> None:
        server = Server(big)
        async with server as url, client() as c:
            for _ in range(2):
                digest, size = hashlib.sha256(), 0
                async with c.stream("GET", f"{url}/big") as r:
                    async for chunk in r.aiter_raw():
                        digest.update(chunk)
                        size += len(chunk)
                        await asyncio.sleep(0)  # a slow consumer: the buffer fills up
                assert size == len(blob) and digest.digest() == hashlib.sha256(blob).digest()
        assert server.connections == 1

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_refused_connections_and_silent_servers_raise_httpx_errors(loop: str) -> None:
    async def scenario() -> None:
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        async with client() as c:
            with pytest.raises(httpx.ConnectError):
                await c.get(f"http://127.0.0.1:{port}/")
        release = asyncio.Event()

        async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await release.wait()
            writer.close()

        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        try:
            async with client(read=0.05) as c:
                with pytest.raises(httpx.ReadTimeout):
                    await c.get(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/")
        finally:
            release.set()
            server.close()
            await server.wait_closed()

    run(loop, scenario)


def test_malformed_answers_raise_protocol_errors() -> None:
    async def scenario() -> None:
        server = Server(lambda n, head: ([b"ICY 200 OK\r\n\r\n"], False))
        async with server as url, client() as c:
            with pytest.raises(httpx.RemoteProtocolError, match="status line"):
                await c.get(f"{url}/")

    run("asyncio", scenario)


def test_idle_connections_are_capped_per_origin_and_in_total_oldest_closed_first() -> None:
    async def scenario() -> None:
        servers = [Server(), Server(), Server()]
        transport = H1Transport(max_idle_per_origin=2, max_idle=3)
        async with contextlib.AsyncExitStack() as stack:
            urls = [await stack.enter_async_context(s) for s in servers]
            c = await stack.enter_async_context(client(transport))
            await asyncio.gather(*(c.get(f"{urls[0]}/{i}") for i in range(3)))  # 3 at once: 3 connections
            assert servers[0].connections == 3 and transport.idle_connections == 2  # one over the per-origin cap
            await c.get(f"{urls[1]}/")
            await c.get(f"{urls[2]}/")
            assert transport.idle_connections == 3  # the total cap: the oldest of the first origin went
            while servers[0].closed < 2:  # the per-origin cap's and the total cap's closes reach the server
                servers[0].closed_event.clear()
                await servers[0].closed_event.wait()
            assert servers[0].closed == 2 and servers[1].closed == servers[2].closed == 0
        assert transport.idle_connections == 0

    run("asyncio", scenario)


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
def test_https_direct_and_an_untrusted_certificate(loop: str, tmp_path: Path) -> None:
    server_ctx, client_ctx = _tls_contexts(tmp_path)

    async def scenario() -> None:
        server = Server(ssl_context=server_ctx)
        async with server:
            async with client(H1Transport(ssl_context=client_ctx)) as c:
                for n in (1, 2):
                    assert (await c.get(f"https://localhost:{server.port}/{n}")).content == b"page %d" % n
            assert server.connections == 1
            async with client(H1Transport(ssl_context=ssl.create_default_context())) as c:
                with pytest.raises(httpx.ConnectError):
                    await c.get(f"https://localhost:{server.port}/")

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
def test_https_tunnelled_through_an_http_proxy_and_a_refused_tunnel(loop: str, tmp_path: Path) -> None:
    server_ctx, client_ctx = _tls_contexts(tmp_path)

    async def scenario() -> None:
        server = Server(ssl_context=server_ctx)
        tunnels: list[bytes] = []

        async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ")[1]
            tunnels.append(target)
            if target.startswith(b"forbidden"):
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                writer.close()
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        async with server:
            port = server.port
            prx = await asyncio.start_server(proxy, "127.0.0.1", 0)
            proxy_url = f"http://127.0.0.1:{prx.sockets[0].getsockname()[1]}"
            try:
                async with client(H1Transport(proxy=proxy_url, ssl_context=client_ctx)) as c:
                    for n in (1, 2):
                        r = await c.get(f"https://localhost:{server.port}/{n}")
                        assert r.content == b"page %d" % n
                    with pytest.raises(httpx.ProxyError, match="403"):
                        await c.get("https://forbidden.example/")
            finally:
                prx.close()
                await prx.wait_closed()
        assert tunnels == [b"localhost:%d" % port, b"forbidden.example:443"]
        assert server.connections == 1 and len(server.heads) == 2

    run(loop, scenario)


def test_the_fetcher_sends_no_cookie_back_yet_reports_each_responses_cookies() -> None:
    def cookies(n: int, head: bytes) -> tuple[list[bytes], bool]:
        return [b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: _shopify_y=abc%d; Path=/; HttpOnly\r\n"
                b"Set-Cookie: PHPSESSID=s1\r\nContent-Length: 4\r\n\r\nhome" % n], False

    async def scenario() -> None:
        server = Server(cookies)
        settings = Settings(FETCH_RETRIES=0, FETCH_ALLOW_NETWORKS=LOOPBACK_NETWORKS)
        async with server as url, Fetcher(settings, cache=HttpCache(0)) as fetcher:
            first = await fetcher.fetch(f"{url}/", check_robots=False)
            again = await fetcher.fetch(f"{url}/", check_robots=False)
        assert first.cookies == {"_shopify_y": "abc1", "PHPSESSID": "s1"}
        assert again.cookies == {"_shopify_y": "abc2", "PHPSESSID": "s1"}
        assert all(b"\r\ncookie:" not in h.lower() for h in server.heads)
        assert server.connections == 1

    run("asyncio", scenario)


def test_a_request_body_is_sent_after_its_head() -> None:
    async def scenario() -> None:
        bodies: list[bytes] = []

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                bodies.append(await reader.readexactly(length))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(bodies[-1]), bodies[-1]))
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            async with client() as c:
                assert (await c.post(f"{url}/search", json={"q": "acme"})).content == b'{"q":"acme"}'
                assert (await c.get(f"{url}/after")).content == b""  # the same connection, in step
        finally:
            server.close()
            await server.wait_closed()
        assert bodies == [b'{"q":"acme"}', b""]

    run("asyncio", scenario)


def test_the_fetcher_reads_every_kind_of_response_as_through_httpxs_own_transport() -> None:
    """The fetcher reads the crawling transport's replies itself (no httpx request/response objects): the
    same status, headers, cookies, body and truncation as with httpx's own transport (httpcore), on plain,
    chunked and gzip bodies, bodies past the size cap (raw and once decoded, a decompression bomb cut at it),
    repeated headers, non-ASCII header values, redirects and errors; and the same requests sent. Bodies are
    decoded by the fetcher's capped decoder over either transport, which (unlike httpx's decoders, see
    test_h1_parser) refuses stacked encodings: ``gzip, deflate`` is an error over both."""
    import zlib

    text = b"<html>" + b"ol\xc3\xa1 mundo " * 400 + b"</html>"
    packed = gzip.compress(text)
    twice = zlib.compress(packed)
    big = b"x" * 9000
    bomb = gzip.compress(b"\0" * 20_000_000)

    def respond(head: bytes) -> bytes:
        path = head.split(b" ")[1]
        ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        if path == b"/plain":
            return ok + b"Content-Length: %d\r\n\r\n%s" % (len(text), text)
        if path == b"/gzip":
            return ok + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(packed), packed)
        if path == b"/twice":
            return ok + b"Content-Encoding: gzip\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n%s" % (
                len(twice), twice)
        if path == b"/chunked":
            return ok + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(
                b"%x\r\n%s\r\n" % (len(p), p) for p in (text[:1000], text[1000:])) + b"0\r\n\r\n"
        if path == b"/big":
            return ok + b"Content-Length: %d\r\n\r\n%s" % (len(big), big)
        if path == b"/big-gzip":
            body = gzip.compress(big)
            return ok + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        if path == b"/bomb":
            return ok + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(bomb), bomb)
        if path == b"/headers":
            return (b"HTTP/1.1 200 OK\r\nX-Tag: a\r\nx-tag: b\r\nX-Name: Jos\xc3\xa9\r\nSet-Cookie: a=1; Path=/\r\n"
                    b"Set-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok")
        if path == b"/latin":
            return b"HTTP/1.1 200 OK\r\nX-Name: Jos\xe9\r\nContent-Length: 2\r\n\r\nok"
        if path == b"/moved":
            return b"HTTP/1.1 301 Moved\r\nLocation: /plain\r\nContent-Length: 0\r\n\r\n"
        if path == b"/bad-gzip":
            return ok + b"Content-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!"
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope"

    def answer(n: int, head: bytes) -> tuple[list[bytes], bool]:
        return [respond(head)], False

    paths = ["/plain", "/gzip", "/twice", "/chunked", "/big", "/big-gzip", "/bomb", "/headers", "/latin", "/moved",
             "/bad-gzip", "/missing"]

    async def read_all(transport: httpx.AsyncBaseTransport) -> list[tuple[object, ...]]:
        settings = Settings(FETCH_RETRIES=0, FETCH_MAX_BYTES=5000, FETCH_ALLOW_NETWORKS=LOOPBACK_NETWORKS)
        server = Server(answer)
        async with server as url, Fetcher(settings, cache=HttpCache(0), transport=transport) as fetcher:
            results = [await fetcher.fetch(f"{url}{path}", check_robots=False) for path in paths]
            port = server.port
        sent = [head.replace(b":%d" % port, b":PORT") for head in server.heads]
        return [(r.status, r.headers, r.cookies, r.body, r.truncated, r.error and r.error.split(":")[0],
                 r.final_url.rsplit("/", 1)[1]) for r in results] + sent

    async def scenario() -> None:
        own = await read_all(H1Transport())
        reference = await read_all(httpx.AsyncHTTPTransport())
        assert own == reference
        by_path = dict(zip(paths, own[: len(paths)], strict=True))
        assert own[len(paths)].startswith(b"GET /plain HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\nUser-Agent: ")
        assert by_path["/gzip"][3] == by_path["/chunked"][3] == text[:5000]
        assert by_path["/twice"][3] == b"" and by_path["/twice"][5] == "http"  # stacked encodings: refused
        assert by_path["/big"][4] and by_path["/big-gzip"][4] and len(by_path["/big"][3]) == 5000
        assert by_path["/bomb"][4] and by_path["/bomb"][3] == b"\0" * 5000
        assert by_path["/headers"][1]["x-tag"] == "a, b" and by_path["/headers"][1]["x-name"] == "José"
        assert by_path["/headers"][2] == {"a": "1", "b": "2"} and by_path["/latin"][1]["x-name"] == "José"
        assert by_path["/moved"][6] == "plain" and by_path["/bad-gzip"][5] == "http"

    run("asyncio", scenario)


def test_the_direct_get_speaks_tls_directly_and_through_a_tunnel(tmp_path: Path) -> None:
    server_ctx, client_ctx = _tls_contexts(tmp_path)
    timeouts = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": None}

    async def scenario() -> None:
        server = Server(ssl_context=server_ctx)

        async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        async with server:
            port = server.port
            direct = H1Transport(ssl_context=client_ctx)
            reply = await direct.get(f"https://localhost:{server.port}/1", [], timeouts=timeouts, max_bytes=100)
            assert (reply.status, reply.body, reply.truncated) == (200, b"page 1", False)
            with pytest.raises(httpx.ConnectError):
                await H1Transport().get(f"https://localhost:{server.port}/", [], timeouts=timeouts, max_bytes=100)
            prx = await asyncio.start_server(proxy, "127.0.0.1", 0)
            tunnelled = H1Transport(proxy=f"http://127.0.0.1:{prx.sockets[0].getsockname()[1]}",
                                    ssl_context=client_ctx)
            try:
                reply = await tunnelled.get(f"https://localhost:{server.port}/2", [], timeouts=timeouts,
                                            max_bytes=4)
                assert (reply.status, reply.body, reply.truncated) == (200, b"page", True)
            finally:
                await direct.aclose()
                await tunnelled.aclose()
                prx.close()
                await prx.wait_closed()
            assert [h.split(b"\r\n")[:2] for h in server.heads] == [
                [b"GET /1 HTTP/1.1", b"Host: localhost:%d" % port], [b"GET /2 HTTP/1.1", b"Host: localhost:%d" % port]]

    run("asyncio", scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_names_are_resolved_once_and_names_that_do_not_resolve_are_remembered(loop: str) -> None:
    def close_after(n: int, head: bytes) -> tuple[list[bytes], bool]:
        return page(n, head)[0], True  # a new connection for every request

    async def scenario() -> None:
        server = Server(close_after)
        transport = H1Transport()
        async with server, client(transport) as c:
            port = server.port
            pages = await asyncio.gather(*(c.get(f"http://localhost:{port}/{n}") for n in range(3)))
            pages.append(await c.get(f"http://localhost:{port}/again"))
            assert [r.status_code for r in pages] == [200] * 4 and server.connections == 4
            assert transport.dns_lookups == 1  # the three at once shared one lookup, the fourth the answer
            for _ in range(2):
                with pytest.raises(httpx.ConnectError, match="gaierror"):
                    await c.get("http://no-such-host.invalid/")
            assert transport.dns_lookups == 2
            assert (await c.get(f"http://127.0.0.1:{port}/ip")).status_code == 200  # an address: no lookup
            assert transport.dns_lookups == 2

    run(loop, scenario)
