"""Real loopback HTTP servers for the enricher's integration tests (a tiny multi-site 'proxy')."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# the networks these servers listen on: fetching from them is an explicit opt-in (the SSRF guard refuses them)
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"

Route = Callable[["Handler"], tuple[int, dict[str, str], bytes]]


class Handler(BaseHTTPRequestHandler):
    server: LoopbackServer  # type: ignore[assignment]

    def log_message(self, *args: object) -> None:
        pass

    @property
    def target(self) -> tuple[str, str]:
        """(host, path): absolute-form targets (proxy requests) or the Host header."""
        if self.path.startswith(("http://", "https://")):
            p = urlsplit(self.path)
            return p.netloc.lower(), (p.path or "/") + (f"?{p.query}" if p.query else "")
        return (self.headers.get("Host") or "").lower(), self.path

    def _serve(self) -> None:
        host, path = self.target
        srv = self.server
        with srv.lock:
            srv.hits.append((host, path))
            srv.active[host] = srv.active.get(host, 0) + 1
            srv.max_active[host] = max(srv.max_active.get(host, 0), srv.active[host])
        try:
            bare = path.split("?")[0]
            route = srv.routes.get((host, bare)) or srv.routes.get((host, "*")) or srv.routes.get(("*", bare))
            route = route or srv.routes.get(("*", "*"))
            if route is None:
                status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
            elif callable(route):
                status, headers, body = route(self)
            else:
                status, headers, body = route
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        finally:
            with srv.lock:
                srv.active[host] -= 1

    do_GET = _serve
    do_HEAD = _serve

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        self.server.posts.append((self.path, dict(self.headers), json.loads(self.rfile.read(n) or b"{}")))
        self._serve()


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[tuple[str, str], object] = {}
        self.hits: list[tuple[str, str]] = []
        self.posts: list[tuple[str, dict, dict]] = []
        self.active: dict[str, int] = {}
        self.max_active: dict[str, int] = {}
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def html(body: str, status: int = 200, **headers: str) -> tuple[int, dict[str, str], bytes]:
    h = {"Content-Type": "text/html; charset=utf-8"}
    h.update({k.replace("_", "-"): v for k, v in headers.items()})
    return status, h, body.encode()
