"""The field kit at /kit/ in a real browser (Debian's chromium driven by Playwright), at a phone's width, against a
real enrolment service reached through a link the test can cut: pairing, capture without signal, a reload while
offline, the queue draining in batches, each item's answer, a cut connection and a correction."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import date, timedelta

import pytest
from lokal import parse_nik
from sqlalchemy import func, select

from services.enrolment.app import create_app
from services.enrolment.domain import IntakeForm, IntakeRules, judge_intake
from services.enrolment.models import registrations
from services.subsidy.app import create_app as create_subsidy
from shared.clock import Clock
from tests.award.test_api import issue_key
from tests.award.test_dashboard import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, browser  # noqa: F401  (the fixture)
from tests.enrolment.sample import item, synthetic_nik
from tests.support import serving

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 780}


@pytest.fixture(autouse=True)
def on_sqlite(backend: str) -> None:
    if backend == "postgresql":
        pytest.skip("the kit's browser tests run once, on SQLite; the batch intake is tested on both backends")
REGENCY = "36.72"  # Kota Cilegon
REQUEST_LINE = re.compile(rb"(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP/1\.1\r\n")
NAMES = ["Siti Aminah", "Budi Santoso", "Dewi Lestari", "Agus Salim", "Rina Wati", "Joko Susilo", "Sri Mulyani",
         "Eko Prasetyo", "Wati Ningsih", "Hendra Gunawan"]


class KitLink:
    """A TCP proxy between the phone and the service, as a village's signal is: it notes every request line, can
    cut the answers to batch uploads after the service has done the work, and counts how many uploads are in
    flight at once. The upstream can change, so the service can restart behind the same origin."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests: list[tuple[str, str]] = []
        self.cutting = False
        self.down = False  # no signal at all: every connection is dropped at once
        self.in_flight = self.most_in_flight = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    def batches(self) -> int:
        return sum(1 for method, path in self.requests if (method, path) == ("POST", "/v1/registrations/batch"))

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.down:
            client_writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.transport.abort()
            return
        awaiting: list[bool] = []  # per batch upload on this connection, oldest first: cut its answer?

        async def upstream() -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await client_reader.read(65536):
                    for match in REQUEST_LINE.finditer(data):
                        request = (match.group(1).decode(), match.group(2).decode())
                        self.requests.append(request)
                        if request == ("POST", "/v1/registrations/batch"):
                            self.in_flight += 1
                            self.most_in_flight = max(self.most_in_flight, self.in_flight)
                            awaiting.append(self.cutting)
                    up_writer.write(data)
                    await up_writer.drain()
            up_writer.close()

        async def downstream() -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await up_reader.read(65536):
                    if awaiting:
                        self.in_flight -= 1
                        if awaiting.pop(0):
                            client_writer.transport.abort()  # the service answered; the phone never hears it
                            up_writer.close()
                            return
                    client_writer.write(data)
                    await client_writer.drain()
            client_writer.close()

        await asyncio.gather(upstream(), downstream())


def born(years: int, days: int = 40) -> date:
    return date.today() - timedelta(days=round(years * 365.25) + days)


async def count_registrations(server) -> int:
    async with server.runtime.database.reading() as session:
        return (await session.execute(select(func.count()).select_from(registrations))).scalar_one()


async def registered_ids(server) -> set[str]:
    async with server.runtime.database.reading() as session:
        return set((await session.execute(select(registrations.c.registration_id))).scalars())


async def pair(browser, link_url: str, secret: str):  # noqa: F811
    context = await browser.new_context(viewport=PHONE)
    return context, await open_pairing_link(context, link_url, secret)


async def open_pairing_link(context, link_url: str, secret: str):
    page = context.pages[0] if context.pages else await context.new_page()
    await page.goto(f"{link_url}/kit/#pair={secret}")
    await page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    await page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)
    return page


async def counts(page) -> dict[str, int]:
    return {state: int(await page.text_content(f"#count-{state}"))
            for state in ("waiting", "sent", "to_correct", "conflict")}


async def wait_counts(page, expected: dict[str, int], timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (seen := await counts(page)) != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the kit shows {seen}, not {expected}")
        await asyncio.sleep(0.2)


async def wait_text_count(page, *texts: str, total: int, timeout: float = 60) -> list[str]:
    """Until the sent items' states name one of `texts` `total` times, asking the kit to sync meanwhile."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        states = await page.eval_on_selector_all("#queue-list li[data-state=sent] .state",
                                                 "nodes => nodes.map(n => n.textContent)")
        if sum(any(t in s for t in texts) for s in states) == total:
            return states
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the sent items say {states}")
        await page.click("#send-now")
        await asyncio.sleep(1)


async def capture(page, nik: str, name: str, phone: str | None = None, category: str = "posyandu_cadre") -> None:
    before = (await counts(page))["waiting"]
    await page.fill("#f-nik", nik)
    await page.fill("#f-name", name)
    await page.fill("#f-phone", phone or "")
    await page.select_option("#f-category", category)
    await page.click("#save")
    await page.wait_for_function(f"document.querySelector('#count-waiting').textContent === '{before + 1}'",
                                 timeout=10_000)


async def test_offline_round_trip_then_a_correction(isolated_broker, make_settings, browser):  # noqa: F811
    """30 captured without signal (3 the service will refuse, 1 NIK it already holds), a reload while offline, then
    the queue drains: 26 accepted, 3 back for correction with the service's message, 1 conflict naming the
    registration it holds. The subsidy service funds 20 of the 26 and refuses 6, and the kit shows it. A corrected
    one is accepted on the next sync."""
    limits = {"rate_limit_per_second": 1000, "rate_limit_burst": 1000}
    settings = await make_settings(isolated_broker, **limits)
    admin = await issue_key(settings, ["admin"], ["*"])
    year = date.today().year
    months = 13 - date.today().month  # the kit's default coverage: the rest of the year
    async with serving(create_subsidy, settings) as subsidy, subsidy.client(admin) as client:
        lines = {"lines": [{"line_id": f"apbd-{year}", "source": "apbd_kabkota", "amount_rupiah": 20 * months * 16_800,
                            "legal_reference": f"Perda Kota Cilegon (APBD {year})"}]}
        assert (await client.put(f"/v1/budgets/{REGENCY}/{year}/lines", json=lines)).status_code == 200
        await round_trip(isolated_broker, make_settings, browser, settings, limits)


async def round_trip(broker, make_settings, browser, settings, limits):  # noqa: F811
    async with serving(create_app, settings) as first:
        issued = await first.runtime.access.create("kit-0042 Cilegon", "field_kit",
                                                   ["registrations:write", "registrations:read"], [REGENCY])
        twin_nik = synthetic_nik("367201", birth=born(40))
        async with first.client(issued.secret) as api:  # registered by a partner app before the kit syncs
            already = item(REGENCY, nik=twin_nik, coverage={"start_month": f"{date.today():%Y-%m}",
                                                            "months": 13 - date.today().month},
                           captured_at=f"{date.today():%Y-%m-%d}T08:00:00+07:00")
            assert (await api.post("/v1/registrations", json=already)).status_code == 201, "setup"
        link = KitLink(first.port)
        kit_url = await link.start()
        context, page = await pair(browser, kit_url, issued.secret)
        # The key left the address at once, and never went over the wire in a URL.
        assert page.url == f"{kit_url}/kit/"
        assert await page.evaluate("history.length") == 2  # the blank tab, then the kit: the pairing link's own
        await page.go_back()                               # entry was replaced, not added to
        assert page.url == "about:blank"
        await page.go_forward()
        await page.wait_for_selector("body[data-ready=true]", timeout=20_000)
        assert page.url == f"{kit_url}/kit/"
        assert not any("prt_" in path for _method, path in link.requests)
        await page.wait_for_selector("#f-regency option[value='36.72']", state="attached")

        await context.set_offline(True)
        link.requests.clear()
        people = []
        for n in range(26):
            female = n % 2 == 1
            people.append((synthetic_nik("367201", birth=born(20 + n), female=female),
                           f"{NAMES[n % 10]} {'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[n]}", "0812-3456-78" + f"{n:02d}"))
        # Aged 61 to 63: the kit's rules (up to 65) take them; while the kit is away the service lowers the bound.
        for n in range(3):
            people.append((synthetic_nik("367202", birth=born(61 + n)), f"Pak Tua {'XYZ'[n]}", None))
        people.append((twin_nik, "Siti Contoh", None))
        for nik, name, phone in people:
            await capture(page, nik, name, phone)
        # The NIK readout, the queued-twice flag, and the form at a phone's width.
        await page.fill("#f-nik", people[0][0])
        await page.wait_for_selector("#nik-queued:not([hidden])")
        await page.fill("#f-name", "Orang Lain")
        await page.select_option("#f-category", "linmas")
        await page.click("#save")  # refused: the NIK is queued already
        await asyncio.sleep(0.5)
        assert await page.locator("#count-waiting").text_content() == "30"
        await page.click("#nik-queued button")  # shows the queued one, which is not edited once saved
        await page.wait_for_selector("#queue-list li.found[data-state=waiting]")
        await page.click("#tabs button[data-view=form]")
        await page.fill("#f-nik", synthetic_nik("367201", birth=born(33), female=True))
        await page.fill("#f-name", "Nur Hidayah")
        await page.fill("#f-phone", "0857 1234 5678")
        await page.select_option("#f-category", "linmas")
        await page.wait_for_selector("#nik-readout[data-sex=P]")
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "kit-form-phone.png"), full_page=True)

        await page.reload()  # offline: the shell from the service worker, the queue and the draft from IndexedDB
        await page.wait_for_selector("body[data-ready=true]", timeout=20_000)
        await wait_counts(page, {"waiting": 30, "sent": 0, "to_correct": 0, "conflict": 0})
        assert await page.input_value("#f-name") == "Nur Hidayah"  # the draft typed before the reload
        await page.click("#clear")
        await page.click("#tabs button[data-view=queue]")
        await page.wait_for_function("document.querySelectorAll('#queue-list li[data-state=waiting]').length === 30")
        # Only the browser's own check for a newer service worker, which Playwright's offline switch does not cover.
        assert set(link.requests) <= {("GET", "/kit/sw.js")}, "the kit reached the service while offline"
        assert await count_registrations(first) == 1

    stricter = await make_settings(broker, **limits, enrolment_max_age=60)
    async with serving(create_app, stricter) as second:
        link.upstream_port = second.port
        await context.set_offline(False)
        await wait_counts(page, {"waiting": 0, "sent": 26, "to_correct": 3, "conflict": 1})
        assert await count_registrations(second) == 1 + 26
        assert link.most_in_flight == 1
        conflict = page.locator("#queue-list li[data-state=conflict]")
        assert already["registration_id"] in await conflict.text_content()
        # The later status, read with the key's read scope. The budget funds 20: the partner app's registration,
        # decided first, and 19 of the kit's; the other 7 wait for more budget (the budget's policy is to wait).
        states = await wait_text_count(page, "Didanai", "Menunggu tambahan anggaran", total=26)
        assert sum("Didanai" in s for s in states) == 19
        assert sum("Menunggu tambahan anggaran" in s for s in states) == 7
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await page.screenshot(path=str(ARTIFACTS / "kit-queue-phone.png"), full_page=True)

        # The officer opens one sent back, reads the service's message, and fixes the mistyped birth year.
        to_fix = page.locator("#queue-list li[data-state=to_correct]").first
        fix_id = await to_fix.get_attribute("data-id")
        assert "age_out_of_range" in await to_fix.text_content()
        await to_fix.locator("button.correct").click()
        await page.wait_for_selector(".field-error[data-for=nik]:not(:empty)")
        assert "60 years old" in await page.text_content(".field-error[data-for=nik]")
        await page.screenshot(path=str(ARTIFACTS / "kit-error-phone.png"), full_page=True)
        await page.fill("#f-nik", synthetic_nik("367202", birth=born(31)))
        await page.click("#save")
        await wait_counts(page, {"waiting": 0, "sent": 27, "to_correct": 2, "conflict": 1})
        assert fix_id in await registered_ids(second)
        assert await count_registrations(second) == 1 + 27
        await context.close()
    await link.stop()


async def test_a_cut_connection_mid_batch_duplicates_nothing(broker, make_settings, browser):  # noqa: F811
    """The link drops the answer to every upload after the service stored it: the kit says it is stuck and keeps
    backing off, one upload in flight. When the link recovers, the next try learns every item was already
    accepted: nothing is stored twice, and every item ends sent. Then unpairing wipes the key and the data."""
    settings = await make_settings(broker, rate_limit_per_second=1000, rate_limit_burst=1000)
    async with serving(create_app, settings) as server:
        issued = await server.runtime.access.create("kit-0043 Cilegon", "field_kit", ["registrations:write"],
                                                    [REGENCY])
        link = KitLink(server.port)
        kit_url = await link.start()
        context, page = await pair(browser, kit_url, issued.secret)
        # Persistent storage refused (as headless Chromium does unless the site is installed): the officer is told.
        persisted = await page.evaluate("navigator.storage.persisted()")
        assert await page.locator("#storage-warning").count() == (0 if persisted else 1)
        await page.click("#language")  # English on the switch, and back
        await page.wait_for_function("document.querySelector('#save').textContent === 'Save to queue'")
        assert await page.get_attribute("html", "lang") == "en"
        assert "Queue" in await page.text_content("#tabs")
        await page.click("#language")
        await page.wait_for_function("document.querySelector('#save').textContent === 'Simpan ke antrean'")
        await context.set_offline(True)
        for n in range(10):
            await capture(page, synthetic_nik("367203", birth=born(25 + n)), f"{NAMES[n]} Kit", None)
        link.cutting = True
        await context.set_offline(False)
        # Every upload reaches the service and its answer is lost: after three failed tries the kit says it is stuck.
        await page.wait_for_selector("#sync-trouble.stuck:not([hidden])", timeout=30_000)
        assert await count_registrations(server) == 10
        assert await counts(page) == {"waiting": 10, "sent": 0, "to_correct": 0, "conflict": 0}
        cut = link.batches()
        link.cutting = False
        await wait_counts(page, {"waiting": 0, "sent": 10, "to_correct": 0, "conflict": 0}, timeout=90)
        await page.wait_for_selector("#sync-trouble[hidden]", state="attached")
        assert cut < link.batches() <= cut + 2 and link.most_in_flight == 1  # no storm of retries
        await page.click("#tabs button[data-view=queue]")
        await page.wait_for_function("document.querySelectorAll('#queue-list li').length === 10")
        kit_ids = set(await page.eval_on_selector_all("#queue-list li", "items => items.map(i => i.dataset.id)"))
        assert await page.locator("#queue-list li[data-state=sent]").count() == 10
        assert await registered_ids(server) == kit_ids and await count_registrations(server) == 10
        assert "sudah diterima sebelumnya" in await page.text_content("#queue-list")  # answered as duplicates

        await page.click("#tabs button[data-view=device]")
        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.click("#unpair")
        await page.wait_for_selector("#pairing:not([hidden])")
        stored = await page.evaluate("""async () => {
            const names = (await indexedDB.databases()).map(d => d.name);
            return {databases: names, caches: await caches.keys()};
        }""")
        assert "paritrana-kit" not in stored["databases"] or await page.evaluate("""() => new Promise(done => {
            const open = indexedDB.open('paritrana-kit');
            open.onsuccess = () => done(open.result.objectStoreNames.length === 0);
        })""")
        assert "kit-reference" not in stored["caches"]
        await context.close()
        await link.stop()


async def test_closing_the_browser_offline_loses_nothing(broker, make_settings, tmp_path):
    """The browser closed without signal, as a phone restarted in the field: opened again, still offline, the kit
    starts from its service worker with the queue and the draft, then sends when the signal returns. A revoked
    key is then shown as such."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    settings = await make_settings(broker)
    async with serving(create_app, settings) as server, playwright_api.async_playwright() as playwright:
        issued = await server.runtime.access.create("kit-0045 Cilegon", "field_kit", ["registrations:write"],
                                                    [REGENCY])
        link = KitLink(server.port)
        kit_url = await link.start()
        phone = {"user_data_dir": str(tmp_path / "phone"), "executable_path": CHROMIUM, "args": CHROMIUM_ARGS,
                 "headless": True, "viewport": PHONE}
        context = await playwright.chromium.launch_persistent_context(**phone)
        page = await open_pairing_link(context, kit_url, issued.secret)
        await context.set_offline(True)
        for n in range(2):
            await capture(page, synthetic_nik("367204", birth=born(30 + n)), f"{NAMES[n]} Ponsel")
        await page.fill("#f-name", "Setengah Diketik")
        await context.close()

        # Started again with no signal at all: Playwright's offline switch does not hold a service worker that
        # starts with the browser, so the link is down too.
        link.down = True
        context = await playwright.chromium.launch_persistent_context(**phone, offline=True)
        page = context.pages[0] if context.pages else await context.new_page()
        await page.goto(f"{kit_url}/kit/")
        await page.wait_for_selector("body[data-ready=true]", timeout=20_000)
        await wait_counts(page, {"waiting": 2, "sent": 0, "to_correct": 0, "conflict": 0})
        assert await page.input_value("#f-name") == "Setengah Diketik"
        assert await page.is_visible("#f-regency")  # the form, from the reference data the worker kept
        link.down = False
        await context.set_offline(False)
        await wait_counts(page, {"waiting": 0, "sent": 2, "to_correct": 0, "conflict": 0})
        assert await count_registrations(server) == 2

        # The key revoked (a phone lost, say): the kit says so plainly instead of retrying in silence.
        assert await server.runtime.access.revoke(issued.key_id)
        await capture(page, synthetic_nik("367204", birth=born(40)), "Siti Dicabut")
        await page.wait_for_selector("#sync-trouble.stuck:not([hidden])", timeout=15_000)
        assert "pasangkan ulang" in await page.text_content("#sync-trouble")
        assert await counts(page) == {"waiting": 1, "sent": 2, "to_correct": 0, "conflict": 0}
        await context.close()
        await link.stop()


NIK_CASES = [
    ("a man of 40", synthetic_nik("367201", birth=born(40))),
    ("a woman of 30 (day + 40)", synthetic_nik("367201", birth=born(30), female=True)),
    ("issued elsewhere (Kota Bandung)", synthetic_nik("327301", birth=born(45))),
    ("unknown district", synthetic_nik("369901", birth=born(45))),
    ("province 00", synthetic_nik("000101", birth=born(45))),
    ("31 February", "3672013102900001"),
    ("day 72 (a woman's 32nd)", "3672017201900001"),
    ("month 13", "3672011513900001"),
    ("serial 0000", synthetic_nik("367201", birth=born(40))[:12] + "0000"),
    ("aged 17", synthetic_nik("367201", birth=born(17))),
    ("aged 66", synthetic_nik("367201", birth=born(66))),
    ("born tomorrow", f"367201{date.today() + timedelta(days=1):%d%m%y}0001"),
    ("15 digits", "367201010190001"),
]


async def test_the_kit_reads_a_nik_as_the_service_does(broker, make_settings, browser):  # noqa: F811
    settings = await make_settings(broker)
    rules = IntakeRules.from_settings(settings)
    async with serving(create_app, settings) as server:
        issued = await server.runtime.access.create("kit-0044", "field_kit", ["registrations:write"], [REGENCY])
        context, page = await pair(browser, server.url, issued.secret)
        now = Clock(settings.clock_start).now()
        for label, nik in NIK_CASES:
            await page.fill("#f-nik", nik)
            _, problems = judge_intake(IntakeForm(complete=False, nik=nik if len(nik) == 16 else None), rules, now)
            service = sorted(p.code for p in problems if p.field == "nik") if len(nik) == 16 else ["nik_format"]
            if len(nik) != 16:
                assert await page.is_hidden("#nik-readout"), label
                continue
            readout = page.locator("#nik-readout")
            kit = sorted(await readout.locator("[data-code]").evaluate_all("nodes => nodes.map(n => n.dataset.code)"))
            assert kit == service, f"{label}: the kit says {kit}, the service {service}"
            if not service:
                parsed = parse_nik(nik, reference_date=now.date())
                assert await readout.get_attribute("data-sex") == parsed.gender, label
                assert await readout.get_attribute("data-birth") == parsed.birth_date, label
        await context.close()
