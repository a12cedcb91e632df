"""Polite website fetching: limits, retries, robots.txt, circuit breaker, redirects, body cap, cache."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx

from shared.fd_limit import raise_fd_limit
from shared.schemas import ApiCall

from .addresses import BLOCKED, AddressPolicy, BlockedAddress
from .budgets import BudgetExceeded, RunBudgets
from .h1_transport import DECODED_ENCODINGS, H1Transport, content_decoder
from .http_cache import HttpCache
from .robots import RobotsCache, RobotsRules

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass
class FetchResult:
    url: str
    final_url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    cache_hit: bool = False
    error: str | None = None  # "robots", "circuit_open", "crawl_delay", "too_many_redirects", "connect: ...", ...
    api_calls: list[ApiCall] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def text(self) -> str:
        return decode_body(self.body, self.headers.get("content-type", ""))


def decode_body(body: bytes, content_type: str) -> str:
    """A response body as text, in the charset its Content-Type names (UTF-8 otherwise)."""
    charset = "utf-8"
    if "charset=" in content_type:
        charset = content_type.split("charset=")[-1].split(";")[0].strip().strip("\"'") or "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


class HostBreaker:
    """Per-host circuit breaker: after ``threshold`` consecutive failures, skip the host for ``cooldown`` s.
    At most ``max_hosts`` hosts are remembered (domain guessing fails on many names, once each): past it,
    the hosts furthest from opening are forgotten first, then the oldest."""

    def __init__(self, threshold: int = 5, cooldown: float = 300.0, *, max_hosts: int = 100_000) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_hosts = max(1, max_hosts)
        self._fails: dict[str, int] = {}
        self._open_until: dict[str, float] = {}

    @property
    def remembered(self) -> int:
        """Hosts with failures or an open circuit."""
        return len(self._fails | self._open_until)

    def is_open(self, host: str) -> bool:
        until = self._open_until.get(host)
        if until is None:
            return False
        if time.monotonic() >= until:  # half-open: let one attempt through
            del self._open_until[host]
            self._fails[host] = self.threshold - 1
            return False
        return True

    def success(self, host: str) -> None:
        self._fails.pop(host, None)

    def failure(self, host: str) -> None:
        n = self._fails.get(host, 0) + 1
        self._fails[host] = n
        if n >= self.threshold:
            self._open_until[host] = time.monotonic() + self.cooldown
        if len(self._fails) > self.max_hosts:
            self._forget()

    def _forget(self) -> None:
        now = time.monotonic()
        self._open_until = {h: t for h, t in self._open_until.items() if t > now}
        for fewest in range(1, self.threshold):
            if len(self._fails) <= self.max_hosts // 2:
                break
            self._fails = {h: n for h, n in self._fails.items() if n > fewest or h in self._open_until}
        while len(self._fails) > self.max_hosts // 2:
            del self._fails[next(iter(self._fails))]


class _RawResponse:
    __slots__ = ("status", "headers", "cookies", "body", "truncated")

    def __init__(self, status: int, headers: dict[str, str], cookies: dict[str, str], body: bytes,
                 truncated: bool) -> None:
        self.status, self.headers, self.cookies, self.body, self.truncated = status, headers, cookies, body, truncated


ACCEPT_ENCODING = ", ".join(DECODED_ENCODINGS)


# file descriptors kept for what is not a crawl connection (NATS, page worker pipes, cache logs, the vault)
FD_RESERVE = 128
MAX_IDLE_CONNECTIONS = 1024


def crawler_transport(proxy: str | None, concurrency: int = 200,
                      addresses: AddressPolicy | None = None) -> httpx.AsyncBaseTransport:
    """The crawling transport: :class:`~.h1_transport.H1Transport`, direct or through an ``http://`` proxy
    (one keep-alive pool for every host); httpx's own transport for other proxies (``socks5://``...).
    The open-file limit is raised first, and the idle connections kept are capped to fit in it beside
    ``concurrency`` requests in flight (a soft limit of 1024 with a thousand idle connections would fail
    new connections with "too many open files"). ``addresses`` guards the addresses connected to (the
    fetcher checks every URL's host too, which is all it can do through httpx's transport)."""
    tls = ssl.create_default_context()
    if proxy is None or proxy.startswith("http://"):
        return H1Transport(proxy=proxy, ssl_context=tls, max_idle=idle_connections(raise_fd_limit(), concurrency),
                           address_policy=addresses if addresses is not None else AddressPolicy())
    return httpx.AsyncHTTPTransport(proxy=proxy, verify=tls, trust_env=False)


def idle_connections(fd_limit: int | None, concurrency: int) -> int:
    """How many idle keep-alive connections to keep under the open-file limit ``fd_limit`` (None: none)."""
    if fd_limit is None:
        return MAX_IDLE_CONNECTIONS
    room = fd_limit - concurrency - FD_RESERVE
    if room < 16:
        log.warning("open-file limit %d leaves no room for %d requests in flight and kept connections: "
                    "raise it (ulimit -n) or lower FETCH_CONCURRENCY", fd_limit, concurrency)
    return max(1, min(MAX_IDLE_CONNECTIONS, room))


def response_cookies(set_cookies: list[str]) -> dict[str, str]:
    """name -> value of each ``Set-Cookie`` header (attributes dropped; the last of a name wins)."""
    out: dict[str, str] = {}
    for header in set_cookies:
        name, sep, value = header.split(";", 1)[0].partition("=")
        name = name.strip()
        if sep and name:
            out[name] = value.strip()
    return out


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class Fetcher:
    def __init__(
        self,
        settings: object,
        *,
        cache: HttpCache | None = None,
        budgets: RunBudgets | None = None,
        breaker: HostBreaker | None = None,
        backoff_base: float = 0.25,
        max_backoff: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        s = settings
        self.settings = s
        self.user_agent: str = getattr(s, "user_agent", "HunterBot/0.1")
        self.max_bytes: int = int(getattr(s, "fetch_max_bytes", 2_000_000))
        self.max_redirects: int = int(getattr(s, "fetch_max_redirects", 5))
        self.retries: int = int(getattr(s, "fetch_retries", 2))
        self.per_host: int = max(1, int(getattr(s, "fetch_per_host", 2)))
        self.cache = cache if cache is not None else HttpCache(float(getattr(s, "cache_ttl_hours", 0)) * 3600)
        self.budgets = budgets if budgets is not None else RunBudgets.from_settings(s)
        self.breaker = breaker if breaker is not None else HostBreaker()
        self.robots = RobotsCache()
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        # politeness beyond the per-host limit: a minimum spacing between a host's requests (the setting, or
        # the Crawl-delay of its cached robots.txt when longer); a request that would wait past ``max_crawl_delay``
        # is not made ("crawl_delay"): the enricher keeps what it has of the site
        self.host_interval = max(0.0, float(getattr(s, "fetch_host_interval_ms", 0) or 0) / 1000)
        self.max_crawl_delay = float(getattr(s, "fetch_max_crawl_delay", 10.0))
        self._next_slot: dict[str, float] = {}  # host -> when its next request may start
        # a request's whole time: connecting, its head and its body (a server trickling a byte at a time never
        # trips the read timeout); past it the request fails as a timeout and its connection is closed
        self.request_deadline = float(getattr(s, "fetch_request_deadline_s", 30.0) or 0) or None
        self.concurrency = max(1, int(getattr(s, "fetch_concurrency", 200)))
        self._global = asyncio.Semaphore(self.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self.max_hosts = 10_000  # per-host state kept before idle hosts' is dropped (``_forget_idle_hosts``)
        self._robots_locks: dict[str, asyncio.Lock] = {}
        timeout = httpx.Timeout(
            connect=float(getattr(s, "fetch_connect_timeout", 5.0)),
            read=float(getattr(s, "fetch_read_timeout", 10.0)),
            write=10.0,
            pool=None,
        )
        proxy = getattr(s, "http_proxy", None) or None
        # the SSRF guard: public addresses only, plus FETCH_ALLOW_NETWORKS (see ``addresses``)
        self.addresses = AddressPolicy.from_settings(s)
        # requests go straight to the transport: a crawler needs none of a client's per-request work
        # (merging headers and cookies, auth and redirect hooks, a cookie jar carrying one site's cookies
        # to the next); each response's Set-Cookie values are still read (``response_cookies``)
        if transport is None:
            transport = crawler_transport(proxy, self.concurrency, self.addresses)
        self._transport = transport
        self._headers = httpx.Headers({
            "User-Agent": self.user_agent, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
            "Accept-Language": "pt-BR,pt;q=0.9,en;q=0.7", "Accept-Encoding": ACCEPT_ENCODING,
            "Connection": "keep-alive",
        })
        self._extensions = {"timeout": timeout.as_dict()}
        self._timeouts = timeout.as_dict()
        self._raw_headers = list(self._headers.raw)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()
        self.cache.close()

    def _host_sem(self, host: str) -> asyncio.Semaphore:
        sem = self._hosts.get(host)
        if sem is None:
            if len(self._hosts) >= self.max_hosts:
                self._forget_idle_hosts()
            sem = self._hosts[host] = asyncio.Semaphore(self.per_host)
        return sem

    # ------------------------------------------------------------------ public

    async def fetch(
        self, url: str, *, run_id: str | None = None, lead_key: str | None = None, check_robots: bool = True
    ) -> FetchResult:
        """GET ``url`` following redirects manually. Raises BudgetExceeded once the run's budget is gone
        (carrying the calls this fetch made before: they were sent, and count)."""
        result = FetchResult(url=url, final_url=url)
        try:
            return await self._fetch_following(result, run_id=run_id, lead_key=lead_key, check_robots=check_robots)
        except BudgetExceeded as exc:
            exc.api_calls = result.api_calls
            raise

    async def _fetch_following(
        self, result: FetchResult, *, run_id: str | None, lead_key: str | None, check_robots: bool
    ) -> FetchResult:
        current = result.url
        for hop in range(self.max_redirects + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                result.error = f"bad_url: {current}"
                return result
            host = parts.netloc.lower()
            try:
                hostname = parts.hostname or ""
            except ValueError:
                hostname = ""
            if not hostname or self.addresses.refuses_host(hostname):  # each hop, before anything is sent
                result.error = BLOCKED if hostname else f"bad_url: {current}"
                result.final_url = current
                if hostname:
                    result.api_calls.append(ApiCall(service="enricher", endpoint=current, error=BLOCKED,
                                                    lead_key=lead_key))
                return result
            if check_robots and not await self._robots_allowed(current, run_id, lead_key, result):
                result.error = "robots"
                result.final_url = current
                return result
            raw = await self._get(current, run_id=run_id, lead_key=lead_key, result=result, host=host)
            result.final_url = current
            if raw is None:
                return result
            result.status = raw.status
            result.headers = raw.headers
            result.cookies.update(raw.cookies)
            if raw.status in REDIRECT_STATUSES and raw.headers.get("location"):
                if hop == self.max_redirects:
                    result.error = "too_many_redirects"
                    return result
                current = urljoin(current, raw.headers["location"])
                continue
            result.body = raw.body
            result.truncated = raw.truncated
            return result
        result.error = "too_many_redirects"
        return result

    # ------------------------------------------------------------------ internals

    async def _robots_allowed(self, url: str, run_id: str | None, lead_key: str | None, result: FetchResult) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.lower()}"
        rules = self.robots.get(origin)
        if rules is None:
            lock = self._robots_locks.setdefault(origin, asyncio.Lock())
            async with lock:
                rules = self.robots.get(origin)
                if rules is None:
                    sub = FetchResult(url=origin + "/robots.txt", final_url=origin + "/robots.txt")
                    raw = await self._get(origin + "/robots.txt", run_id=run_id, lead_key=lead_key, result=sub,
                                          host=parts.netloc.lower(), count_failure=False, paced=False)
                    result.api_calls.extend(sub.api_calls)
                    if raw is None:
                        rules = RobotsRules.from_response(None, None)
                    else:
                        rules = RobotsRules.from_response(raw.status, raw.body.decode("utf-8", errors="replace"))
                    self.robots.put(origin, rules)
        return rules.allowed(self.user_agent, url)

    def _forget_idle_hosts(self) -> None:
        """Drop what is kept per host for hosts with nothing in flight (a long crawl meets millions of them):
        their request limits and robots.txt locks (the rules themselves are in ``self.robots``, capped)."""
        self._hosts = {h: sem for h, sem in self._hosts.items() if sem._value < self.per_host}  # in use
        self._robots_locks = {o: lock for o, lock in self._robots_locks.items() if lock.locked()}

    def _pace(self, url: str, host: str) -> float | None:
        """Seconds to wait before this host's next request, its start reserved; None when that is longer
        than ``max_crawl_delay``. Zero at once for hosts without a spacing."""
        rules = self.robots.get(f"{url.partition(':')[0]}://{host}")
        delay = rules.crawl_delay(self.user_agent) if rules is not None else None
        interval = max(self.host_interval, delay or 0.0)
        if interval <= 0:
            return 0.0
        now = time.monotonic()
        slot = max(now, self._next_slot.get(host, 0.0))
        if slot - now > self.max_crawl_delay:
            return None
        if len(self._next_slot) > 10_000:  # forget hosts whose spacing has passed
            self._next_slot = {h: t for h, t in self._next_slot.items() if t > now}
        self._next_slot[host] = slot + interval
        return slot - now

    async def _get(
        self, url: str, *, run_id: str | None, lead_key: str | None, result: FetchResult, host: str,
        count_failure: bool = True, paced: bool = True,
    ) -> _RawResponse | None:
        cached = self.cache.get(url)
        if cached is not None:
            result.cache_hit = True
            result.api_calls.append(ApiCall(service="enricher", endpoint=url, status=cached.status,
                                            bytes=len(cached.body), cache_hit=True, lead_key=lead_key))
            return _RawResponse(cached.status, dict(cached.headers), {}, cached.body, False)
        if self.breaker.is_open(host):
            result.error = "circuit_open"
            result.api_calls.append(ApiCall(service="enricher", endpoint=url, error="circuit_open",
                                            lead_key=lead_key))
            return None
        attempt = 0
        while True:
            wait = self._pace(url, host) if paced else 0.0
            if wait is None:
                result.error = "crawl_delay"
                result.api_calls.append(ApiCall(service="enricher", endpoint=url, error="crawl_delay",
                                                lead_key=lead_key))
                return None
            if wait:
                await asyncio.sleep(wait)
            self.budgets.check(run_id)
            self.budgets.charge(run_id, requests=1)
            t0 = time.perf_counter()
            err: str | None = None
            raw: _RawResponse | None = None
            try:
                async with self._global, self._host_sem(host), asyncio.timeout(self.request_deadline):
                    raw = await self._request(url)
            except BlockedAddress:  # the name resolved to a refused address: nothing sent, nothing to retry
                result.error = BLOCKED
                result.api_calls.append(ApiCall(service="enricher", endpoint=url, error=BLOCKED, lead_key=lead_key))
                return None
            except httpx.TimeoutException as e:
                err = f"timeout: {type(e).__name__}"
            except TimeoutError:  # the request's deadline (the connection was closed on the way out)
                err = f"timeout: request deadline ({self.request_deadline:g} s)"
            except (httpx.TransportError, OSError) as e:
                err = f"connect: {type(e).__name__}: {e}"[:300]
            except httpx.HTTPError as e:
                err = f"http: {type(e).__name__}: {e}"[:300]
            latency = (time.perf_counter() - t0) * 1000
            nbytes = len(raw.body) if raw else 0
            self.budgets.charge(run_id, nbytes=nbytes)
            result.api_calls.append(ApiCall(service="enricher", endpoint=url, status=raw.status if raw else None,
                                            latency_ms=round(latency, 2), bytes=nbytes, error=err,
                                            lead_key=lead_key))
            retryable = raw is None or raw.status in RETRY_STATUSES
            if not retryable:
                self.breaker.success(host)
                if raw.status == 200 and not raw.truncated:
                    self.cache.put(url, raw.status, raw.headers, raw.body)
                return raw
            if attempt >= self.retries:
                if count_failure:
                    self.breaker.failure(host)
                if raw is None:
                    result.error = err
                return raw
            attempt += 1
            delay = min(self.max_backoff, self.backoff_base * (2 ** (attempt - 1)))
            delay *= 0.75 + random.random() / 2
            if raw is not None:
                ra = _retry_after(raw.headers.get("retry-after"))
                if ra is not None:
                    delay = min(self.max_backoff, max(delay, ra))
            await asyncio.sleep(delay)

    async def _request(self, url: str) -> _RawResponse:
        transport = self._transport
        if isinstance(transport, H1Transport):  # the crawling transport: no httpx request/response objects
            reply = await transport.get(url, self._raw_headers, timeouts=self._timeouts, max_bytes=self.max_bytes)
            headers, set_cookies = header_dict(reply.headers)
            return _RawResponse(reply.status, headers, response_cookies(set_cookies) if set_cookies else {},
                                reply.body, reply.truncated)
        request = httpx.Request("GET", url, headers=self._headers, extensions=dict(self._extensions))
        resp = await transport.handle_async_request(request)
        resp.request = request
        try:
            chunks: list[bytes] = []
            size = 0
            truncated = False
            decoder = content_decoder(resp.headers.raw)  # the crawling transport's decoding (capped, one encoding)
            async for chunk in resp.aiter_raw():
                if decoder is not None:
                    chunk = decoder.decode(chunk, self.max_bytes - size + 1)
                chunks.append(chunk)
                size += len(chunk)
                if size >= self.max_bytes:
                    truncated = size > self.max_bytes
                    break
            else:
                if decoder is not None:
                    tail = decoder.flush()
                    chunks.append(tail)
                    truncated = size + len(tail) > self.max_bytes
            body = b"".join(chunks)[: self.max_bytes]
            headers = {k.lower(): v for k, v in resp.headers.items()}
            cookies = response_cookies(resp.headers.get_list("set-cookie")) if "set-cookie" in headers else {}
            return _RawResponse(resp.status_code, headers, cookies, body, truncated)
        finally:
            await resp.aclose()


def header_dict(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], list[str]]:
    """Response headers as ``{name.lower(): value}`` (a repeated name's values joined by ", ") and the
    ``Set-Cookie`` values, decoded as ``httpx.Headers`` decodes them (ASCII, else UTF-8, else Latin-1)."""
    encoding = "ascii"
    if not all(name.isascii() and value.isascii() for name, value in raw):
        encoding = "utf-8"
        try:
            for name, value in raw:
                name.decode("utf-8")
                value.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "iso-8859-1"
    headers: dict[str, str] = {}
    set_cookies: list[str] = []
    for name, value in raw:
        key = name.decode(encoding).lower()
        text = value.decode(encoding)
        if key in headers:
            headers[key] = f"{headers[key]}, {text}"
        else:
            headers[key] = text
        if key == "set-cookie":
            set_cookies.append(text)
    return headers, set_cookies


__all__ = ["BudgetExceeded", "FetchResult", "Fetcher", "HostBreaker"]
