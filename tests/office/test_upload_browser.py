"""The Upload page in a real browser (Debian's chromium driven by Playwright): an operator signs in, uploads a
2,000-row XLSX with a title row and bad rows (a NIK Excel stored as a number among them), watches the progress bar
reach 100%, and downloads the error report, which names the bad rows. Screenshots at desktop and phone width go to
tests/artifacts/office-upload-*.png."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.award.test_dashboard import ARTIFACTS, browser  # noqa: F401  (the fixture)
from tests.office.test_browser import DESKTOP, PHONE, fits, sign_in
from tests.office.upload_sheets import (
    REGENCY,
    SIXTEEN_DIGITS,
    expected_report,
    office_with_enrolment,
    registered_niks,
    report,
    sheet,
)

pytestmark = pytest.mark.browser
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


READ_PROGRESS = """() => {
    const progress = document.querySelector("#progress"), bar = document.querySelector("#progress-bar");
    return [progress?.dataset.status ?? null, progress?.dataset.percent ?? null, bar?.getAttribute("value") ?? null];
}"""


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_an_operator_uploads_2000_rows_watches_the_progress_and_downloads_the_errors(
        browser, isolated_broker, office_settings, backend, tmp_path: Path):  # noqa: F811
    settings = await office_settings(isolated_broker, rate_limit_per_second=10_000, rate_limit_burst=10_000)
    raw, rows, expected = sheet(2000, seed=2026, every=40)
    assert len(expected) == 50 and {code for _, code in expected.values()} >= {"nik_as_number"}
    ARTIFACTS.mkdir(exist_ok=True)
    async with office_with_enrolment(settings) as office:
        url = office.url
        errors: list[str] = []

        phone = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        page = await phone.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await sign_in(page, url, "ops-cilegon")
        await page.click("nav >> text=Unggah Data")
        await page.wait_for_selector("form#upload-form")
        await fits(page)
        await page.screenshot(path=str(ARTIFACTS / "office-upload-phone.png"), full_page=True)
        await phone.close()

        desktop = await browser.new_context(viewport=DESKTOP, accept_downloads=True)
        page = await desktop.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await sign_in(page, url, "ops-cilegon")
        await page.click("nav >> text=Unggah Data")
        await page.set_input_files("#file", files=[{"name": "kader-posyandu-cilegon.xlsx", "mimeType": XLSX,
                                                    "buffer": raw}])
        await page.click("form#upload-form button[type=submit]")
        await page.wait_for_url(f"{url}/regions/{REGENCY}/upload/*")

        # Watch the bar: htmx polls the progress fragment, which reads the import's row in the office's database.
        seen: list[tuple[str, int]] = []
        shot = False
        for _ in range(1200):
            # One read of the page: htmx swaps the fragment in between two separate reads (CI once saw the bar at 75
            # and the figure at 38, from two renders).
            status, percent, value = await page.evaluate(READ_PROGRESS)
            if status and percent is not None:
                seen.append((status, int(percent)))
                assert int(value or 0) == int(percent), "the bar shows the figure"
                if status == "running" and not shot and int(percent) > 0:
                    await page.screenshot(path=str(ARTIFACTS / "office-upload-progress.png"), full_page=True)
                    shot = True
            if status != "running":
                break
            await asyncio.sleep(0.1)
        assert seen[-1] == ("done", 100), seen
        percents = [p for _, p in seen]
        assert percents == sorted(percents), "the bar only moves forward"
        assert seen[0][0] == "running", "the page showed the import while it ran"
        assert await page.inner_text("#percent") == "100%"
        shown = {name: int(await page.inner_text(f"dd[data-count={name}]"))
                 for name in ("accepted", "duplicate", "invalid", "conflict")}
        assert shown == {"accepted": 1950, "duplicate": 0, "invalid": 50, "conflict": 0}
        await page.screenshot(path=str(ARTIFACTS / "office-upload-desktop.png"), full_page=True)

        async with page.expect_download() as waiting:
            await page.click("#error-report")
        download = await waiting.value
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        assert saved.name == "kader-posyandu-cilegon.kesalahan.xlsx"
        found = report(saved.read_bytes())
        assert found == expected_report(expected), "the report names every bad row, its column and the problem"
        assert all(message and " " in message for _, _, message, _ in found)  # a sentence in Bahasa Indonesia
        assert not any(SIXTEEN_DIGITS.search(" ".join(map(str, r))) for r in found), "no NIK in the report"
        good = {str(r[1]) for i, r in enumerate(rows) if i + 4 not in expected}
        assert sorted(await registered_niks(office.enrolment)) == sorted(good)

        # A reload at phone width reads the finished import back from the database.
        await page.set_viewport_size(PHONE)
        await page.reload()
        await page.wait_for_selector("#progress[data-status=done]")
        await fits(page)
        await page.screenshot(path=str(ARTIFACTS / "office-upload-done-phone.png"), full_page=True)
        await page.click("text=English")
        await page.wait_for_selector("text=Download the error report (XLSX)")

        # axe-core on the import page and the Upload page (history and form), phone and desktop, both languages.
        from axe_playwright_python.async_playwright import Axe

        axe, serious = Axe(), []
        import_page = page.url
        for viewport in (PHONE, DESKTOP):
            await page.set_viewport_size(viewport)
            for lang in ("en", "id"):
                await page.goto(f"{url}/language/{lang}?back=/")
                for path in (import_page, f"{url}/regions/{REGENCY}/upload"):
                    await page.goto(path)
                    results = await axe.run(page)
                    serious += [f"{lang} {viewport['width']}px {path}: {v['id']} ({v['impact']})"
                                for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], "\n".join(serious)
        await desktop.close()
        assert errors == [], errors
