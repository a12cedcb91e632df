"""The Vault list's propensity column and the lead page's qualification card in a real browser (Debian
Chromium via Playwright), over a gateway on loopback reading a projected vault."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.projector.projection import Projection
from shared.config import Settings
from shared.vault.engine import make_engine
from tests.browser.harness import BROWSER_TEST, launch, served
from tests.factories import raw_events
from tests.integration.test_qualification_api import K1, K2, events

pytestmark = BROWSER_TEST


@pytest.fixture
def gateway_url(tmp_path: Path, nats_url: str) -> Iterator[str]:
    settings = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url)
    Projection(make_engine(settings.vault_database_url)).apply(raw_events(events()))
    with served(settings) as url:
        yield url


async def test_the_vault_shows_propensity_and_the_lead_page_its_qualification(gateway_url: str) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as p:
        browser = await launch(p)
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(gateway_url + "/#vault")
        await expect(page.locator(f"#leads tr[data-key='{K1}'] td.propensity")).to_contain_text("61%")
        await expect(page.locator(f"#leads tr[data-key='{K1}'] td.propensity")).to_contain_text("· 83")
        await expect(page.locator(f"#leads tr[data-key='{K2}'] td.propensity")).to_contain_text("12%")
        await page.click(f"#leads tr[data-key='{K1}']")
        await expect(page.locator("#qualification-score")).to_have_text("83")
        card = page.locator("#qualification-card")
        await expect(card).to_contain_text("LLM m")
        await expect(card).to_contain_text("need-payoff")
        await expect(card).to_contain_text("first angle: Ask about their open positions.")
        await expect(page.locator("#qualification-tags")).to_contain_text("hiring")
        await page.goto(gateway_url + f"/#lead/{K2}")
        await expect(page.locator("#qualification-card")).to_contain_text("rules")
        await expect(page.locator("#qualification-card")).to_contain_text("LLM: token_budget")
        await browser.close()
    assert errors == []
