"""The funding gate on a real broker and both databases: never overspent, with one consumer or two, and
duplicates change nothing."""

import asyncio
from datetime import datetime

from sqlalchemy import func, select

from services.subsidy.app import create_app
from services.subsidy.models import budgets, registrations
from shared.clock import FISCAL_TZ
from tests.subsidy.workers import MONTHLY, YEAR, api_key, decided, lines, publish, published, registered, types
from tests.support import caught_up, eventually, serving

COVERED = 600
YEARLY = 12 * MONTHLY
REGENCY = "36.72"


async def budget_row(database):
    async with database.reading() as session:
        return (await session.execute(select(budgets.c.allocation_rupiah, budgets.c.committed_rupiah)
                                      .where(budgets.c.region_code == REGENCY))).one()


async def statuses(database) -> dict[str, int]:
    async with database.reading() as session:
        return dict((await session.execute(select(registrations.c.status, func.count())
                                           .group_by(registrations.c.status))).all())


class Sampler:
    """Reads the budget row while the consumers work: committed must never pass the allocation."""

    def __init__(self, database) -> None:
        self.database, self.samples, self.worst = database, 0, 0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            allocation, committed = await budget_row(self.database)
            self.worst = max(self.worst, committed - allocation)
            self.samples += 1
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def open_budget(server, settings) -> None:
    server.runtime.clock.set(datetime(YEAR, 1, 10, 9, tzinfo=FISCAL_TZ))
    admin = await api_key(settings, ["admin"], ["*"])
    async with server.client(admin) as http:
        response = await http.put(f"/v1/budgets/{REGENCY}/{YEAR}/lines", json=lines(COVERED * YEARLY, policy="deny"))
        assert response.status_code == 200, response.text


async def check_outcome(settings, database, events) -> None:
    assert await statuses(database) == {"granted": COVERED, "denied": 1000 - COVERED}
    assert await budget_row(database) == (COVERED * YEARLY, COVERED * YEARLY)
    out = await published(settings, database)
    counts = types(out)
    assert counts["subsidy.granted"] == COVERED and counts["subsidy.denied"] == 1000 - COVERED
    assert sorted(e.data.threshold_percent for e in out if e.type == "budget.threshold-crossed") == [80, 95, 100]
    denied = [e.data for e in out if e.type == "subsidy.denied"]
    assert {(d.reason, d.remaining_rupiah, d.amount_rupiah) for d in denied} == {("budget_exhausted", 0, YEARLY)}
    # Every registration got exactly one decision, and in its region's order the grants come first.
    decided_ids = [str(e.data.registration_id) for e in out if e.type.startswith("subsidy.")]
    assert sorted(decided_ids) == sorted(str(e.data.registration_id) for e in events)


async def test_a_budget_for_600_grants_600_of_1000_and_never_overspends(isolated_broker, make_settings):
    settings = await make_settings(isolated_broker)
    events = [registered(REGENCY) for _ in range(1000)]
    async with serving(create_app, settings) as server:
        await open_budget(server, settings)
        database = server.runtime.database
        sampler = Sampler(database)
        await publish(settings, events)
        await eventually(lambda: decided(database, 1000), timeout=60)
        await sampler.stop()
        assert sampler.samples > 10 and sampler.worst <= 0

        # The same events again (a producer retry, a replayed partition): nothing changes.
        await publish(settings, events[:300])
        await eventually(lambda: caught_up(server.runtime.consumers), timeout=30)
        await check_outcome(settings, database, events)


async def test_two_instances_in_one_group_never_overspend(isolated_broker, make_settings):
    settings = await make_settings(isolated_broker)
    events = [registered(REGENCY if i % 2 else "36.73") for i in range(2000)]
    ours = [e for e in events if e.data.regency_code == REGENCY]
    async with serving(create_app, settings) as first:
        await open_budget(first, settings)
        database = first.runtime.database
        sampler = Sampler(database)
        await publish(settings, events[:800])
        async with serving(create_app, settings) as second:
            second.runtime.clock.set(datetime(YEAR, 1, 10, 9, tzinfo=FISCAL_TZ))
            # The second member joins while the first is busy: partitions move in mid-stream.
            await publish(settings, events[800:])
            await eventually(lambda: decided(database, 2000), timeout=90)
            await sampler.stop()
            assert sampler.worst <= 0
            # Both members hold partitions and have committed them to the end.
            await eventually(lambda: caught_up([*first.runtime.consumers, *second.runtime.consumers]), timeout=30)
        async with database.reading() as session:
            other = dict((await session.execute(
                select(registrations.c.status, func.count()).where(registrations.c.regency_code == "36.73")
                .group_by(registrations.c.status))).all())
        assert other == {"denied": 1000}  # no budget there, and no province budget to fall back on
        async with database.reading() as session:
            ours_status = dict((await session.execute(
                select(registrations.c.status, func.count()).where(registrations.c.regency_code == REGENCY)
                .group_by(registrations.c.status))).all())
        assert ours_status == {"granted": COVERED, "denied": 1000 - COVERED}
        assert await budget_row(database) == (COVERED * YEARLY, COVERED * YEARLY)
        out = await published(settings, database)
        assert types(out)["subsidy.granted"] == COVERED
        assert types(out)["subsidy.denied"] == 2000 - COVERED
        assert types(out)["budget.threshold-crossed"] == 3
        assert len({e.id for e in out}) == len(out), "a decision was published twice"
        assert {str(e.data.registration_id) for e in out if e.type == "subsidy.granted"} <= \
            {str(e.data.registration_id) for e in ours}
