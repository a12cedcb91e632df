"""The Run report of a run whose KPI targets are met and of one whose are not, the Batch summary, and the
Exports page, in a real browser (Debian Chromium via Playwright) over a gateway on loopback reading a
projected vault on SQLite and on PostgreSQL. Screenshots are kept as test artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings
from shared.events import Event, KpiTargets, RunFilters, RunRequested, RunStep
from tests.browser.harness import BROWSER_TEST, launch, served
from tests.fixtures.vaults import VAULTS, vault_for
from tests.integration.test_exports_api import exports_events
from tests.integration.test_run_report import project, report_events

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
BATCH = "b-ui"
pytestmark = BROWSER_TEST


def batch_events() -> list[tuple[float, Event]]:
    """A batch of three codes: one run meets its targets, one does not, one failed."""
    out: list[tuple[float, Event]] = []
    for run, code, targets in (("r-met", "62", KpiTargets(min_leads=4, max_reject_rate=0.5)),
                               ("r-not-met", "6202", KpiTargets(min_leads=4, min_hot=2))):
        for offset, event in report_events(targets):
            update: dict[str, object] = {"run_id": run}
            if isinstance(event, RunRequested):
                update.update(batch_id=BATCH, filters=RunFilters(cnae=[code]), label=f"{BATCH}: CNAE {code}")
            out.append((offset, event.model_copy(update=update)))
    out.append((20, RunRequested(run_id="r-failed", source="csv:x.csv", filters=RunFilters(cnae=["4751"]),
                                 batch_id=BATCH)))
    out.append((21, RunStep(run_id="r-failed", stage="run", status="failed",
                            message="extract: csv: file not found: x.csv")))
    return out


@pytest.fixture(params=VAULTS)
def vault_settings(request: pytest.FixtureRequest, tmp_path: Path, nats_url: str) -> Iterator[Settings]:
    yield from vault_for(request.param, tmp_path, nats_url)


@pytest.fixture
def gateway_url(vault_settings: Settings) -> Iterator[str]:
    project(vault_settings.vault_database_url, [*batch_events(), *((30.0, e) for e in exports_events())])
    with served(vault_settings) as url:
        yield url


async def test_run_reports_say_met_and_not_met_and_the_batch_summary_lists_each_code(
    gateway_url: str, vault_settings: Settings
) -> None:
    from playwright.async_api import async_playwright, expect

    kind = "postgresql" if vault_settings.vault_database_url.startswith("postgresql") else "sqlite"
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await launch(p)
        page = await browser.new_page(viewport={"width": 1360, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for run in ("r-met", "r-not-met"):
            report = (await (await page.request.get(f"{gateway_url}/api/runs/{run}/report")).json())
            await page.goto(f"{gateway_url}/#run/{run}")
            await expect(page.locator("h2 .kpi")).to_have_text(report["kpi"]["overall"])
            rows = page.locator("#kpis tbody tr")
            await expect(rows).to_have_count(len(report["kpi"]["targets"]))
            for i, target in enumerate(report["kpi"]["targets"]):
                await expect(rows.nth(i).locator(".kpi")).to_have_text(target["status"])
                await expect(rows.nth(i).locator("td").nth(2)).to_have_text(f"{target['actual']:g}")
            steps = page.locator("#funnel g.funnel-step")
            await expect(steps).to_have_count(len(report["funnel"]))
            await page.screenshot(path=str(SHOTS / f"run_report_{run.removeprefix('r-')}_{kind}.png"), full_page=True)
        assert report["kpi"]["overall"] == "NOT MET"  # (the last one: its targets are not met)

        summary = (await (await page.request.get(f"{gateway_url}/api/batches/{BATCH}")).json())
        await page.goto(f"{gateway_url}/#batch/{BATCH}")
        table = page.locator("#batch tbody tr")
        await expect(table).to_have_count(3)
        for r in summary["runs"]:
            row = page.locator(f'#batch tbody tr[data-run="{r["run_id"]}"]')
            await expect(row.locator("td").first).to_have_text(r["code"])
            await expect(row.locator("td").nth(5)).to_have_text(r["kpi"] or "–")
        assert {r["code"]: (r["status"], r["kpi"]) for r in summary["runs"]} == {
            "62": ("completed", "MET"), "6202": ("completed", "NOT MET"), "4751": ("failed", None)}
        await expect(page.locator('#batch tbody tr[data-run="r-failed"]')).to_contain_text("file not found")
        await expect(page.locator("#batch-totals")).to_contain_text("KPIs met in 1")
        await page.screenshot(path=str(SHOTS / f"batch_summary_{kind}.png"), full_page=True)
        await browser.close()
    assert not errors, errors


async def test_the_exports_page_shows_each_exports_filter_in_words_and_the_providers_export_status(
    gateway_url: str, vault_settings: Settings
) -> None:
    from playwright.async_api import async_playwright, expect

    kind = "postgresql" if vault_settings.vault_database_url.startswith("postgresql") else "sqlite"
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await launch(p)
        page = await browser.new_page(viewport={"width": 1360, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        listed = (await (await page.request.get(f"{gateway_url}/api/exports")).json())
        await page.goto(f"{gateway_url}/#exports/vault-warm")
        rows = page.locator("#exports tbody tr[data-export]")
        await expect(rows).to_have_count(len(listed))
        for e in listed:
            row = page.locator(f'#exports tbody tr[data-export="{e["export_id"]}"]')
            await expect(row.locator(".filter-words")).to_have_text(e["filter_words"])
            await expect(row.locator(".created")).to_have_text(e["created_at"].replace("T", " ")[:19])
            await expect(row.locator(".rows")).to_have_text(str(e["rows"]))
            await expect(row.locator(".size")).to_have_text(f"{e['bytes'] / 1024:.1f} KB")
            await expect(row.locator(".sha")).to_have_attribute("title", e["sha256"] or "")
        warm = page.locator('#exports tbody tr[data-export="vault-warm"]')
        await expect(warm).to_have_class("focus")
        await expect(warm.locator(".filter-words")).to_have_text("bucket warm, score ≥ 60, UF SP, with a site")
        await expect(warm.locator("a.dl")).to_have_count(2)
        # what a filter held is shown as text, never run as markup
        await expect(page.locator('#exports tr[data-export="vault-pending"] .filter-words')).to_have_text(
            "matching “<script>x</script>”")
        assert await page.locator("#exports script").count() == 0

        provider = page.locator("#source-exports tbody tr[data-request]")
        await expect(provider).to_have_count(3)
        busy = page.locator('#source-exports tr[data-request="uuid-busy"]')
        await expect(busy).to_have_attribute("data-status", "processando")
        await expect(busy).to_contain_text("being processed by the provider")
        await expect(busy.locator("td").nth(5)).to_have_text("45")
        await expect(page.locator('#source-exports tr[data-request="uuid-bad"]')).to_contain_text(
            "not processed after 3 polls")
        await expect(page.locator('#source-exports tr[data-request="uuid-done"] .pill')).to_have_text("downloaded")
        await page.screenshot(path=str(SHOTS / f"exports_page_{kind}.png"), full_page=True)
        await browser.close()
    assert not errors, errors
