"""The UI in a real browser (Debian Chromium via Playwright) over the whole stack: start a hunt on
the demo data from the Mission page, watch it finish live, filter the vault, download an export, move a
lead along its funnel."""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hunter.demo_run import DEMO_CSV, start_farm
from hunter.stack import Stack
from shared.nats_server import free_port
from tests.browser.harness import BROWSER_TEST, launch

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
pytestmark = BROWSER_TEST


@pytest.fixture
def stack(tmp_path: Path, fresh_nats_url: str) -> Iterator[Stack]:
    farm, proxy, search = start_farm(tmp_path)
    env = {"HUNTER_HTTP_PROXY": proxy, "SEARCH_BASE_URL": search, "SERPER_API_KEY": "test-key",
           "FETCH_SCHEMES": "http", "FETCH_CONNECT_TIMEOUT": "2", "FETCH_READ_TIMEOUT": "5", "HUNTER_BATCH_SIZE": "100"}
    s = Stack(data_dir=tmp_path / "data", nats_url=fresh_nats_url, env_extra=env, gateway=True,
              gateway_port=free_port())
    s.start()
    try:
        assert s.wait_gateway(30), f"gateway did not come up: {s.crashed()}"
        yield s
    finally:
        s.stop()
        farm.terminate()
        farm.wait(timeout=10)


async def test_a_hunt_started_in_the_ui_finishes_live_and_its_filtered_vault_exports(
    stack: Stack, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await launch(p)
        page = await browser.new_page(viewport={"width": 1360, "height": 900}, accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(stack.gateway_url + "/#mission")

        # Mission: pick the demo sample from the imports directory, start a hunt, watch it complete
        imports = stack.data_dir / "imports"
        imports.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEMO_CSV, imports / "demo-companies.csv")
        await page.reload()
        await page.select_option("#source-pick", f"csv:{(imports / 'demo-companies.csv').resolve()}")
        assert await page.input_value("#source") == f"csv:{(imports / 'demo-companies.csv').resolve()}"
        await page.fill("input[name=enrich_top]", "0.1")
        await page.click("#start")
        card = page.locator("#run-card")
        await expect(card).to_be_visible()
        await expect(page.locator("#st-extract .pill")).to_have_text("completed", timeout=30_000)
        await expect(card).to_have_attribute("data-status", "completed", timeout=50_000)
        await expect(page.locator("#bar-enrich")).to_have_class("bar done")
        run_id = await card.get_attribute("data-run")
        # the live funnel filled as the steps arrived, with the report's numbers
        live = await (await page.request.get(f"{stack.gateway_url}/api/runs/{run_id}/report")).json()
        counts = {f["step"]: f["count"] for f in live["funnel"]}
        await expect(page.locator("#lf-hot")).to_have_text(f"{counts['hot']:,}")
        await expect(page.locator("#lf-enriched")).to_have_text(f"{counts['enriched']:,}")
        await expect(page.locator("#report-link")).to_be_visible()
        await page.screenshot(path=str(SHOTS / "mission.png"), full_page=True)

        # Vault: the run's hot leads, filtered through the form
        await page.goto(f"{stack.gateway_url}/#vault?run_id={run_id}")
        await page.select_option("select[name=bucket]", "hot")
        await page.click("#filter button")
        await expect(page.locator("#total")).to_have_text(re.compile(r"^[1-9]\d* leads$"))
        total = int((await page.locator("#total").inner_text()).split()[0])
        buckets = await page.locator("#leads tbody td:nth-child(2)").all_inner_texts()
        assert buckets and set(buckets) == {"hot"}, buckets
        await page.screenshot(path=str(SHOTS / "vault.png"), full_page=True)

        # export the current filter and download the CSV once it is written
        await page.click("#export")
        await page.wait_for_url(re.compile(r"#exports/.+"))
        export_id = page.url.split("#exports/", 1)[1]
        row = page.locator(f'#exports tbody tr[data-export="{export_id}"][data-status=completed]')
        await expect(row).to_be_visible(timeout=20_000)
        async with page.expect_download() as info:
            await row.locator("a.dl[data-format=csv]").click()
        download = await info.value
        saved = tmp_path / "download.csv"
        await download.save_as(saved)
        await page.screenshot(path=str(SHOTS / "exports.png"), full_page=True)

        # the lead page: move it along its funnel with the buttons of the allowed states, add a task, see the
        # timeline (what a person typed is shown as text, never as markup)
        await page.goto(f"{stack.gateway_url}/#vault?run_id={run_id}&bucket=hot")
        first = page.locator("#leads tbody tr[data-key]").first
        lead_key = await first.get_attribute("data-key")
        await first.click()
        await expect(page.locator("#funnel-state .pill")).to_have_text("new")
        moves = page.locator("#moves button")
        assert await moves.all_inner_texts() == ["queued", "contacted", "lost", "do not contact"]
        await page.fill("#move input[name=note]", "<b>called</b> Ana")
        await page.click('#moves button[data-move="contacted"]')
        await expect(page.locator("#funnel-state .pill")).to_have_text("contacted", timeout=15_000)
        assert await moves.all_inner_texts() == ["replied", "meeting", "lost", "do not contact"]
        await page.select_option("#activity select[name=kind]", "task")
        await page.fill("#activity input[name=text]", "send the proposal")
        await page.fill("#activity input[name=due_on]", "2026-12-24")
        await page.click("#activity button")
        await expect(page.locator("#timeline li")).to_have_count(2, timeout=15_000)
        items = await page.locator("#timeline li").all_inner_texts()
        assert "task" in items[0] and "send the proposal" in items[0] and "due 2026-12-24" in items[0], items
        assert "<b>called</b> Ana" in items[1] and "by api" in items[1], items
        assert await page.locator("#timeline b").count() == 0
        await page.screenshot(path=str(SHOTS / "lead.png"), full_page=True)
        await page.goto(f"{stack.gateway_url}/#vault?status=contacted")
        await expect(page.locator("#total")).to_have_text("1 leads")
        assert await page.locator("#leads tbody tr[data-key]").get_attribute("data-key") == lead_key

        # diagnostics render
        await page.goto(f"{stack.gateway_url}/#diagnostics?run_id={run_id}")
        await expect(page.locator("#chart svg rect").first).to_be_attached()
        await page.screenshot(path=str(SHOTS / "diagnostics.png"), full_page=True)

        # the run report: the funnel picture carries the API's numbers
        report = await (await page.request.get(f"{stack.gateway_url}/api/runs/{run_id}/report")).json()
        await page.goto(f"{stack.gateway_url}/#run/{run_id}")
        steps = page.locator("#funnel g.funnel-step")
        await expect(steps).to_have_count(len(report["funnel"]))
        for i, step in enumerate(report["funnel"]):
            assert f"{step['count']:,}" in await steps.nth(i).text_content(), step
        await expect(page.locator("#timeline g.timeline-stage").first).to_be_attached()
        await expect(page.locator("#quality strong")).to_have_text(f"{report['quality_score']:g}")
        await page.screenshot(path=str(SHOTS / "run_report.png"), full_page=True)
        await browser.close()

    with saved.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == total and {r["bucket"] for r in rows} == {"hot"}
    assert not errors, errors
