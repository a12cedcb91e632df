"""A JS-shell page: plain fetching finds nothing, the Chromium fallback finds the e-mail."""

from __future__ import annotations

import os

import pytest

from services.enricher.browser import BrowserRenderer, looks_like_js_shell
from services.enricher.extraction import extract_contacts
from services.enricher.fetcher import Fetcher
from shared.config import Settings

from .test_fetcher_loopback import LOOPBACK_NETWORKS, LoopbackServer, html

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not installed at {CHROMIUM}"),
]

SHELL = """<!doctype html><html><head><title>App</title></head><body>
<noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div>
<script>
  var u = ['contato', 'shellco.com.br'].join('@');
  document.getElementById('root').innerHTML = '<p>Fale com a gente: ' + u + '</p>';
</script></body></html>"""


async def test_browser_fallback_finds_what_plain_fetching_cannot() -> None:
    with LoopbackServer() as server:
        server.routes[("*", "/")] = html(SHELL)
        settings = Settings(ENABLE_PLAYWRIGHT=True, CHROMIUM_PATH=CHROMIUM, PLAYWRIGHT_TIMEOUT_MS=15000,
                            FETCH_ALLOW_NETWORKS=LOOPBACK_NETWORKS)
        async with Fetcher(settings) as f:
            res = await f.fetch(server.url + "/", check_robots=False)
        assert looks_like_js_shell(res.text)
        assert extract_contacts(res.text, server.url).emails == []
        renderer = BrowserRenderer(settings)
        try:
            page = await renderer.render(server.url + "/")
        finally:
            await renderer.aclose()
        assert page is not None
        assert extract_contacts(page.html, page.url).emails == ["contato@shellco.com.br"]


async def test_the_rendered_page_cannot_make_the_browser_reach_a_refused_address() -> None:
    from .test_fetch_address_guard import CountingServer

    async with CountingServer("127.0.0.2") as other:
        target = f"http://127.0.0.2:{other.port}/admin"
        page_html = (f'<html><body><div id="root"></div><img src="{target}.png">'
                     f'<script>fetch("{target}").catch(() => null);</script></body></html>')
        with LoopbackServer() as server:
            server.routes[("*", "/")] = html(page_html)
            # the page's own address is allowed, the other loopback address is not
            renderer = BrowserRenderer(Settings(ENABLE_PLAYWRIGHT=True, CHROMIUM_PATH=CHROMIUM,
                                                PLAYWRIGHT_TIMEOUT_MS=15000, FETCH_ALLOW_NETWORKS="127.0.0.1/32"))
            try:
                page = await renderer.render(server.url + "/")
            finally:
                await renderer.aclose()
        assert page is not None
        assert other.connections == 0
        assert any(url.startswith(target) for url in renderer.refused)


def test_content_pages_are_not_js_shells() -> None:
    assert not looks_like_js_shell("<html><body><div id='root'></div>" + "<p>texto longo</p>" * 40 + "</body></html>")


async def test_enricher_renders_a_js_shell_site_of_the_farm_and_finds_its_contacts(tmp_path) -> None:
    from hunter.demo.webfarm import load_sites, run_webfarm
    from services.enricher.logic import Enricher
    from shared.schemas import Address, CleanedLead, CompanyRecord, Email, ScoredLead

    spec = next(s for s in load_sites() if s.get("behaviour") == "js_shell")
    domain, email = spec["domain"], spec["emails"][0]
    company = CompanyRecord(lead_key=f"BR:{spec['cnpj']}", registry_id=spec["cnpj"], source="csv",
                            trade_name=spec["company_name"], legal_name=spec["legal_name"],
                            address=Address(city=spec["city"], state=spec["uf"]))
    lead = ScoredLead(lead=CleanedLead(company=company, emails=[Email(address=email, domain=domain)],
                                       website_candidates=[domain]), score=80, enrich=True)
    async with run_webfarm() as farm:
        outcomes = {}
        for playwright in (False, True):
            settings = Settings(HUNTER_HTTP_PROXY=farm.proxy_url, FETCH_SCHEMES="http", CACHE_TTL_HOURS=0,
                                HUNTER_DATA_DIR=str(tmp_path), ENABLE_PLAYWRIGHT=playwright, CHROMIUM_PATH=CHROMIUM,
                                FETCH_RETRIES=0)
            async with Enricher(settings) as enricher:
                outcomes[playwright] = (await enricher.enrich(lead, run_id="browser")).enrichment
    plain, rendered = outcomes[False], outcomes[True]
    # plain fetching finds the site by its title but none of the contacts the page's script writes
    assert plain.domain == domain and not plain.rendered and not plain.emails and not plain.phones
    assert rendered.status == "ok" and rendered.rendered and rendered.domain == domain
    assert "registry_id" in rendered.verified_by
    assert set(spec["emails"]) <= set(rendered.emails)
    assert set(spec["phones"]) <= set(rendered.phones)
