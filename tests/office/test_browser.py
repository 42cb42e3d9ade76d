"""The office in a real browser (Debian's chromium driven by Playwright): an operator submits a budget amendment on
a phone, a verifier approves it on a desktop, and the lines reach subsidy. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import pytest

from tests.award.test_dashboard import ARTIFACTS, browser  # noqa: F401  (the fixture)
from tests.office.conftest import PASSWORD, running_office

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 900}


async def sign_in(page, url: str, username: str) -> None:
    await page.goto(f"{url}/")
    await page.wait_for_url("**/sign-in")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}/")


async def fits(page) -> None:
    """Nothing wider than the screen: the page is usable without sideways scrolling."""
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow}px wider than the screen"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_an_operator_submits_on_a_phone_and_a_verifier_approves(browser, isolated_broker,  # noqa: F811
                                                                       office_settings, backend):
    settings = await office_settings(isolated_broker)
    ARTIFACTS.mkdir(exist_ok=True)
    async with running_office(settings, with_subsidy=True) as office:
        year = office.server.runtime.clock.today().year
        url = office.url

        phone = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        page = await phone.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await sign_in(page, url, "ops-cilegon")
        await page.screenshot(path=str(ARTIFACTS / "office-home-phone.png"), full_page=True)
        await fits(page)
        await page.click("nav >> text=Anggaran")
        await page.wait_for_selector("form#amendment")
        rows = page.locator("fieldset.line")
        assert await rows.count() == 1
        first = rows.nth(0)
        await first.locator("input[name=line_id]").fill("apbd-2026")
        await first.locator("select[name=source]").select_option("apbd_kabkota")
        await first.locator("input[name=amount]").fill("1.500.000.000")
        await first.locator("input[name=legal_reference]").fill("Perda Kota Cilegon 5/2025 (APBD)")
        await page.click("text=Tambah baris")  # htmx appends a row from /fragments/line-row
        await rows.nth(1).wait_for()
        second = rows.nth(1)
        await second.locator("input[name=line_id]").fill("csr-bank")
        await second.locator("select[name=source]").select_option("csr")
        await second.locator("input[name=amount]").fill("250000000")
        await second.locator("input[name=legal_reference]").fill("PKS Bank Banten 12/2025")
        await fits(page)
        await page.screenshot(path=str(ARTIFACTS / "office-amendment-phone.png"), full_page=True)
        await page.click("form#amendment button[type=submit]")
        await page.wait_for_selector("text=Perubahan diajukan dan menunggu persetujuan.")
        async with office.subsidy.client(office.admin_key) as http:
            assert (await http.get("/v1/budgets/36.72", params={"year": year})).status_code == 404
        await page.click("text=Persetujuan")
        await page.wait_for_selector("text=Perubahan Anda sendiri")
        assert await page.locator("button[value=approve]").count() == 0, "no approve button on one's own change"
        await page.click("text=Keluar")
        await page.wait_for_url("**/sign-in")
        await phone.close()

        desktop = await browser.new_context(viewport=DESKTOP)
        page = await desktop.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await sign_in(page, url, "ver-cilegon")
        await page.wait_for_selector("text=Menunggu persetujuan Anda")
        await page.click("nav >> text=Persetujuan")
        change = page.locator("article.change[data-status=pending]")
        await change.locator("textarea").fill("Sesuai Perda dan PKS")
        await page.screenshot(path=str(ARTIFACTS / "office-approval.png"), full_page=True)
        await change.locator("button[value=approve]").click()
        await page.wait_for_selector("article.change[data-status=approved]")
        async with office.subsidy.client(office.admin_key) as http:
            budget = (await http.get("/v1/budgets/36.72", params={"year": year})).json()
        assert budget["allocation_rupiah"] == 1_750_000_000
        await page.click("nav >> text=Anggaran")
        await page.wait_for_selector("#lines-table tr[data-line=csr-bank]")
        assert "Rp1.750.000.000" in await page.inner_text("main")
        await page.screenshot(path=str(ARTIFACTS / "office-budget.png"), full_page=True)
        await page.click("text=English")
        await page.wait_for_selector("h1:has-text('Budget')")
        await page.click("nav >> text=Audit trail")
        await page.wait_for_selector("#audit-table tr[data-action=change_approved]")
        await page.screenshot(path=str(ARTIFACTS / "office-audit.png"), full_page=True)
        await page.set_viewport_size(PHONE)
        await fits(page)
        await page.screenshot(path=str(ARTIFACTS / "office-audit-phone.png"), full_page=True)
        await desktop.close()
        assert errors == [], errors


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_main_pages_have_no_serious_accessibility_violations(browser, isolated_broker,  # noqa: F811
                                                                        office_settings, backend):
    """axe-core (axe-playwright-python bundles it) on every main page, at phone and desktop width, in both languages:
    no violation of serious or critical impact."""
    from axe_playwright_python.async_playwright import Axe

    settings = await office_settings(isolated_broker)
    axe = Axe()
    async with running_office(settings, with_subsidy=True) as office:
        year = office.server.runtime.clock.today().year
        # A pending amendment, so Approvals shows its difference and the decision form.
        from services.office import service

        database, clock = office.server.runtime.database, office.server.runtime.clock
        operator = next(row.staff for row in await service.list_staff(database) if row.staff.username == "ops-cilegon")
        await service.submit_budget_lines(database, clock, operator, None, "36.72", year,
                                          [service.Line("apbd", "apbd_kabkota", 16_800_000, "Perda 1/2025")], [])
        found: list[str] = []
        for viewport in (PHONE, DESKTOP):
            context = await browser.new_context(viewport=viewport)
            page = await context.new_page()
            await page.goto(f"{office.url}/sign-in")
            pages = ["/sign-in"]
            await sign_in(page, office.url, "admin")
            pages += ["/?region=36.72", f"/regions/36.72/budget?year={year}", "/approvals", "/regions/36.72/audit",
                      "/audit", "/staff"]
            for lang in ("id", "en"):
                await page.goto(f"{office.url}/language/{lang}?back=/")
                for path in pages[1:]:
                    await page.goto(f"{office.url}{path}")
                    results = await axe.run(page)
                    found += [f"{lang} {viewport['width']}px {path}: {v['id']} ({v['impact']})"
                              for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
            await context.close()
        anonymous = await browser.new_context(viewport=PHONE)
        page = await anonymous.new_page()
        await page.goto(f"{office.url}/sign-in")
        results = await axe.run(page)
        found += [f"sign-in: {v['id']} ({v['impact']})" for v in results.response["violations"]
                  if v["impact"] in ("serious", "critical")]
        await anonymous.close()
        assert found == [], "\n".join(found)
