"""The demo web farm: one loopback HTTP/1.1 server that plays the whole web.

Clients use it as an HTTP proxy (``proxy="http://127.0.0.1:PORT"``): a request
``GET http://acme.com.br/contato`` is answered from the site spec of
``acme.com.br``; an unknown host gets ``502 Bad Gateway`` as from a proxy that
failed DNS. Requests addressed to the farm itself serve its own endpoints: a
Serper-compatible search API (``POST /serper/search``), ``GET /__farm/sites``,
``GET /__farm/stats`` and ``GET /health``.

Latency is ``asyncio.sleep`` per request, so thousands of connections wait
concurrently. Pages are rendered deterministically from the specs.

Run as a process: ``python -m hunter.demo.webfarm --port 0 [--latency-ms 200] [--bench-sites N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from hunter.demo.sample_data import DATA_DIR, generate_bench_sites, normalize_query
from hunter.demo.site_pages import SiteResponse, redirect_response, render_site_response
from shared.fd_limit import raise_fd_limit

_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024
_CACHE_SIZE = 4096


def load_sites() -> list[dict]:
    return json.loads((DATA_DIR / "sites.json").read_text(encoding="utf-8"))


def load_search_index() -> dict[str, dict]:
    return json.loads((DATA_DIR / "search_index.json").read_text(encoding="utf-8"))


class _BadRequest(Exception):
    pass


class WebFarm:
    """A loopback HTTP proxy-and-origin serving the demo sites and a search API."""

    def __init__(
        self,
        sites: list[dict] | None = None,
        search_index: dict | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
        slow_seconds: float = 3.0,
    ) -> None:
        self.sites = load_sites() if sites is None else sites
        self.search_index = load_search_index() if search_index is None else search_index
        self.host = host
        self._requested_port = port
        self.latency_ms = latency_ms
        self.slow_seconds = slow_seconds
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._cache: OrderedDict[tuple[str, str], SiteResponse] = OrderedDict()  # LRU of pages made on demand
        self._prerendered: dict[tuple[str, str], SiteResponse] = {}
        # host -> (spec, redirect target host or None)
        self._routes: dict[str, tuple[dict, str | None]] = {}
        for spec in self.sites:
            self._add_routes(spec)
        self._search_keys = sorted(self.search_index, key=len, reverse=True)
        self.reset_stats()

    # ------------------------------------------------------------------ routes

    def _add_routes(self, spec: dict) -> None:
        if spec.get("behaviour") == "not_found":
            return
        domain = spec["domain"]
        aliases = [domain, f"www.{domain}"] if spec.get("www", True) else [domain]
        if spec.get("behaviour") == "redirect" and spec.get("redirect_to"):
            target = spec["redirect_to"]
            for alias in aliases:
                if alias != target:
                    self._routes[alias] = (spec, target)
            self._routes[target] = (spec, None)
            if not target.startswith("www."):
                self._routes[f"www.{target}"] = (spec, None)
        else:
            for alias in aliases:
                self._routes[alias] = (spec, None)

    @property
    def domains(self) -> list[str]:
        return sorted(self._routes)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        raise_fd_limit()
        self._server = await asyncio.start_server(
            self._handle, self.host, self._requested_port, backlog=8192, limit=_MAX_HEAD
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for w in list(self._writers):
            w.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)
        self._server = None

    async def __aenter__(self) -> WebFarm:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("WebFarm not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def proxy_url(self) -> str:
        return self.base_url

    @property
    def search_base_url(self) -> str:
        return f"{self.base_url}/serper"

    # ------------------------------------------------------------------ stats

    def reset_stats(self) -> None:
        self._hosts: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"requests": 0, "paths": defaultdict(int), "statuses": defaultdict(int)}
        )
        self._counters = {
            "requests": 0,
            "site_requests": 0,
            "search_requests": 0,
            "connections_total": 0,
            "connections_open": 0,
            "max_connections_open": 0,
            "in_flight": 0,
            "max_in_flight": 0,
        }

    def stats(self) -> dict[str, Any]:
        hosts = {
            h: {
                "requests": v["requests"],
                "paths": dict(v["paths"]),
                "statuses": {str(k): n for k, n in v["statuses"].items()},
            }
            for h, v in sorted(self._hosts.items())
        }
        return {**self._counters, "hosts": hosts}

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        c = self._counters
        c["connections_total"] += 1
        c["connections_open"] += 1
        c["max_connections_open"] = max(c["max_connections_open"], c["connections_open"])
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    break
                try:
                    method, target, version, headers = _parse_head(head)
                    body = await _read_body(reader, headers)
                except _BadRequest as e:
                    await _write(writer, _text(400, f"Bad Request: {e}\n"), head_only=False, keep_alive=False)
                    break
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                conn = headers.get("connection", "").lower()
                keep_alive = ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)
                c["requests"] += 1
                c["in_flight"] += 1
                c["max_in_flight"] = max(c["max_in_flight"], c["in_flight"])
                try:
                    resp, close = await self._dispatch(method, target, headers, body)
                finally:
                    c["in_flight"] -= 1
                keep_alive = keep_alive and not close
                try:
                    await _write(writer, resp, head_only=method == "HEAD", keep_alive=keep_alive)
                except ConnectionError:
                    break
                if not keep_alive:
                    break
        finally:
            c["connections_open"] -= 1
            self._writers.discard(writer)
            writer.close()

    async def _dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[SiteResponse, bool]:
        if method == "CONNECT":
            resp = _text(405, "CONNECT is not supported: the demo farm serves plain http only.\n")
            return SiteResponse(405, [*resp.headers, ("Allow", "GET, HEAD, POST")], resp.body), True
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            host = (parts.hostname or "").lower()
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            if self._is_self(host, parts.port):
                return await self._farm_endpoint(method, path, headers, body), False
            return await self._serve_site(method, host, path), False
        if not target.startswith("/"):
            raise_target = _text(400, "Bad Request: unsupported request target\n")
            return raise_target, True
        host_header = headers.get("host", "")
        host, _, port = host_header.rpartition(":") if ":" in host_header else (host_header, "", "")
        host = host.lower().strip("[]")
        if not host or self._is_self(host, int(port) if port.isdigit() else None):
            return await self._farm_endpoint(method, target, headers, body), False
        return await self._serve_site(method, host, target), False

    def _is_self(self, host: str, port: int | None) -> bool:
        return host in (self.host, "127.0.0.1", "localhost", "::1") and port in (None, self._port)

    async def _serve_site(self, method: str, host: str, path: str) -> SiteResponse:
        c = self._counters
        c["site_requests"] += 1
        stats = self._hosts[host]
        stats["requests"] += 1
        stats["paths"][path.split("?", 1)[0]] += 1
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)
        route = self._routes.get(host)
        if route is None:
            resp = _text(502, f"502 Bad Gateway: could not resolve host {host}\n")
        elif method not in ("GET", "HEAD"):
            resp = _text(405, "Method Not Allowed\n")
        else:
            spec, redirect_to = route
            if spec.get("behaviour") == "slow":
                await asyncio.sleep(self.slow_seconds)
            if redirect_to is not None:
                resp = redirect_response(f"http://{redirect_to}{path}")
            else:
                resp = self._render(spec, host, path)
        stats["statuses"][resp.status] += 1
        return resp

    def _render(self, spec: dict, host: str, path: str) -> SiteResponse:
        key = (spec["domain"], path)
        cached = self._prerendered.get(key)
        if cached is not None:
            return cached
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        resp = render_site_response(spec, path, host=host)
        self._cache[key] = resp
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return resp

    def prerender(self, specs: list[dict], paths: tuple[str, ...] = ("/robots.txt", "/")) -> int:
        """Render ``paths`` of ``specs`` now and keep them for good: a benchmark's farm then spends its CPU
        on answering, not on making pages while the enrichers it measures need the CPU. Returns how many."""
        for spec in specs:
            route = self._routes.get(spec["domain"])
            if route is None or route[1] is not None:  # unknown, not served, or a redirect
                continue
            for path in paths:
                self._prerendered[(spec["domain"], path)] = render_site_response(spec, path, host=spec["domain"])
        return len(self._prerendered)

    async def _farm_endpoint(self, method: str, target: str, headers: dict[str, str], body: bytes) -> SiteResponse:
        path = target.split("?", 1)[0].rstrip("/") or "/"
        if path == "/health" and method in ("GET", "HEAD"):
            return _json(200, {"status": "ok", "sites": len(self.sites)})
        if path == "/__farm/sites" and method in ("GET", "HEAD"):
            return _json(
                200,
                [
                    {
                        "domain": s["domain"],
                        "role": s.get("role", "company"),
                        "cnpj": s.get("cnpj"),
                        "discovery": s.get("discovery"),
                        "behaviour": s.get("behaviour"),
                        "template": s.get("template"),
                        "technologies": s.get("technologies", []),
                        "served": s.get("behaviour") != "not_found",
                    }
                    for s in self.sites
                ],
            )
        if path == "/__farm/stats":
            if method == "POST" or target.endswith("reset=1"):
                self.reset_stats()
            return _json(200, self.stats())
        if path in ("/serper/search", "/serper"):
            if method != "POST":
                return _json(405, {"message": "Use POST."})
            return self._search(headers, body)
        return _json(404, {"message": f"no such endpoint: {path}"})

    def _search(self, headers: dict[str, str], body: bytes) -> SiteResponse:
        self._counters["search_requests"] += 1
        if not headers.get("x-api-key", "").strip():
            return _json(401, {"message": "Unauthorized.", "statusCode": 401})
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return _json(400, {"message": "Invalid JSON body.", "statusCode": 400})
        if isinstance(payload, list):  # Serper accepts a batch; answer the first query
            payload = payload[0] if payload else {}
        query = str(payload.get("q", "")).strip()
        if not query:
            return _json(400, {"message": "Missing query 'q'.", "statusCode": 400})
        num = int(payload.get("num", 10) or 10)
        entry = self.find_search_entry(query)
        organic = []
        if entry is not None:
            for pos, result in enumerate(entry["results"][:num], start=1):
                organic.append({**result, "position": pos})
        params = {
            "q": query,
            "gl": payload.get("gl", "br"),
            "hl": payload.get("hl", "pt-br"),
            "num": num,
            "type": "search",
            "engine": "google",
        }
        return _json(200, {"searchParameters": params, "organic": organic, "credits": 1})

    def find_search_entry(self, query: str) -> dict | None:
        """Forgiving match: the normalised query contains a company name (longest wins)."""
        nq = f" {normalize_query(query)} "
        if not nq.strip():
            return None
        for key in self._search_keys:
            if key and f" {key} " in nq:
                return self.search_index[key]
        return None


# ---------------------------------------------------------------------- HTTP helpers


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as e:  # pragma: no cover - latin-1 decodes every byte
        raise _BadRequest("undecodable head") from e
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest("malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest("malformed header")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return method.upper(), target, version, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as e:
                raise _BadRequest("bad chunk size") from e
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(chunks)
            total += size
            if total > _MAX_BODY:
                raise _BadRequest("body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = headers.get("content-length")
    if not length:
        return b""
    if not length.isdigit() or int(length) > _MAX_BODY:
        raise _BadRequest("bad content-length")
    return await reader.readexactly(int(length))


async def _write(writer: asyncio.StreamWriter, resp: SiteResponse, *, head_only: bool, keep_alive: bool) -> None:
    try:
        reason = HTTPStatus(resp.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {resp.status} {reason}"]
    lines += [f"{k}: {v}" for k, v in resp.headers if k.lower() not in ("content-length", "connection")]
    lines.append(f"Content-Length: {len(resp.body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    writer.write(data if head_only else data + resp.body)
    await writer.drain()


def _text(status: int, text: str) -> SiteResponse:
    return SiteResponse(status, [("Content-Type", "text/plain; charset=utf-8")], text.encode())


def _json(status: int, obj: Any) -> SiteResponse:
    return SiteResponse(status, [("Content-Type", "application/json")], json.dumps(obj, ensure_ascii=False).encode())


@contextlib.asynccontextmanager
async def run_webfarm(**kw: Any) -> AsyncIterator[WebFarm]:
    """`async with run_webfarm(latency_ms=50) as farm: ...`"""
    farm = WebFarm(**kw)
    await farm.start()
    try:
        yield farm
    finally:
        await farm.stop()


# ---------------------------------------------------------------------- process


async def _serve(args: argparse.Namespace) -> None:
    sites = load_sites()
    bench = generate_bench_sites(args.bench_sites, page_kb=args.bench_page_kb) if args.bench_sites else []
    farm = WebFarm(
        sites=sites + bench, host=args.host, port=args.port, latency_ms=args.latency_ms,
        slow_seconds=args.slow_seconds,
    )
    # every page an enricher asks of a benchmark site (robots.txt, the homepage, the two contact pages it
    # links to): the farm stands for servers elsewhere, so it should not render pages while it is timed
    farm.prerender(bench, paths=("/robots.txt", "/", "/contato", "/sobre"))
    await farm.start()
    print(f"WEBFARM proxy={farm.proxy_url} search={farm.search_base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await farm.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve Hunter's demo web farm (HTTP proxy + search API).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    parser.add_argument("--bench-sites", type=int, default=0)
    parser.add_argument("--bench-page-kb", type=int, default=20)
    args = parser.parse_args(argv)
    try:  # uvloop (it comes with uvicorn[standard]): the farm takes less of the CPU the enrichers it serves need
        import uvloop
    except ImportError:
        asyncio.run(_serve(args))
    else:
        uvloop.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
