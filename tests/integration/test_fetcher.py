"""The fetcher and the enricher against real loopback HTTP servers."""

from __future__ import annotations

import asyncio
import threading

import pytest

from services.enricher.budgets import BudgetExceeded, RunBudgets
from services.enricher.fetcher import Fetcher, HostBreaker
from services.enricher.http_cache import HttpCache
from shared.config import Settings

from .test_fetcher_loopback import LOOPBACK_NETWORKS, LoopbackServer, html


def settings(**kw) -> Settings:
    base = {"FETCH_RETRIES": 2, "FETCH_PER_HOST": 2, "CACHE_TTL_HOURS": 1, "FETCH_CONNECT_TIMEOUT": 2,
            "FETCH_READ_TIMEOUT": 5, "FETCH_ALLOW_NETWORKS": LOOPBACK_NETWORKS}
    base.update(kw)
    return Settings(**{k: v for k, v in base.items()})


@pytest.fixture
def server():
    with LoopbackServer() as srv:
        yield srv


def fetcher(s: Settings | None = None, **kw) -> Fetcher:
    return Fetcher(s or settings(), backoff_base=0.01, **kw)


async def test_robots_txt_is_respected(server: LoopbackServer) -> None:
    server.routes[("*", "/robots.txt")] = (200, {"Content-Type": "text/plain"},
                                           b"User-agent: *\nDisallow: /private\n")
    server.routes[("*", "/private/page")] = html("secret")
    server.routes[("*", "/public")] = html("ok")
    async with fetcher() as f:
        blocked = await f.fetch(server.url + "/private/page")
        allowed = await f.fetch(server.url + "/public")
        await f.fetch(server.url + "/public?again")
    assert blocked.error == "robots" and not blocked.ok
    assert allowed.ok and allowed.text == "ok"
    assert [p for _, p in server.hits].count("/robots.txt") == 1  # cached per host
    assert ("/private/page" not in [p for _, p in server.hits])


async def test_retries_on_503_then_success(server: LoopbackServer) -> None:
    calls = {"n": 0}

    def flaky(_h):
        calls["n"] += 1
        return html("busy", 503) if calls["n"] < 3 else html("finally")

    server.routes[("*", "/flaky")] = flaky
    async with fetcher() as f:
        res = await f.fetch(server.url + "/flaky", check_robots=False)
    assert res.ok and res.text == "finally"
    assert [c.status for c in res.api_calls] == [503, 503, 200]


async def test_redirect_cap(server: LoopbackServer) -> None:
    for i in range(10):
        server.routes[("*", f"/r{i}")] = (302, {"Location": f"/r{i + 1}"}, b"")
    server.routes[("*", "/r3")] = html("landed")
    async with fetcher(settings(FETCH_MAX_REDIRECTS=2)) as f:
        capped = await f.fetch(server.url + "/r0", check_robots=False)
    async with fetcher(settings(FETCH_MAX_REDIRECTS=3)) as f:
        followed = await f.fetch(server.url + "/r0", check_robots=False)
    assert capped.error == "too_many_redirects"
    assert followed.ok and followed.final_url.endswith("/r3") and followed.text == "landed"


async def test_body_cap_stops_reading(server: LoopbackServer) -> None:
    server.routes[("*", "/big")] = html("x" * 500_000)
    async with fetcher(settings(FETCH_MAX_BYTES=10_000)) as f:
        res = await f.fetch(server.url + "/big", check_robots=False)
    assert len(res.body) == 10_000 and res.truncated


async def test_per_host_concurrency_limit_is_observed_server_side(server: LoopbackServer) -> None:
    gate = threading.Event()
    arrived = threading.Semaphore(0)

    def slow(_h):
        arrived.release()
        gate.wait(5)
        return html("ok")

    server.routes[("*", "*")] = slow
    async with fetcher(settings(FETCH_PER_HOST=2)) as f:
        tasks = [asyncio.create_task(f.fetch(f"{server.url}/p{i}", check_robots=False)) for i in range(6)]
        # wait (off the loop) until two requests are inside the server, then release everything
        await asyncio.to_thread(lambda: (arrived.acquire(timeout=5), arrived.acquire(timeout=5)))
        got_third = await asyncio.to_thread(arrived.acquire, True, 0.3)
        gate.set()
        results = await asyncio.gather(*tasks)
    assert not got_third
    assert all(r.ok for r in results), [(r.status, r.error) for r in results]
    assert server.max_active[server.host] == 2


async def test_circuit_breaker_skips_a_failing_host(server: LoopbackServer) -> None:
    server.routes[("*", "*")] = html("down", 500)
    async with fetcher(settings(FETCH_RETRIES=0), breaker=HostBreaker(threshold=3, cooldown=60)) as f:
        for i in range(3):
            r = await f.fetch(f"{server.url}/x{i}", check_robots=False)
            assert r.status == 500
        skipped = await f.fetch(f"{server.url}/x9", check_robots=False)
    assert skipped.error == "circuit_open"
    assert len(server.hits) == 3


async def test_cache_hit_on_second_fetch(server: LoopbackServer, tmp_path) -> None:
    server.routes[("*", "/page")] = html("cached body")
    async with fetcher(cache=HttpCache(3600, disk_dir=tmp_path)) as f:
        first = await f.fetch(server.url + "/page", check_robots=False)
        second = await f.fetch(server.url + "/page", check_robots=False)
    async with fetcher(cache=HttpCache(3600, disk_dir=tmp_path)) as f:  # a new process: from disk
        third = await f.fetch(server.url + "/page", check_robots=False)
    assert not first.cache_hit and second.cache_hit and third.cache_hit
    assert third.text == "cached body" and second.api_calls[0].cache_hit
    assert len(server.hits) == 1


async def test_budget_exceeded_stops_fetching(server: LoopbackServer) -> None:
    server.routes[("*", "*")] = html("ok")
    budgets = RunBudgets(max_requests=2, max_bytes=10**9, max_seconds=3600)
    async with fetcher(budgets=budgets) as f:
        await f.fetch(server.url + "/a", run_id="r1", check_robots=False)
        await f.fetch(server.url + "/b", run_id="r1", check_robots=False)
        with pytest.raises(BudgetExceeded):
            await f.fetch(server.url + "/c", run_id="r1", check_robots=False)
        other = await f.fetch(server.url + "/c", run_id="r2", check_robots=False)
    assert other.ok


def _timed(server: LoopbackServer, times: dict[str, list[float]]) -> None:
    import time

    def page(handler) -> tuple[int, dict[str, str], bytes]:
        times.setdefault(handler.headers.get("Host", ""), []).append(time.monotonic())
        return html("ok")

    server.routes[("*", "*")] = page


async def test_a_hosts_requests_are_spaced_and_other_hosts_are_not_held_back(server: LoopbackServer) -> None:
    times: dict[str, list[float]] = {}
    _timed(server, times)
    other = server.url.replace("127.0.0.1", "localhost")
    async with fetcher(settings(FETCH_HOST_INTERVAL_MS=300)) as f:
        results = await asyncio.gather(*(f.fetch(f"{server.url}/p{i}", check_robots=False) for i in range(4)),
                                       f.fetch(f"{other}/q", check_robots=False))
    assert all(r.ok for r in results)
    starts = times[server.host]
    assert len(starts) == 4
    # arrivals timed on the server (its threads start late under load: a margin; unspaced, the gaps are ~0)
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= 0.2
    # the other host was served at once, not after the first host's queue
    assert times[other.removeprefix("http://")][0] < starts[1]


async def test_robots_crawl_delay_spaces_requests_and_one_too_long_skips_the_page(server: LoopbackServer) -> None:
    times: dict[str, list[float]] = {}
    _timed(server, times)
    server.routes[("*", "/robots.txt")] = (200, {"Content-Type": "text/plain"},
                                           b"User-agent: *\nCrawl-delay: 0.3\nAllow: /\n")
    async with fetcher() as f:
        first, second = await asyncio.gather(f.fetch(f"{server.url}/a"), f.fetch(f"{server.url}/b"))
    assert first.ok and second.ok
    a, b = times[server.host]
    assert b - a >= 0.2  # 0.3 s asked; a margin for the server's thread start

    times.clear()
    server.routes[("*", "/robots.txt")] = (200, {"Content-Type": "text/plain"},
                                           b"User-agent: HunterBot\nCrawl-delay: 60\n\nUser-agent: *\nAllow: /\n")
    async with fetcher(settings(FETCH_MAX_CRAWL_DELAY=5)) as f:
        home = await f.fetch(f"{server.url}/")
        contact = await f.fetch(f"{server.url}/contato")
    assert home.ok
    assert contact.error == "crawl_delay" and not contact.ok
    assert [c.error for c in contact.api_calls] == ["crawl_delay"]
    assert len(times[server.host]) == 1  # the contact page was never requested


async def test_per_host_state_of_idle_hosts_is_dropped_past_the_cap(server: LoopbackServer) -> None:
    server.routes[("*", "*")] = html("ok")
    other = server.url.replace("127.0.0.1", "localhost")
    async with fetcher() as f:
        f.max_hosts = 1
        for base in (server.url, other, server.url):
            assert (await f.fetch(f"{base}/")).ok
        # each new host found the others idle: their limits and robots locks were dropped, not kept for good
        assert len(f._hosts) == 1 and len(f._robots_locks) <= 1


def test_the_breaker_forgets_hosts_far_from_opening_first() -> None:
    breaker = HostBreaker(threshold=3, cooldown=60, max_hosts=10)
    for _ in range(3):
        breaker.failure("down.test")  # open
    breaker.failure("flaky.test")
    breaker.failure("flaky.test")
    for i in range(20):
        breaker.failure(f"guess{i}.test")  # one failure each, as guessed domains
    assert breaker.remembered <= 10
    assert breaker.is_open("down.test")
    breaker.failure("flaky.test")  # its two earlier failures were kept: the third opens it
    assert breaker.is_open("flaky.test")
