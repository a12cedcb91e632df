"""A JS-shell page: plain fetching finds nothing, the Chromium fallback finds the e-mail."""

from __future__ import annotations

import os

import pytest

from services.enricher.browser import BrowserRenderer, looks_like_js_shell
from services.enricher.extraction import extract_contacts
from services.enricher.fetcher import Fetcher
from shared.config import Settings

from .test_fetcher_loopback import LoopbackServer, html

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
        settings = Settings(ENABLE_PLAYWRIGHT=True, CHROMIUM_PATH=CHROMIUM, PLAYWRIGHT_TIMEOUT_MS=15000)
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


def test_content_pages_are_not_js_shells() -> None:
    assert not looks_like_js_shell("<html><body><div id='root'></div>" + "<p>texto longo</p>" * 40 + "</body></html>")
