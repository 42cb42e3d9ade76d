"""A short demo on the real stack (three services, real broker and databases) leaves every invariant intact."""

import asyncio

from paritrana.client import AsyncClient
from paritrana.demo import DEMO_YEAR, Demo
from paritrana.invariants import check_databases
from services.award.app import create_app as award_app
from services.enrolment.app import create_app as enrolment_app
from services.subsidy.app import create_app as subsidy_app
from tests.support import eventually, serving


async def test_a_short_demo_keeps_every_invariant(isolated_broker, make_settings):
    # A broker of its own: award counts whatever is on the topics, and the recount knows only this run's databases.
    settings = await make_settings(isolated_broker, rate_limit_per_second=1000, rate_limit_burst=1000)
    async with serving(enrolment_app, settings) as enrolment, serving(subsidy_app, settings) as subsidy, \
            serving(award_app, settings) as award:
        admin = await enrolment.runtime.access.create("demo", "staff", ["admin"], ["*"])
        urls = {"enrolment": enrolment.url, "subsidy": subsidy.url, "award": award.url}
        lines: list[str] = []
        async with AsyncClient(admin.secret, enrolment_url=enrolment.url, subsidy_url=subsidy.url,
                               award_url=award.url) as client:
            demo = Demo(client, seed=7, rate=50, say=lines.append)
            await demo.seed(urls, admin.secret)
            assert enrolment.runtime.clock.today().year == DEMO_YEAR
            # Run until enough has happened for Kota Serang's budget to run out, however busy the machine is.
            stop = asyncio.Event()
            running = asyncio.create_task(demo.run(duration=120, stop=stop))
            await eventually(lambda: demo.stats.outcomes["accepted"] >= 500, timeout=120, interval=0.2)
            stop.set()
            stats = await running

            last: list = []

            async def quiet():
                report = await check_databases(enrolment.runtime.database, subsidy.runtime.database,
                                               award.runtime.database)
                last[:] = report.lines()
                return report if report.holds else None

            try:
                report = await eventually(quiet, timeout=90, interval=0.5)
            except AssertionError:
                raise AssertionError("invariants did not settle: " + " | ".join(last)) from None
            serang = await client.budget("36.73", DEMO_YEAR)

    assert stats.outcomes["accepted"] == report.registrations >= 500
    assert stats.outcomes["duplicate"] >= 25  # the kit back from three days offline re-sent what it had sent
    assert stats.outcomes["invalid"] > 0 and stats.rejections
    assert stats.ended > 0
    assert report.denied > 0 and serang["committed_rupiah"] <= serang["allocation_rupiah"]
    assert report.lost == 0 and report.double_counted == 0
    assert any("kit-offline" in line for line in lines)
