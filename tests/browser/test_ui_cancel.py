"""The Mission page in a real browser over the whole stack: a run cancelled while it enriches shows the
cancellation in its stage bars, and a finished run has no Cancel button."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hunter.demo_run import DEMO_CSV, farm_settings, start_farm
from hunter.stack import Stack
from shared.nats_server import free_port
from tests.browser.harness import launch

from .test_ui import SHOTS, pytestmark  # noqa: F401 - the same marks and skip


@pytest.fixture
def slow_stack(tmp_path: Path, fresh_nats_url: str) -> Iterator[Stack]:
    """The whole stack with one lead enriched at a time: a run stays a while in its enrichment."""
    farm, proxy, search = start_farm(tmp_path)
    env = {**farm_settings(proxy, search), "HUNTER_BATCH_SIZE": "100", "ENRICHER_CONCURRENCY": "1"}
    s = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, env_extra=env, gateway=True,
              gateway_port=free_port())
    s.start()
    try:
        assert s.wait_gateway(120), f"gateway did not come up: {s.crashed()}"
        yield s
    finally:
        s.stop()
        farm.terminate()
        farm.wait(timeout=10)


async def test_a_run_cancelled_from_the_mission_page_shows_the_cancel_in_its_bars_and_no_cancel_button(
    slow_stack: Stack,
) -> None:
    from playwright.async_api import async_playwright, expect

    stack = slow_stack
    async with async_playwright() as p:
        browser = await launch(p)
        page = await browser.new_page(viewport={"width": 1360, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(stack.gateway_url + "/#mission")
        await page.fill("#source", f"csv:{DEMO_CSV}")
        await page.fill("input[name=enrich_top]", "0.5")
        await page.click("#start")
        card = page.locator("#run-card")
        await expect(page.locator("#st-enrich .pill")).to_have_text(re.compile("started|progress"), timeout=60_000)
        await expect(page.locator("#cancel")).to_be_visible()
        await page.click("#cancel")
        await expect(card).to_have_attribute("data-status", "cancelled", timeout=30_000)
        await expect(page.locator("#cancel")).to_be_hidden()
        # the stages that had not finished show the cancellation; those done before it stay done
        for stage in ("enrich", "rescore", "export", "run"):
            await expect(page.locator(f"#bar-{stage}")).to_have_class("bar cancelled")
            await expect(page.locator(f"#st-{stage} .pill")).to_have_text("cancelled")
        await expect(page.locator("#bar-extract")).to_have_class("bar done")
        await page.screenshot(path=str(SHOTS / "mission-cancelled.png"), full_page=True)

        # a finished run opened again: no Cancel button
        run_id = await card.get_attribute("data-run")
        await page.goto(f"{stack.gateway_url}/#vault")
        await page.goto(f"{stack.gateway_url}/#mission/{run_id}")
        await expect(page.locator("#run-card")).to_have_attribute("data-status", "cancelled", timeout=10_000)
        await expect(page.locator("#cancel")).to_be_hidden()
        await browser.close()
    assert not errors, errors
