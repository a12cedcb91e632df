"""A web farm of hostile sites behind one loopback HTTP proxy, for the fault-injection suite.

The enricher reaches every site through it (``HUNTER_HTTP_PROXY``). A site's host name says how it
behaves: ``<kind><n>.com.br``, where kind is one of :data:`KINDS`. It runs on its own thread and event
loop, so that a test blocking its own loop (killing and spawning processes) never stalls the sites.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import socket
import struct
import threading
from collections import Counter
from urllib.parse import urlsplit

KINDS = {
    "ok": "a small page with an e-mail and a phone",
    "okslow": "the same page, 0.3 s late (keeps the enrich stage busy long enough to kill in it)",
    "reset": "the connection reset (TCP RST) once the request is read",
    "timeout": "the request read, never an answer",
    "err": "500, 502 and 503 in turn",
    "slow": "a 100 kB body trickled a byte every 0.2 s",
    "loop": "a redirect to the other of two pages of the site, for ever",
    "bomb": "a gzip bomb (16 MB of zeros in 16 kB), and 'gzip, gzip' stacked on every other answer",
}
_HOST = re.compile(r"^(?:www\.)?([a-z]+)(\d+)\.com\.br$")


def site_host(kind: str, n: int) -> str:
    assert kind in KINDS, kind
    return f"{kind}{n}.com.br"


def _response(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    reason = {200: "OK", 302: "Found", 404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway",
              503: "Service Unavailable"}.get(status, "Status")
    head = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _page(host: str) -> bytes:
    n = _HOST.match(host)
    digits = f"{int(n.group(2)):04d}" if n else "0000"
    return (f"<html><head><title>{host}</title></head><body><h1>{host}</h1>"
            f"<p>Fale conosco: contato@{host} ou (11) 3{digits}-{digits}</p></body></html>").encode()


class HostileFarm:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()  # kind -> requests served
        self._bomb = gzip.compress(b"\0" * (16 << 20), compresslevel=9)
        self._stacked = gzip.compress(gzip.compress(b"<html>" + b"\0" * (4 << 20), compresslevel=9), compresslevel=9)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hostile-farm", daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def proxy_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def __enter__(self) -> HostileFarm:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode("latin-1")
                parts = urlsplit(target)
                host = (parts.hostname or "").lower()
                match = _HOST.match(host)
                kind = match.group(1) if match and match.group(1) in KINDS else "unknown"
                self.requests[kind] += 1
                if not await self._serve(kind, host, parts.path or "/", reader, writer):
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    async def _serve(self, kind: str, host: str, path: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is done with."""
        html = [("Content-Type", "text/html; charset=utf-8")]
        if kind == "unknown":
            writer.write(_response(502, [], b"unknown host"))
        elif path == "/robots.txt" and kind in ("ok", "okslow"):
            writer.write(_response(404, [], b""))
        elif kind in ("ok", "okslow"):
            if kind == "okslow":
                await asyncio.sleep(0.3)
            writer.write(_response(200, html, _page(host)))
        elif kind == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        elif kind == "timeout":
            await reader.read()  # until the client gives up and closes
            return False
        elif kind == "err":
            status = (500, 502, 503)[self.requests[kind] % 3]
            writer.write(_response(status, html, b"<html>down</html>"))
        elif kind == "slow":
            body = b"<html>" + b"a" * 100_000
            writer.write(_response(200, html, b"")[:-len("0\r\n\r\n")] + f"{len(body)}\r\n\r\n".encode())
            for i in range(len(body)):
                writer.write(body[i:i + 1])
                await writer.drain()
                await asyncio.sleep(0.2)
        elif kind == "loop":
            other = "/b" if path == "/a" else "/a"
            writer.write(_response(302, [("Location", f"http://{host}{other}")], b""))
        elif kind == "bomb":
            stacked = self.requests[kind] % 2 == 0
            encoding = "gzip, gzip" if stacked else "gzip"
            writer.write(_response(200, [*html, ("Content-Encoding", encoding)],
                                   self._stacked if stacked else self._bomb))
        await writer.drain()
        return True
