"""The dashboard in a real browser (Debian's chromium driven by Playwright): registrations posted through the
enrolment API, funded by the subsidy service, change the numbers on the open page without a reload."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.award.app import create_app as create_award
from services.enrolment.app import create_app as create_enrolment
from services.subsidy.app import create_app as create_subsidy
from tests.award.test_api import issue_key
from tests.enrolment.sample import CLOCK_START, item
from tests.support import eventually, serving

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


@pytest.fixture
async def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def budgeted_stack(broker, backend: str, award_settings, region_code: str, amount_rupiah: int,
                         legal_reference: str) -> AsyncIterator[tuple[str, str, Any, Any]]:
    """Enrolment, subsidy and award on SQLite, with a 2025 budget line for the region: the admin's and a field kit's
    keys, the enrolment service and the award service."""
    if backend == "postgresql":
        pytest.skip("the browser test drives the page once, on SQLite; the stream is tested on both backends")
    settings = await award_settings(broker, clock_start=CLOCK_START)
    admin = await issue_key(settings, ["admin"], ["*"])
    field_kit = await issue_key(settings, ["registrations:write"], ["36"])
    async with serving(create_enrolment, settings) as enrolment, serving(create_subsidy, settings) as subsidy, \
            serving(create_award, settings) as award:
        async with subsidy.client(admin) as client:
            lines = {"lines": [{"line_id": "apbd-2025", "source": "apbd_kabkota", "amount_rupiah": amount_rupiah,
                                "legal_reference": legal_reference}]}
            assert (await client.put(f"/v1/budgets/{region_code}/2025/lines", json=lines)).status_code == 200
        yield admin, field_kit, enrolment, award


async def test_the_dashboard_updates_live_as_registrations_are_funded(isolated_broker, backend, award_settings,
                                                                     browser):
    async with budgeted_stack(isolated_broker, backend, award_settings, "36.72", 100_000_000,
                              "Perda Kota Cilegon 5/2024 (APBD 2025)") as (admin, field_kit, enrolment, award):
        async with award.client(admin) as client:
            target = {"fiscal_year": 2025, "target_population": 40, "source": "Disnaker Cilegon survey"}
            assert (await client.put("/v1/regions/36.72/target", json=target)).status_code == 200

            async def budget_seen() -> bool:
                body = (await client.get("/v1/indicators/36.72", params={"year": 2025})).json()
                return body.get("counts", {}).get("allocation_rupiah") == 100_000_000

            await eventually(budget_seen, timeout=30)

        page = await browser.new_page(viewport={"width": 390, "height": 1400})  # a phone's width
        await page.goto(f"{award.url}/#province=36")
        await page.wait_for_selector("#live.on", timeout=15_000)
        await page.wait_for_selector('#cards [data-region="36.72"]', timeout=15_000)
        assert await page.text_content("#stat-active") == "0"
        assert await page.text_content("#scope-name") == "Banten"
        await page.evaluate("window.__sameDocument = true")

        async with httpx.AsyncClient(base_url=enrolment.url, timeout=30,
                                     headers={"Authorization": f"Bearer {field_kit}"}) as client:
            for category in ("kader posyandu", "linmas", "marbot"):
                response = await client.post("/v1/registrations", json=item("36.72", category=category))
                assert response.status_code == 201, response.text

        # Each region's update is its own event on the stream, in no order across regions: the province's total
        # and Cilegon's card each reach 3.
        await page.wait_for_function("document.querySelector('#stat-active').textContent === '3'", timeout=20_000)
        await page.wait_for_function(
            "document.querySelector('#cards [data-region=\"36.72\"] [data-field=\"active\"]').textContent === '3'",
            timeout=20_000)
        card = page.locator('#cards [data-region="36.72"]')
        assert await card.locator('[data-field="active"]').text_content() == "3"
        assert "dari 40" in await card.text_content()  # Bahasa Indonesia by default
        assert await page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll on a phone
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "award-dashboard-phone.png"), full_page=True)
        # Categories as people say them, money as Rp16.800, the budget card as a sentence, the waiting count.
        assert "Kader Posyandu" in await card.text_content()
        assert await page.text_content("#stat-waiting") == "0"
        budget = await page.text_content("#stat-budget")
        assert budget.startswith("Rp") and " dari Rp100 juta terpakai (" in budget, budget
        assert "Rp100.000.000" in await page.text_content("#stat-budget-detail")
        # The English switch changes the labels in place.
        await page.click("#lang-switch")
        await page.wait_for_function("document.documentElement.lang === 'en'")
        assert "of 40" in await card.text_content() and "Posyandu health cadre" in await card.text_content()
        assert " of Rp100 million used (" in await page.text_content("#stat-budget")
        assert await page.evaluate("window.__sameDocument") is True
        await page.screenshot(path=str(ARTIFACTS / "award-dashboard-phone-en.png"), full_page=True)
        await page.click("#lang-switch")
        await page.wait_for_function("document.documentElement.lang === 'id'")
        # The national view with its map, at a phone's width, in Bahasa Indonesia.
        await page.goto(f"{award.url}/")
        await page.wait_for_selector('#map path[data-region="36"][data-value="7.5"]', timeout=15_000)
        assert await page.text_content("#ranking-title") == "Peringkat provinsi"
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.screenshot(path=str(ARTIFACTS / "award-dashboard-phone-national.png"), full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 1000})
        await page.goto(f"{award.url}/")
        await page.wait_for_selector('#ranking tbody tr[data-region="36"]', timeout=15_000)
        # The map: every province drawn, coloured by coverage by default, then by the indicator chosen.
        banten = page.locator('#map path[data-region="36"]')
        await banten.wait_for(timeout=15_000)
        assert await page.locator("#map path[data-region]").count() == 33
        coverage_colour = await banten.get_attribute("fill")
        assert await banten.get_attribute("data-value") == "7.5"  # 3 active of a target of 40
        assert coverage_colour == "#edf8e9"  # the lowest class: 7.5% of a 0..100 range
        await page.select_option("#map-indicator", "waiting")
        await page.wait_for_function(
            "document.querySelector('#map path[data-region=\"36\"]').getAttribute('fill') === '#006d2c'")
        await page.screenshot(path=str(ARTIFACTS / "award-dashboard.png"), full_page=True)
        await page.select_option("#map-indicator", "coverage_rate")
        await banten.dispatch_event("click")  # opens Banten's view
        await page.wait_for_function("location.hash === '#province=36'")
        await page.wait_for_function("document.querySelector('#scope-name').textContent === 'Banten'")
        await page.wait_for_selector('#cards [data-region="36.72"]', timeout=15_000)
        assert await page.locator("#map-panel").is_hidden()
        await page.close()


async def test_a_regency_with_no_target_reads_as_its_members_and_no_target_in_both_languages(
        isolated_broker, backend, award_settings, browser):
    async with budgeted_stack(isolated_broker, backend, award_settings, "36.73", 10_000_000,
                              "Perda Kota Serang 3/2024 (APBD 2025)") as (_admin, field_kit, enrolment, award):
        async with httpx.AsyncClient(base_url=enrolment.url, timeout=30,
                                     headers={"Authorization": f"Bearer {field_kit}"}) as client:
            response = await client.post("/v1/registrations", json=item("36.73", category="linmas"))
            assert response.status_code == 201, response.text

        page = await browser.new_page(viewport={"width": 390, "height": 1400})
        await page.goto(f"{award.url}/#province=36")
        await page.wait_for_function(
            "document.querySelector('#cards [data-region=\"36.73\"] [data-field=\"active\"]')?.textContent === '1'",
            timeout=20_000)
        card = page.locator('#cards [data-region="36.73"]')
        text = " ".join((await card.text_content()).split())
        assert "Kota Serang" in text, text  # by name, though the page opened before its first update
        assert "1 peserta aktif, belum ada target" in text, text
        assert "dari" not in text.split("belum ada target")[0], text  # no "Cakupan 1 dari belum ada target"
        await page.click("#lang-switch")
        await page.wait_for_function("document.documentElement.lang === 'en'")
        text = " ".join((await card.text_content()).split())
        assert "1 active member, no target recorded" in text, text
        await page.close()
