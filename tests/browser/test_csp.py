"""The Content Security Policy in a real browser: every UI page and the Swagger UI at /docs work
under it, without one violation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from services.gateway.app import create_app
from services.projector.projection import Projection
from shared.config import Settings
from shared.nats_server import free_port
from shared.vault.engine import make_engine
from tests.browser.harness import BROWSER_TEST, launch
from tests.factories import raw_events, run_events

PAGES = ["mission", "vault", "person", "icp", "exports", "recovery", "diagnostics", "config"]
pytestmark = BROWSER_TEST


@pytest.fixture
def gateway_url(tmp_path: Path, nats_url: str) -> Iterator[str]:
    settings = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url)
    Projection(make_engine(settings.vault_database_url)).apply(raw_events(run_events("r-csp")))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


async def test_the_ui_and_the_api_docs_run_under_the_content_security_policy(gateway_url: str) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as p:
        browser = await launch(p)
        page = await browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"{m.text} {m.location.get('url', '')}")
                if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        response = await page.goto(gateway_url + "/#mission")
        assert response is not None and "frame-ancestors 'none'" in response.headers["content-security-policy"]
        for name in PAGES:  # each loaded afresh, so no page's late render can stand in for another's
            await page.goto("about:blank")
            await page.goto(f"{gateway_url}/#{name}")
            await expect(page.locator("#main h2").first).to_be_attached()
        await page.goto("about:blank")
        await page.goto(f"{gateway_url}/#vault?run_id=r-csp")
        await expect(page.locator("#leads tbody tr[data-key]").first).to_be_attached()
        await page.goto("about:blank")
        await page.goto(f"{gateway_url}/#diagnostics?run_id=r-csp")
        await expect(page.locator("#chart svg rect").first).to_be_attached()

        await page.goto(gateway_url + "/docs")
        await expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
        assert await page.locator(".opblock").count() > 10
        await browser.close()
    assert not [m for m in problems if "Content Security Policy" in m or "Refused to" in m], problems
    assert not problems, problems
