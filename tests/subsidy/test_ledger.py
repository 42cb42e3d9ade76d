"""Month-by-month pricing, releases, and the monthly close with late changes, through the running service."""

from datetime import datetime

from sqlalchemy import update

from paritrana.invariants import check
from services.award.app import MIGRATIONS as AWARD_MIGRATIONS
from services.enrolment.app import MIGRATIONS as ENROLMENT_MIGRATIONS
from services.subsidy.app import create_app
from services.subsidy.models import invoices
from shared.clock import FISCAL_TZ
from shared.database import Database
from shared.settings import Settings
from tests.subsidy.workers import MONTHLY, api_key, decided, ended, lines, publish, published, registered
from tests.support import eventually, serving

RELAXED = 100 + 68  # PP 49/2020: JKK and JKM at 1% from August 2020 to January 2021

BILLED = ("members", "amount_rupiah", "adjustment_members", "adjustment_rupiah", "amount_due_rupiah")


def billed(line: dict) -> tuple[int, ...]:
    """What a ledger month and an invoice line must agree on."""
    return tuple(line[k] for k in BILLED)


async def test_coverage_across_a_rate_change_is_priced_month_by_month(isolated_broker, make_settings):
    settings = await make_settings(isolated_broker)
    admin = await api_key(settings, ["admin"], ["*"])
    summer = registered("36.72", year=2020, start=6, months=7)  # June..December 2020
    late = registered("36.72", year=2020, start=11, months=6)  # coverage stops at December
    async with serving(create_app, settings) as server:
        server.runtime.clock.set(datetime(2020, 6, 5, 9, tzinfo=FISCAL_TZ))
        async with server.client(admin) as http:
            assert (await http.put("/v1/budgets/36.72/2020/lines", json=lines(10_000_000))).status_code == 200
            await publish(settings, [summer, late])
            await eventually(lambda: decided(server.runtime.database, 2))
            out = {str(e.data.registration_id): e.data for e in await published(settings, server.runtime.database)
                   if e.type == "subsidy.granted"}
            rates = (await http.get("/v1/rates", params={"year": 2020})).json()
            ledger = (await http.get("/v1/ledger/36.72/2020")).json()
            budget = (await http.get("/v1/budgets/36.72", params={"year": 2020})).json()

    first = out[str(summer.data.registration_id)]
    assert [(m.month, m.amount_rupiah) for m in first.schedule] == [
        (6, MONTHLY), (7, MONTHLY), (8, RELAXED), (9, RELAXED), (10, RELAXED), (11, RELAXED), (12, RELAXED)]
    assert first.amount_rupiah == 2 * MONTHLY + 5 * RELAXED == 34_440
    assert first.funding_region_code == "36.72" and first.funding_line_id == "apbd-0"
    second = out[str(late.data.registration_id)]
    assert (second.start_month, second.months, second.amount_rupiah) == (11, 2, 2 * RELAXED)
    assert [m["amount_rupiah"] for m in rates["monthly"]] == [MONTHLY] * 7 + [RELAXED] * 5
    assert rates["monthly"][0]["amount"] == "Rp16.800"
    assert [(m["members"], m["amount_rupiah"]) for m in ledger["months"][5:]] == [
        (1, MONTHLY), (1, MONTHLY), (1, RELAXED), (1, RELAXED), (1, RELAXED), (2, 2 * RELAXED), (2, 2 * RELAXED)]
    assert budget["committed_rupiah"] == 34_440 + 2 * RELAXED
    assert budget["formatted"]["committed"] == "Rp34.776"


async def test_ending_a_worker_releases_exactly_the_months_after_the_end(isolated_broker, make_settings):
    settings = await make_settings(isolated_broker)
    admin = await api_key(settings, ["admin"], ["*"])
    worker, other = registered("32.75"), registered("32.75", start=3, months=4)  # Jan..Dec, Mar..Jun
    async with serving(create_app, settings) as server:
        server.runtime.clock.set(datetime(2024, 2, 20, 9, tzinfo=FISCAL_TZ))
        async with server.client(admin) as http:
            assert (await http.put("/v1/budgets/32.75/2024/lines", json=lines(5_000_000))).status_code == 200
            await publish(settings, [worker, other])
            await eventually(lambda: decided(server.runtime.database, 2))
            # Ended after June; the other ends in May, before its June; ending it again releases nothing more.
            await publish(settings, [ended(worker, 6), ended(other, 5), ended(other, 5)])
            events = await eventually(lambda: _released(settings, server.runtime.database, 3), timeout=30)
            budget = (await http.get("/v1/budgets/32.75", params={"year": 2024})).json()
            ledger = (await http.get("/v1/ledger/32.75/2024")).json()

    first, second, again = events
    assert [m.month for m in first.schedule] == [7, 8, 9, 10, 11, 12]
    assert (first.months_released, first.amount_rupiah, first.end_month) == (6, 6 * MONTHLY, 6)
    assert [(m.month, m.amount_rupiah) for m in second.schedule] == [(6, MONTHLY)]
    assert (again.months_released, again.amount_rupiah) == (0, 0)
    assert budget["committed_rupiah"] == 6 * MONTHLY + 3 * MONTHLY
    assert budget["funded_members"] == 2
    assert [m["members"] for m in ledger["months"]] == [1, 1, 2, 2, 2, 1, 0, 0, 0, 0, 0, 0]
    assert ledger["total_rupiah"] == 9 * MONTHLY


async def _released(settings, database, n: int):
    out = [e.data for e in await published(settings, database) if e.type == "subsidy.released"]
    return out if len(out) >= n else None


async def test_a_late_end_after_the_close_becomes_an_adjustment_in_the_next_open_month(isolated_broker,
                                                                                      make_settings):
    settings = await make_settings(isolated_broker)
    admin = await api_key(settings, ["admin"], ["*"])
    workers = [registered("36.73") for _ in range(3)]
    async with serving(create_app, settings) as server:
        server.runtime.clock.set(datetime(2024, 4, 3, 9, tzinfo=FISCAL_TZ))
        async with server.client(admin) as http:
            assert (await http.put("/v1/budgets/36.73/2024/lines", json=lines(10_000_000))).status_code == 200
            await publish(settings, workers)
            await eventually(lambda: decided(server.runtime.database, 3))

            assert (await http.post("/v1/billing/2024/5/close")).status_code == 409  # May has not begun
            closed = (await http.post("/v1/billing/2024/3/close")).json()
            assert closed["closed_now"] is True and closed["status"] == "closed"
            assert [(i["region_code"], i["members"], i["amount_due_rupiah"]) for i in closed["invoices"]] == [
                ("36.73", 3, 3 * MONTHLY)]
            again = (await http.post("/v1/billing/2024/3/close")).json()
            assert again["closed_now"] is False and again["invoices"] == closed["invoices"]

            # News arrives that one worker left at the end of February: March was already invoiced.
            await publish(settings, [ended(workers[0], 2)])
            await eventually(lambda: _released(settings, server.runtime.database, 1), timeout=30)

            march = (await http.get("/v1/invoices/2024/3")).json()
            april = (await http.get("/v1/invoices/2024/4")).json()
            ledger = (await http.get("/v1/ledger/36.73/2024")).json()
            closed_april = (await http.post("/v1/billing/2024/4/close")).json()

    assert march["invoices"] == closed["invoices"]  # a closed invoice is never rewritten
    assert april["status"] == "open"
    [line] = april["invoices"]
    assert (line["members"], line["amount_rupiah"]) == (2, 2 * MONTHLY)
    assert (line["adjustment_members"], line["adjustment_rupiah"]) == (-1, -MONTHLY)
    assert line["amount_due_rupiah"] == MONTHLY and line["amount_due"] == "Rp16.800"
    # The ledger shows March as invoiced and the late end once, as April's adjustment.
    march_row, april_row = ledger["months"][2], ledger["months"][3]
    assert march_row["closed"] is True and billed(march_row) == billed(march["invoices"][0])
    assert april_row["closed"] is False and billed(april_row) == billed(line)
    assert ledger["member_months"] == 3 + 3 + 3 + (2 - 1) + 2 * 8 == 2 * 12 + 2
    assert ledger["total_rupiah"] == 26 * MONTHLY
    assert [(a["covered_month"], a["billed_month"], a["amount_rupiah"]) for a in ledger["adjustments"]] == [
        ("2024-03", "2024-04", -MONTHLY)]
    assert closed_april["invoices"][0]["amount_due_rupiah"] == MONTHLY


async def test_a_late_registration_after_the_close_is_billed_once_as_on_the_invoices(isolated_broker,
                                                                                       make_settings):
    settings = await make_settings(isolated_broker)
    admin = await api_key(settings, ["admin"], ["*"])
    first, late = registered("36.72", start=11, months=2), registered("36.72", start=11, months=2)  # Nov..Dec
    async with serving(create_app, settings) as server:
        server.runtime.clock.set(datetime(2024, 12, 2, 9, tzinfo=FISCAL_TZ))
        async with server.client(admin) as http:
            assert (await http.put("/v1/budgets/36.72/2024/lines", json=lines(10_000_000))).status_code == 200
            await publish(settings, [first])
            await eventually(lambda: decided(server.runtime.database, 1))
            november = (await http.post("/v1/billing/2024/11/close")).json()

            # A registration covering November arrives after November was invoiced.
            await publish(settings, [late])
            await eventually(lambda: decided(server.runtime.database, 2))
            ledger = (await http.get("/v1/ledger/36.72/2024")).json()
            invoices = {m: (await http.get(f"/v1/invoices/2024/{m}")).json() for m in range(1, 13)}
            again = (await http.post("/v1/billing/2024/11/close")).json()
            december = (await http.post("/v1/billing/2024/12/close")).json()
            after = (await http.get("/v1/ledger/36.72/2024")).json()

    [frozen] = november["invoices"]
    assert (frozen["members"], frozen["amount_due_rupiah"]) == (1, MONTHLY)
    assert invoices[11]["invoices"] == november["invoices"]
    nov, dec = ledger["months"][10], ledger["months"][11]
    assert nov["closed"] is True and billed(nov) == billed(frozen) == (1, MONTHLY, 0, 0, MONTHLY)
    [open_december] = invoices[12]["invoices"]
    assert dec["closed"] is False and billed(dec) == billed(open_december) == (2, 2 * MONTHLY, 1, MONTHLY,
                                                                               3 * MONTHLY)
    assert [(a["covered_month"], a["billed_month"], a["amount_rupiah"]) for a in ledger["adjustments"]] == [
        ("2024-11", "2024-12", MONTHLY)]
    assert ledger["total_rupiah"] == sum(i["total_due_rupiah"] for i in invoices.values()) == 4 * MONTHLY == 67_200
    assert ledger["member_months"] == 4 and ledger["total"] == "Rp67.200"

    # Closing November again changes nothing; closing December freezes what the ledger showed.
    assert again["closed_now"] is False and again["invoices"] == november["invoices"]
    [frozen_december] = december["invoices"]
    assert billed(frozen_december) == billed(dec)
    assert after["months"][11]["closed"] is True
    assert [billed(m) for m in after["months"]] == [billed(m) for m in ledger["months"]]
    assert after["total_rupiah"] == 67_200


async def _migrate_the_other_services(settings: Settings) -> None:
    """`paritrana check` reads enrolment's and award's databases too: here they are empty."""
    for name, migrations in (("enrolment", ENROLMENT_MIGRATIONS), ("award", AWARD_MIGRATIONS)):
        database = Database(settings.database_url(name), migrations=migrations, version_table=f"alembic_version_{name}")
        try:
            await database.migrate()
        finally:
            await database.dispose()


async def test_paritrana_check_holds_across_the_year_end_and_finds_an_invoice_that_disagrees(isolated_broker,
                                                                                            make_settings):
    settings = await make_settings(isolated_broker)
    await _migrate_the_other_services(settings)
    admin = await api_key(settings, ["admin"], ["*"])
    stays, leaves = registered("36.72", start=11, months=2), registered("36.72", start=11, months=2)  # Nov..Dec
    async with serving(create_app, settings) as server:
        server.runtime.clock.set(datetime(2024, 12, 2, 9, tzinfo=FISCAL_TZ))
        async with server.client(admin) as http:
            assert (await http.put("/v1/budgets/36.72/2024/lines", json=lines(10_000_000))).status_code == 200
            await publish(settings, [stays, leaves])
            await eventually(lambda: decided(server.runtime.database, 2))
            for month in (11, 12):
                assert (await http.post(f"/v1/billing/2024/{month}/close")).json()["closed_now"] is True

            # News arrives that one of them left at the end of October: both months it covered were invoiced.
            await publish(settings, [ended(leaves, 10)])
            await eventually(lambda: _released(settings, server.runtime.database, 1), timeout=30)
            this_year = (await http.get("/v1/ledger/36.72/2024")).json()
            next_year = (await http.get("/v1/ledger/36.72/2025")).json()
            january = (await http.get("/v1/invoices/2025/1")).json()

    assert this_year["total_rupiah"] == 4 * MONTHLY and this_year["member_months"] == 4  # as invoiced
    [line] = january["invoices"]
    assert billed(next_year["months"][0]) == billed(line) == (0, 0, -2, -2 * MONTHLY, -2 * MONTHLY)
    assert next_year["total_rupiah"] == -2 * MONTHLY and next_year["member_months"] == -2
    assert (await check(settings)).ledger_mismatches == []

    # A frozen invoice that says more than was covered: the ledger shows it as invoiced, member-months do not.
    subsidy = Database(settings.database_url("subsidy"))
    try:
        async with subsidy.transaction() as session:
            await session.execute(update(invoices).where(invoices.c.fiscal_year == 2024, invoices.c.month == 11)
                                  .values(amount_rupiah=invoices.c.amount_rupiah + MONTHLY,
                                          amount_due_rupiah=invoices.c.amount_due_rupiah + MONTHLY))
    finally:
        await subsidy.dispose()
    report = await check(settings)
    assert report.ledger_mismatches == [
        "36.72/2024: ledger 84000, invoices 84000, 4 member-months at the rates in force 67200"]
    assert not report.holds and report.lines()[-1] == "INVARIANTS BROKEN"
    assert "ledger mismatches (1): " + report.ledger_mismatches[0] in report.lines()
