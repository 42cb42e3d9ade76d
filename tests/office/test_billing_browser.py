"""The Billing page and billing changes on Approvals in a real browser (Debian's chromium through Playwright): at
360 px nothing is wider than the screen, no console error under the CSP, and axe-core finds no serious or critical
violation in either language. Screenshots go to tests/artifacts/office-billing-*.png."""

from __future__ import annotations

import pytest

from services.office import billing_service, service
from tests.award.test_dashboard import ARTIFACTS, browser  # noqa: F401  (the fixture)
from tests.office.conftest import running_office
from tests.office.test_browser import DESKTOP, PHONE, fits, sign_in

pytestmark = pytest.mark.browser

RESULT = b"Hasil BPJS\nNIK;KPJ;Status;Alasan\n3672010101900001;25000000001;Terdaftar;\n3672010101900002;;Ditolak;PU\n"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_billing_page_on_a_phone_and_its_accessibility(browser, isolated_broker,  # noqa: F811
                                                                  office_settings, backend):
    from axe_playwright_python.async_playwright import Axe

    settings = await office_settings(isolated_broker)
    ARTIFACTS.mkdir(exist_ok=True)
    async with running_office(settings, with_subsidy=True) as office:
        year = office.server.runtime.clock.today().year
        database, clock = office.server.runtime.database, office.server.runtime.clock
        operator = next(row.staff for row in await service.list_staff(database) if row.staff.username == "ops-cilegon")
        await billing_service.submit_results(database, clock, operator, None, "36.72", year, RESULT, "csv")
        await service.submit_budget_lines(database, clock, operator, None, "36.72", year,
                                          [service.Line("apbd-p", "apbd_kabkota", 168_000_000, "Perda 7/2025")], [])
        axe, found, errors = Axe(), [], []
        for viewport in (PHONE, DESKTOP):
            context = await browser.new_context(viewport=viewport)
            page = await context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await sign_in(page, office.url, "admin")
            for lang in ("id", "en"):
                await page.goto(f"{office.url}/language/{lang}?back=/")
                for path in (f"/regions/36.72/billing?year={year}", "/approvals"):
                    await page.goto(f"{office.url}{path}")
                    if viewport is PHONE:
                        await fits(page)
                    results = await axe.run(page)
                    found += [f"{lang} {viewport['width']}px {path}: {v['id']} ({v['impact']})"
                              for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
            await page.goto(f"{office.url}/language/id?back=/")
            await page.goto(f"{office.url}/regions/36.72/billing?year={year}")
            await page.wait_for_selector("#months-table")
            width = "phone" if viewport is PHONE else "desktop"
            await page.screenshot(path=str(ARTIFACTS / f"office-billing-{width}.png"), full_page=True)
            if viewport is PHONE:  # each month's amount due on the screen, not in a column off to the right
                amount = await page.locator("#months-table tbody tr td:nth-child(4)").first.bounding_box()
                assert amount and amount["x"] + amount["width"] <= PHONE["width"], amount
            await page.goto(f"{office.url}/approvals")
            await page.wait_for_selector("dl[data-kind=bpjs_results]")
            if viewport is PHONE:  # the approver sees the figure approved without scrolling sideways
                after = await page.locator("article.change table tbody tr td:nth-child(4)").first.bounding_box()
                assert after and after["x"] + after["width"] <= PHONE["width"], after
                await page.screenshot(path=str(ARTIFACTS / "office-approvals-phone.png"), full_page=True)
            assert "3672010101900001" not in await page.content(), "the approver sees counts, not NIKs"
            await context.close()
        assert found == [], "\n".join(found)
        assert errors == [], errors
