"""The dashboard in a real browser (Debian's chromium driven by Playwright): registrations posted through the
enrolment API, funded by the subsidy service, change the numbers on the open page without a reload."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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


async def test_the_dashboard_updates_live_as_registrations_are_funded(isolated_broker, backend, award_settings,
                                                                     browser):
    if backend == "postgresql":
        pytest.skip("the browser test drives the page once, on SQLite; the stream is tested on both backends")
    settings = await award_settings(isolated_broker, clock_start=CLOCK_START)
    admin = await issue_key(settings, ["admin"], ["*"])
    field_kit = await issue_key(settings, ["registrations:write"], ["36"])
    async with serving(create_enrolment, settings) as enrolment, serving(create_subsidy, settings) as subsidy, \
            serving(create_award, settings) as award:
        async with subsidy.client(admin) as client:
            lines = {"lines": [{"line_id": "apbd-2025", "source": "apbd_kabkota", "amount_rupiah": 100_000_000,
                                "legal_reference": "Perda Kota Cilegon 5/2024 (APBD 2025)"}]}
            assert (await client.put("/v1/budgets/36.72/2025/lines", json=lines)).status_code == 200
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

        await page.wait_for_function("document.querySelector('#stat-active').textContent === '3'", timeout=20_000)
        card = page.locator('#cards [data-region="36.72"]')
        assert await card.locator('[data-field="active"]').text_content() == "3"
        assert "of 40" in await card.text_content()
        assert await page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll on a phone
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "award-dashboard-phone.png"), full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 1000})
        await page.goto(f"{award.url}/")
        await page.wait_for_selector('#ranking tbody tr[data-region="36"]', timeout=15_000)
        await page.screenshot(path=str(ARTIFACTS / "award-dashboard.png"), full_page=True)
        await page.close()
