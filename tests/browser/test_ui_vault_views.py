"""Diagnostics → Rejects and the Person page in a real browser (Debian Chromium via Playwright), over a
gateway on loopback reading a projected vault on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings
from shared.events import LeadsCleaned
from shared.schemas import Partner
from tests.browser.harness import BROWSER_TEST, launch, served
from tests.factories import cleaned_lead, run_events
from tests.fixtures.vaults import VAULTS, project, rejected_rows, vault_for

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
pytestmark = BROWSER_TEST

@pytest.fixture(params=VAULTS)
def vault_settings(request: pytest.FixtureRequest, tmp_path: Path, nats_url: str) -> Iterator[Settings]:
    yield from vault_for(request.param, tmp_path, nats_url)



@pytest.fixture
def gateway_url(vault_settings: Settings) -> Iterator[str]:
    padua = cleaned_lead(21)
    padua.company.legal_name = "PADUA SOFTWARE LTDA"
    padua.company.partners = [Partner(name="Antônio de Pádua", kind="PF", document="***111222**")]
    project(vault_settings, [*run_events("r-ui"), rejected_rows("r-ui"), LeadsCleaned(run_id="r-ui", batch=5,
                                                                               leads=[padua])])
    with served(vault_settings) as url:
        yield url


async def test_the_rejects_tab_lists_rejected_rows_in_words_and_downloads_them(gateway_url: str,
                                                                               tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as p:
        browser = await launch(p)
        page = await browser.new_page(accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(gateway_url + "/#diagnostics?run_id=r-ui")
        await page.click("#diag-tabs a[data-tab=rejects]")
        await expect(page.locator("#tt")).to_have_text("Rejected rows: 6")
        rows = page.locator("#diag-rows tbody tr")
        await expect(rows).to_have_count(6)
        text = await page.locator("#diag-rows tbody").inner_text()
        assert "Registry id fails its check digits" in text and "Malformed line in the source file" in text
        assert "invalid_registry_id" not in text and "companies.csv" in text
        await page.select_option("#diag select[name=reason]", "malformed_row")
        await page.click("#diag button")
        await expect(rows).to_have_count(2)
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / "diagnostics-rejects.png"), full_page=True)
        async with page.expect_download() as info:
            await page.click("#rejects-csv")
        saved = tmp_path / "rejects.csv"
        await (await info.value).save_as(saved)
        await browser.close()
    found = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert {r["reason_code"] for r in found} == {"malformed_row"} and len(found) == 2
    assert not errors, errors


async def test_the_person_page_finds_a_name_without_its_accents_in_any_order_and_counts_in_words(
    gateway_url: str,
) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as p:
        browser = await launch(p)
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(gateway_url + "/#person")
        await page.fill("#who input[name=q]", "padua ANTONIO")
        await page.click("#who button")
        card = page.locator("#people .card")
        await expect(card).to_have_count(1)
        await expect(card.locator("strong")).to_have_text("Antônio de Pádua")
        await expect(card.locator("button")).to_have_text("Import this company")
        await browser.close()
    assert not errors, errors
