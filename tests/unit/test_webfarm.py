"""The web farm answers as an HTTP proxy over real loopback sockets, and serves a Serper-like search."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hunter.demo.sample_data import DATA_DIR, format_cnpj, generate_bench_sites
from hunter.demo.webfarm import WebFarm, run_webfarm

SITES = json.loads((DATA_DIR / "sites.json").read_text(encoding="utf-8"))
REPO = Path(__file__).resolve().parents[2]


def _site(**match: object) -> dict:
    return next(s for s in SITES if all(s.get(k) == v for k, v in match.items()))


@pytest.fixture(scope="module")
async def farm() -> AsyncIterator[WebFarm]:
    async with run_webfarm(slow_seconds=0.3) as f:
        yield f


@pytest.fixture
async def client(farm: WebFarm) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(proxy=farm.proxy_url, timeout=10) as c:
        yield c


async def _raw(port: int, data: bytes, *, responses: int = 1, heads: int = 0) -> list[bytes]:
    """Send raw bytes; read `heads` HEAD answers then `responses` Content-Length framed responses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    try:
        writer.write(data)
        await writer.drain()
        for i in range(heads + responses):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(
                next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            )
            out.append(head if i < heads else head + await asyncio.wait_for(reader.readexactly(length), 10))
    finally:
        writer.close()
    return out


async def test_homepage_carries_company_identity_and_technology_markers(client: httpx.AsyncClient) -> None:
    site = _site(template="woocommerce", behaviour=None, cnpj_in_footer=True)
    r = await client.get(f"http://{site['domain']}/")
    assert r.status_code == 200
    assert site["company_name"] in r.text
    assert format_cnpj(site["cnpj"]) in r.text
    assert '<meta name="generator" content="WordPress 6.4.2">' in r.text
    assert "/wp-content/plugins/woocommerce/" in r.text
    assert r.headers["x-powered-by"].startswith("PHP/")
    assert "Server" in site["headers"] and r.headers["server"] == site["headers"]["Server"]


async def test_shopify_site_sends_its_cookies_and_cdn_scripts(client: httpx.AsyncClient) -> None:
    site = _site(template="shopify", behaviour=None)
    r = await client.get(f"http://{site['domain']}/")
    assert "cdn.shopify.com" in r.text
    assert "_shopify_y" in r.cookies
    assert r.headers["server"] == "cloudflare" and "cf-ray" in r.headers


async def test_contact_page_holds_extra_contacts(client: httpx.AsyncClient) -> None:
    site = next(
        s for s in SITES if s.get("contact_page_emails") and s["behaviour"] is None and not s["obfuscate_email"]
    )
    home = (await client.get(f"http://{site['domain']}/")).text
    contact = (await client.get(f"http://{site['domain']}{site['contact_path']}")).text
    extra = site["contact_page_emails"][0]
    assert extra not in home and extra in contact


async def test_obfuscated_emails_are_not_plain_addresses(client: httpx.AsyncClient) -> None:
    site = _site(obfuscate_email=True, behaviour=None, role="company")
    r = await client.get(f"http://{site['domain']}/")
    first = site["emails"][0]
    assert first not in r.text
    assert first.split("@")[0] + " [at] " in r.text


async def test_robots_txt_on_every_site_and_disallow_all(client: httpx.AsyncClient) -> None:
    site = _site(behaviour=None, role="company")
    r = await client.get(f"http://{site['domain']}/robots.txt")
    assert r.status_code == 200 and r.text.startswith("User-agent: *")
    blocked = _site(behaviour="robots_disallow_all")
    r = await client.get(f"http://{blocked['domain']}/robots.txt")
    assert "Disallow: /\n" in r.text
    partial = next(s for s in SITES if s.get("robots_disallow") and s["behaviour"] is None)
    r = await client.get(f"http://{partial['domain']}/robots.txt")
    assert "Disallow: /contato" in r.text


async def test_error_site_answers_500(client: httpx.AsyncClient) -> None:
    r = await client.get(f"http://{_site(behaviour='error500')['domain']}/")
    assert r.status_code == 500


async def test_redirect_sites_answer_301_to_their_new_host(client: httpx.AsyncClient) -> None:
    for site in (s for s in SITES if s["behaviour"] == "redirect"):
        r = await client.get(f"http://{site['domain']}/")
        assert r.status_code == 301
        assert r.headers["location"] == f"http://{site['redirect_to']}/"
        final = await client.get(f"http://{site['domain']}/", follow_redirects=True)
        assert final.status_code == 200 and site["company_name"] in final.text


async def test_unknown_and_not_found_hosts_get_502(client: httpx.AsyncClient) -> None:
    for host in ("no-such-company.com.br", _site(behaviour="not_found")["domain"]):
        r = await client.get(f"http://{host}/")
        assert r.status_code == 502
        assert "Bad Gateway" in r.text


async def test_js_shell_has_no_contacts_in_static_html(client: httpx.AsyncClient) -> None:
    site = _site(behaviour="js_shell")
    r = await client.get(f"http://{site['domain']}/")
    assert r.status_code == 200 and '<div id="root"></div>' in r.text and "<noscript>" in r.text
    assert "@" + site["domain"] not in r.text
    assert format_cnpj(site["cnpj"]) not in r.text
    assert "wa.me/" not in r.text


async def test_slow_site_answers_after_the_configured_delay(client: httpx.AsyncClient) -> None:
    t0 = time.monotonic()
    r = await client.get(f"http://{_site(behaviour='slow')['domain']}/")
    assert r.status_code == 200
    assert time.monotonic() - t0 >= 0.3


async def test_directory_decoy_lists_the_company_cnpj(client: httpx.AsyncClient) -> None:
    company = _site(discovery="search", behaviour=None)
    r = await client.get(f"http://cnpj-directory.example/empresa/{company['cnpj']}")
    assert r.status_code == 200 and format_cnpj(company["cnpj"]) in r.text
    assert company["domain"] not in r.text


async def test_www_prefix_is_tolerated(client: httpx.AsyncClient) -> None:
    site = _site(behaviour=None, role="company", www=True)
    r = await client.get(f"http://www.{site['domain']}/")
    assert r.status_code == 200 and site["company_name"] in r.text


async def test_head_has_length_but_no_body_and_connect_is_refused(farm: WebFarm) -> None:
    site = _site(behaviour=None, role="company")
    head, get = await _raw(
        farm.port,
        (
            f"HEAD http://{site['domain']}/ HTTP/1.1\r\nHost: {site['domain']}\r\n\r\n"
            f"GET http://{site['domain']}/ HTTP/1.1\r\nHost: {site['domain']}\r\n\r\n"
        ).encode(),
        heads=1,
    )
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert head.endswith(b"\r\n\r\n")
    body = get.split(b"\r\n\r\n", 1)[1]
    assert f"Content-Length: {len(body)}".encode() in head
    (connect,) = await _raw(farm.port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert connect.startswith(b"HTTP/1.1 405")


async def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    async with run_webfarm() as f:
        site = _site(behaviour=None, role="company")
        request = f"GET http://{site['domain']}/robots.txt HTTP/1.1\r\nHost: {site['domain']}\r\n\r\n".encode()
        replies = await _raw(f.port, request * 5, responses=5)
        assert all(r.startswith(b"HTTP/1.1 200") for r in replies)
        stats = f.stats()
        assert stats["connections_total"] == 1
        assert stats["hosts"][site["domain"]]["paths"]["/robots.txt"] == 5


async def test_search_requires_a_key_and_finds_search_sites(farm: WebFarm) -> None:
    site = _site(discovery="search", behaviour=None)
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.post(f"{farm.search_base_url}/search", json={"q": site["company_name"], "gl": "br"})
        assert r.status_code == 401
        r = await c.post(
            f"{farm.search_base_url}/search",
            headers={"X-API-KEY": "demo"},
            json={"q": f'"{site["company_name"].upper()}" site oficial', "gl": "br", "num": 10},
        )
        assert r.status_code == 200
        organic = r.json()["organic"]
        assert f"http://{site['domain']}/" in [o["link"] for o in organic]
        assert [o["position"] for o in organic] == list(range(1, len(organic) + 1))
        guess = _site(discovery="guess", behaviour=None)
        r = await c.post(
            f"{farm.search_base_url}/search", headers={"X-API-KEY": "demo"}, json={"q": guess["company_name"]}
        )
        assert guess["domain"] not in json.dumps(r.json()["organic"])
        r = await c.post(f"{farm.search_base_url}/search", headers={"X-API-KEY": "demo"}, json={"q": "zzz qqq"})
        assert r.json()["organic"] == []


async def test_farm_endpoints_list_sites_and_count_requests(farm: WebFarm, client: httpx.AsyncClient) -> None:
    site = _site(behaviour=None, role="company", discovery="guess")
    await client.get(f"http://{site['domain']}/sobre")
    async with httpx.AsyncClient(timeout=10) as c:
        assert (await c.get(f"{farm.base_url}/health")).json()["status"] == "ok"
        listed = (await c.get(f"{farm.base_url}/__farm/sites")).json()
        assert {s["domain"] for s in listed} >= {s["domain"] for s in SITES}
        stats = (await c.get(f"{farm.base_url}/__farm/stats")).json()
    assert stats["hosts"][site["domain"]]["paths"]["/sobre"] >= 1


async def _get_on_new_connection(port: int, host: str) -> bytes:
    (reply,) = await _raw(port, f"GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    return reply


async def test_many_concurrent_connections_wait_in_parallel() -> None:
    specs = generate_bench_sites(500, page_kb=2)
    async with run_webfarm(sites=specs, search_index={}, latency_ms=50) as f:
        t0 = time.monotonic()
        replies = await asyncio.gather(*(_get_on_new_connection(f.port, s["domain"]) for s in specs))
        elapsed = time.monotonic() - t0
        stats = f.stats()
    assert all(r.startswith(b"HTTP/1.1 200") for r in replies)
    assert stats["site_requests"] == 500 and stats["connections_total"] == 500
    assert stats["max_in_flight"] >= 100  # requests slept together, not one after another
    assert elapsed < 5  # one after another would take 25 s


async def test_httpx_pool_reuses_keep_alive_connections_through_the_proxy() -> None:
    # httpx pools proxied connections per origin, so reuse is measured on one host
    specs = generate_bench_sites(1, page_kb=2)
    async with run_webfarm(sites=specs, search_index={}, latency_ms=50) as f:
        limits = httpx.Limits(max_connections=30, max_keepalive_connections=30)
        async with httpx.AsyncClient(proxy=f.proxy_url, limits=limits, timeout=30) as c:
            urls = [f"http://{specs[0]['domain']}/robots.txt"] * 300
            replies = await asyncio.gather(*(c.get(u) for u in urls))
        stats = f.stats()
    assert all(r.status_code == 200 for r in replies)
    assert stats["site_requests"] == 300
    assert stats["connections_total"] <= 30  # ten requests per connection on average
    assert stats["max_in_flight"] >= 10


def test_module_runs_as_a_process_and_prints_its_urls() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hunter.demo.webfarm", "--port", "0"], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("WEBFARM proxy=http://127.0.0.1:")
        proxy = line.split()[1].removeprefix("proxy=")
        assert line.split()[2] == f"search={proxy}/serper"
        site = _site(behaviour=None, role="company")
        r = httpx.get(f"http://{site['domain']}/", proxy=proxy, timeout=10)
        assert r.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
