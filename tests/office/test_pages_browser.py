"""The Members, Devices and Award data pages in a real browser (Debian's chromium through Playwright), against real
enrolment and award services: an operator issues a field-kit key on a phone and sees its QR code, the pages fit
360 px with no console error under the CSP, and axe-core finds no serious or critical violation in either language.
Screenshots go to tests/artifacts/office-{members,member,devices,award-data}-*.png."""

from __future__ import annotations

import pytest

from services.award.app import create_app as create_award
from services.enrolment.app import create_app as create_enrolment
from tests.award.test_dashboard import ARTIFACTS, browser  # noqa: F401  (the fixture)
from tests.enrolment.sample import CLOCK_START, item
from tests.office.conftest import ACCOUNTS, _office
from tests.office.test_browser import DESKTOP, PHONE, fits, sign_in
from tests.subsidy.workers import api_key
from tests.support import serving

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_members_devices_and_award_data_in_a_browser(browser, broker, office_settings,  # noqa: F811
                                                           backend):
    from axe_playwright_python.async_playwright import Axe

    settings = await office_settings(broker, clock_start=CLOCK_START)
    key = await api_key(settings, ["admin"], ["*"])
    ARTIFACTS.mkdir(exist_ok=True)
    async with serving(create_enrolment, settings) as enrolment, serving(create_award, settings) as award:
        office_settings_ = settings.model_copy(update={"office_api_key": key, "office_enrolment_url": enrolment.url,
                                                       "office_award_url": award.url})
        async with _office(office_settings_, ACCOUNTS) as office:
            registered = []
            async with enrolment.client(key) as http:
                for name in ("Siti Rahmawati", "Budi Santoso", "Wulan Sari"):
                    body = item(full_name=name, district_code="36.72.01", village_code="36.72.01.1001")
                    assert (await http.post("/v1/registrations", json=body)).status_code == 201
                    registered.append(body["registration_id"])
            url, axe, found = office.url, Axe(), []

            phone = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            page = await phone.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await sign_in(page, url, "ops-cilegon")
            await page.click("nav >> text=Perangkat")
            await page.fill("#name", "kit-0042 Cibeber")
            await page.click("#issue-form button[type=submit]")
            await page.wait_for_selector("#issued svg")
            assert (await page.locator("#pairing-link").inner_text()).count("#pair=prt_") == 1
            # No PARITRANA_KIT_URL here: the link is the enrolment service's 127.0.0.1, which no phone reaches.
            assert "PARITRANA_KIT_URL" in await page.locator('[data-warning="loopback"]').inner_text()
            # The long link and key wrap inside the card rather than run off a phone's screen.
            assert await page.evaluate("document.querySelector('#pairing-link').getBoundingClientRect().right"
                                       " <= window.innerWidth")
            await fits(page)
            await page.screenshot(path=str(ARTIFACTS / "office-devices-phone.png"), full_page=True)
            await page.click("nav >> text=Peserta")
            await page.wait_for_selector("#members-table")
            assert await page.locator("#members-table tbody tr").count() == 3
            await fits(page)
            await page.screenshot(path=str(ARTIFACTS / "office-members-phone.png"), full_page=True)
            await page.click("#members-table tbody tr >> nth=0 >> a")
            await page.wait_for_selector("#end-form")
            await fits(page)
            await page.screenshot(path=str(ARTIFACTS / "office-member-phone.png"), full_page=True)
            await page.click("nav >> text=Data Penghargaan")
            await page.fill("#target_population", "12.500")
            await page.fill("#target_source", "Survei Disnaker 2024")
            await page.click("#target-form button[type=submit]")
            await page.wait_for_selector("#target strong")
            await fits(page)
            await page.screenshot(path=str(ARTIFACTS / "office-award-data-phone.png"), full_page=True)
            await phone.close()
            assert errors == [], errors

            pages = ["/regions/36.72/members", f"/regions/36.72/members/{registered[0]}", "/regions/36.72/devices",
                     "/regions/36.72/award-data?year=2025"]
            for viewport in (PHONE, DESKTOP):
                context = await browser.new_context(viewport=viewport)
                page = await context.new_page()
                await sign_in(page, url, "ops-cilegon")
                for lang in ("id", "en"):
                    await page.goto(f"{url}/language/{lang}?back=/")
                    for path in pages:
                        await page.goto(f"{url}{path}")
                        await fits(page)
                        results = await axe.run(page)
                        found += [f"{lang} {viewport['width']}px {path}: {v['id']} ({v['impact']})"
                                  for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
                if viewport is DESKTOP:
                    await page.goto(f"{url}/regions/36.72/members")
                    await page.screenshot(path=str(ARTIFACTS / "office-members-desktop.png"), full_page=True)
                await context.close()
            assert found == [], "\n".join(found)
