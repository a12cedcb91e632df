"""Behind a forward proxy the fetcher reuses its keep-alive connections across hosts."""

from __future__ import annotations

import asyncio

from hunter.demo.sample_data import generate_bench_sites
from hunter.demo.webfarm import run_webfarm
from services.enricher.fetcher import Fetcher
from services.enricher.http_cache import HttpCache
from shared.config import Settings


async def test_two_hundred_hosts_through_the_proxy_share_a_few_connections() -> None:
    sites = generate_bench_sites(200, page_kb=1)
    async with run_webfarm(sites=sites, search_index={}, latency_ms=20) as farm:
        settings = Settings(HUNTER_HTTP_PROXY=farm.proxy_url, FETCH_CONCURRENCY=16, FETCH_RETRIES=0)
        async with Fetcher(settings, cache=HttpCache(0)) as fetcher:
            results = await asyncio.gather(*[fetcher.fetch(f"http://{s['domain']}/", check_robots=False)
                                             for s in sites])
            stats = farm.stats()
    assert all(r.ok and s["domain"].encode() in r.body for r, s in zip(results, sites, strict=True))
    assert stats["site_requests"] == 200 and len(stats["hosts"]) == 200
    # one connection per host would be 200; a request only goes to a connection with nothing in flight,
    # so the connections opened are at most the fetch concurrency (16)
    assert stats["connections_total"] <= 16


async def test_one_request_at_a_time_through_the_proxy_uses_one_connection_for_every_host() -> None:
    sites = generate_bench_sites(20, page_kb=1)
    async with run_webfarm(sites=sites, search_index={}) as farm:
        settings = Settings(HUNTER_HTTP_PROXY=farm.proxy_url, FETCH_CONCURRENCY=64, FETCH_RETRIES=0)
        async with Fetcher(settings, cache=HttpCache(0)) as fetcher:
            results = [await fetcher.fetch(f"http://{s['domain']}/") for s in sites]  # robots.txt, then /
            stats = farm.stats()
    assert all(r.ok for r in results)
    assert stats["connections_total"] == 1


async def test_the_fetcher_keeps_no_cookie_jar_yet_reports_each_responses_cookies() -> None:
    sites = [s for s in generate_bench_sites(12, page_kb=1) if s["cookies"]][:2]
    async with run_webfarm(sites=sites, search_index={}) as farm, \
            Fetcher(Settings(HUNTER_HTTP_PROXY=farm.proxy_url), cache=HttpCache(0)) as fetcher:
        first = await fetcher.fetch(f"http://{sites[0]['domain']}/", check_robots=False)
        again = await fetcher.fetch(f"http://{sites[0]['domain']}/", check_robots=False)
        assert first.cookies and again.cookies == first.cookies
