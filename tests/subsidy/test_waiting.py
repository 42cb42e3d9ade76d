"""The waiting list: a registration no budget can cover waits in arrival order, and money arriving (an APBD-P
amendment, a member's end, a replaced holder's months) funds it once, from the month it is funded; the fiscal year's
end denies whoever still waits. With two subsidy instances racing, nobody is funded twice and nothing is overspent."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import func, select

from services.subsidy.app import create_app
from services.subsidy.domain import (
    BudgetState,
    Denied,
    Granted,
    LateGranted,
    Rate,
    RateBook,
    Released,
    ThresholdCrossed,
    WaitEnded,
    Waiter,
    decide_funding,
    fund_waiting,
)
from services.subsidy.models import budgets, registrations, waiting
from shared.clock import FISCAL_TZ
from tests.subsidy.test_gate import Sampler
from tests.subsidy.workers import MONTHLY, YEAR, api_key, decided, ended, lines, publish, published, registered
from tests.support import eventually, serving

BOOK = RateBook([Rate("bpu-jkk-jkm", "jkk", 10_000, date(2015, 7, 1), None, "PP 44/2015"),
                 Rate("bpu-jkk-jkm", "jkm", 6_800, date(2015, 7, 1), None, "PP 44/2015")])
YEARLY = 12 * MONTHLY
REGENCY = "36.72"


def budget(budget_id: int, region: str, allocation: int, policy: str = "wait", backdate: bool = False) -> BudgetState:
    return BudgetState(budget_id, region, YEAR, allocation, 0, 0, 0, (("apbd", allocation),), policy=policy,
                       backdate_late_grants=backdate)


def waiter(arrival: int, start: int = 1, last: int = 12, regency: str = REGENCY, year: int = YEAR) -> Waiter:
    return Waiter(arrival, str(uuid.uuid4()), regency, year, "bpu-jkk-jkm", start, last, "0" * 64, "linmas", "P",
                  "35-44")


def kinds(decisions) -> list[str]:
    return [type(d).__name__ for d in decisions if not isinstance(d, ThresholdCrossed)]


# --- the rules ---

def test_what_the_budget_cannot_cover_waits_and_nobody_overtakes_the_list():
    budgets = {(REGENCY, YEAR): budget(1, REGENCY, YEARLY)}
    events = [registered(REGENCY), registered(REGENCY), registered(REGENCY, start=12, months=1)]
    plan = decide_funding(events, budgets, {}, BOOK)
    # The third asks for one month, which the budget could cover; it queues behind the second all the same.
    assert kinds(plan.decisions) == ["Granted", "Waitlisted", "Waitlisted"]
    assert [w.registration_id for w in plan.joined] == [str(e.data.registration_id) for e in events[1:]]
    later = decide_funding([registered(REGENCY, start=12, months=1)], budgets, {}, BOOK, queued={(REGENCY, YEAR)})
    assert kinds(later.decisions) == ["Waitlisted"]


def test_a_deny_budget_denies_and_no_budget_denies_all_but_renewals():
    budgets = {(REGENCY, YEAR): budget(1, REGENCY, 0, policy="deny")}
    [denial] = decide_funding([registered(REGENCY)], budgets, {}, BOOK).decisions
    assert isinstance(denial, Denied) and denial.reason == "no_allocation"
    assert kinds(decide_funding([registered("32.75")], {}, {}, BOOK).decisions) == ["Denied"]
    renewal = registered("32.75", year=YEAR + 1, renews=uuid.uuid4())
    assert kinds(decide_funding([renewal], {}, {}, BOOK).decisions) == ["Waitlisted"]


def test_late_funding_covers_from_the_month_funded_in_arrival_order_and_stops_at_the_first_it_cannot_cover():
    budgets = {(REGENCY, YEAR): budget(1, REGENCY, 8 * MONTHLY + 3 * MONTHLY)}
    first, second, third = waiter(1), waiter(2), waiter(3, start=1, last=3)
    plan = fund_waiting([third, second, first], budgets, BOOK, date(YEAR, 5, 20), backdate_months=2)
    granted, passed = [d for d in plan.decisions if not isinstance(d, ThresholdCrossed)]
    # May to December: eight months charged, not twelve.
    assert isinstance(granted, LateGranted) and granted.waiter == first
    assert [m for m, _ in granted.schedule] == list(range(5, 13)) and granted.amount_rupiah == 8 * MONTHLY
    # The second needs eight months and three are left: it waits. The third asked for January to March, all past.
    assert isinstance(passed, WaitEnded) and (passed.waiter, passed.reason) == (third, "coverage_passed")
    assert budgets[(REGENCY, YEAR)].committed == 8 * MONTHLY
    assert set(plan.left) == {first.registration_id, third.registration_id}


def test_months_all_passed_are_denied_and_back_dating_is_the_budgets_choice():
    plan = fund_waiting([waiter(1, start=1, last=3)], {(REGENCY, YEAR): budget(1, REGENCY, 10**9)}, BOOK,
                        date(YEAR, 5, 20), backdate_months=2)
    [passed] = plan.decisions
    assert isinstance(passed, WaitEnded) and passed.reason == "coverage_passed"
    backdating = {(REGENCY, YEAR): budget(1, REGENCY, 10**9, backdate=True)}
    granted = [d for d in fund_waiting([waiter(1)], backdating, BOOK, date(YEAR, 5, 20), 2).decisions
               if isinstance(d, LateGranted)]
    assert [m for m, _ in granted[0].schedule] == list(range(3, 13))


def test_a_year_that_has_ended_denies_whoever_still_waits():
    plan = fund_waiting([waiter(1), waiter(2)], {(REGENCY, YEAR): budget(1, REGENCY, 10**9)}, BOOK,
                        date(YEAR + 1, 1, 1), backdate_months=2)
    assert [(type(d).__name__, d.reason) for d in plan.decisions] == [("WaitEnded", "fiscal_year_ended")] * 2


def test_a_replaced_holders_months_go_to_the_successor_ahead_of_the_waiting_list():
    budgets = {(REGENCY, YEAR): budget(1, REGENCY, YEARLY)}
    registrations: dict = {}
    holder = registered(REGENCY)
    decide_funding([holder, registered(REGENCY)], budgets, registrations, BOOK)  # the second waits
    successor = registered(REGENCY, start=7, months=6, replaces=holder.data.registration_id)
    plan = decide_funding([ended(holder, 6, reason="replaced")], budgets, registrations, BOOK,
                          queued={(REGENCY, YEAR)})
    [release] = plan.decisions
    assert isinstance(release, Released) and release.amount_rupiah == 6 * MONTHLY and not plan.freed
    state = budgets[(REGENCY, YEAR)]
    assert (state.reserved, state.remaining) == (6 * MONTHLY, 0)  # the waiting list cannot take them
    plan = decide_funding([successor], budgets, registrations, BOOK, queued={(REGENCY, YEAR)})
    assert kinds(plan.decisions) == ["Granted"] and isinstance(plan.decisions[0], Granted)
    assert (state.reserved, state.committed) == (0, YEARLY)


def test_an_end_while_waiting_withdraws_and_releases_nothing():
    budgets = {(REGENCY, YEAR): budget(1, REGENCY, 0)}
    registrations: dict = {}
    event = registered(REGENCY)
    assert kinds(decide_funding([event], budgets, registrations, BOOK).decisions) == ["Waitlisted"]
    plan = decide_funding([ended(event, 3)], budgets, registrations, BOOK)
    assert plan.decisions == [] and plan.left == [str(event.data.registration_id)]
    assert registrations[str(event.data.registration_id)].status == "withdrawn"


# --- on the broker, with two instances ---

N = 200


async def counts(database) -> dict[str, int]:
    async with database.reading() as session:
        return dict((await session.execute(select(registrations.c.status, func.count())
                                           .group_by(registrations.c.status))).all())


async def test_an_amendment_funds_half_the_waiting_list_in_arrival_order_once_with_two_instances(
        isolated_broker, make_settings):
    # Both instances look at the waiting lists twenty times a second, so they race the amendment and each other.
    settings = await make_settings(isolated_broker, subsidy_waiting_seconds=0.05)
    admin = await api_key(settings, ["admin"], ["*"])
    events = [registered(REGENCY) for _ in range(2 * N)]
    january = datetime(YEAR, 1, 10, 9, tzinfo=FISCAL_TZ)
    async with serving(create_app, settings) as first, serving(create_app, settings) as second:
        for server in (first, second):
            server.runtime.clock.set(january)
        database = first.runtime.database
        async with first.client(admin) as http:
            assert (await http.put(f"/v1/budgets/{REGENCY}/{YEAR}/lines", json=lines(N * YEARLY))).status_code == 200
            sampler = Sampler(database)
            await publish(settings, events)
            await eventually(lambda: decided(database, 2 * N), timeout=90)
            assert await counts(database) == {"granted": N, "waiting": N}
            listed = (await http.get(f"/v1/waiting/{REGENCY}/{YEAR}", params={"limit": 1000})).json()
            assert listed["waiting"] == N
            assert [r["registration_id"] for r in listed["registrations"]] == \
                [str(e.data.registration_id) for e in events[N:]]
            assert [r["position"] for r in listed["registrations"]] == list(range(1, N + 1))

            # APBD-P: the line is raised by half the list's cost.
            raised = lines(N * YEARLY + N // 2 * YEARLY)
            async with second.client(admin) as other:
                assert (await other.put(f"/v1/budgets/{REGENCY}/{YEAR}/lines", json=raised)).status_code == 200
            await eventually(lambda: _granted(database, N + N // 2), timeout=30)
            await sampler.stop()
            assert sampler.worst <= 0
            assert await counts(database) == {"granted": N + N // 2, "waiting": N - N // 2}

            # The year ends on both instances' clocks: whoever still waits is denied.
            for server in (first, second):
                server.runtime.clock.set(datetime(YEAR + 1, 1, 1, 0, 0, 5, tzinfo=FISCAL_TZ))
            await eventually(lambda: _waiting_is_empty(database), timeout=30)
    assert await counts(database) == {"granted": N + N // 2, "denied": N - N // 2}
    async with database.reading() as session:
        allocation, committed = (await session.execute(select(budgets.c.allocation_rupiah,
                                                              budgets.c.committed_rupiah))).one()
    assert allocation == committed == (N + N // 2) * YEARLY

    out = await published(settings, database)
    granted = [e for e in out if e.type == "subsidy.granted"]
    assert len(granted) == len({str(e.data.registration_id) for e in granted}) == N + N // 2, "funded twice"
    late = [str(e.data.registration_id) for e in granted[N:]]
    assert late == [str(e.data.registration_id) for e in events[N:N + N // 2]], "not in arrival order"
    assert {e.data.months for e in granted} == {12}  # funded in January: the whole year
    waitlisted = [e for e in out if e.type == "subsidy.waitlisted"]
    assert sorted(e.data.position for e in waitlisted) == list(range(1, N + 1))
    denied = [e for e in out if e.type == "subsidy.denied"]
    assert {(e.dataversion, e.data.reason) for e in denied} == {(2, "fiscal_year_ended")}
    assert [str(e.data.registration_id) for e in denied] == [str(e.data.registration_id) for e in events[N + N // 2:]]


async def _granted(database, count: int) -> bool:
    return (await counts(database)).get("granted", 0) >= count


async def _waiting_is_empty(database) -> bool:
    async with database.reading() as session:
        return (await session.execute(select(func.count()).select_from(waiting))).scalar_one() == 0


async def test_a_member_ending_funds_the_next_waiting_from_the_month_after(isolated_broker, make_settings):
    settings = await make_settings(isolated_broker)
    admin = await api_key(settings, ["admin"], ["*"])
    holder, waiting_one = registered(REGENCY), registered(REGENCY)
    async with serving(create_app, settings) as server:
        server.runtime.clock.set(datetime(YEAR, 4, 15, 9, tzinfo=FISCAL_TZ))
        async with server.client(admin) as http:
            body = lines(YEARLY + MONTHLY)
            assert (await http.put(f"/v1/budgets/{REGENCY}/{YEAR}/lines", json=body)).status_code == 200
        database = server.runtime.database
        await publish(settings, [holder, waiting_one])
        await eventually(lambda: decided(database, 2), timeout=30)
        assert await counts(database) == {"granted": 1, "waiting": 1}
        # April is the holder's last month: May to December go back, and with the month left over they cover the
        # waiting registration from April, the month it is funded.
        await publish(settings, [ended(holder, 4)])
        await eventually(lambda: _granted(database, 2), timeout=30)
        out = await published(settings, database)
    [late] = [e.data for e in out if e.type == "subsidy.granted" and e.data.registration_id ==
              waiting_one.data.registration_id]
    assert (late.start_month, late.months, late.amount_rupiah) == (4, 9, 9 * MONTHLY)


async def test_a_successor_takes_the_replaced_holders_months_while_others_wait(isolated_broker, make_settings):
    settings = await make_settings(isolated_broker, subsidy_waiting_seconds=0.05)
    admin = await api_key(settings, ["admin"], ["*"])
    # The waiting one asks for July to December: exactly what the holder's end releases.
    holder, waiting_one = registered(REGENCY), registered(REGENCY, start=7, months=6)
    successor = registered(REGENCY, start=7, months=6, replaces=holder.data.registration_id)
    async with serving(create_app, settings) as server:
        server.runtime.clock.set(datetime(YEAR, 6, 15, 9, tzinfo=FISCAL_TZ))
        async with server.client(admin) as http:
            assert (await http.put(f"/v1/budgets/{REGENCY}/{YEAR}/lines", json=lines(YEARLY))).status_code == 200
            database = server.runtime.database
            await publish(settings, [holder, waiting_one])
            await eventually(lambda: decided(database, 2), timeout=30)
            # Enrolment writes both in one transaction, in this order, on the region's partition.
            await publish(settings, [ended(holder, 6, reason="replaced"), successor])
            await eventually(lambda: decided(database, 3), timeout=30)
            budget = (await http.get(f"/v1/budgets/{REGENCY}", params={"year": YEAR})).json()
        assert await counts(database) == {"granted": 2, "waiting": 1}
        async with database.reading() as session:
            funded = dict((await session.execute(select(registrations.c.registration_id, registrations.c.status)
                                                 .where(registrations.c.registration_id.in_(
                                                     [str(successor.data.registration_id),
                                                      str(waiting_one.data.registration_id)])))).all())
    assert funded == {str(successor.data.registration_id): "granted", str(waiting_one.data.registration_id): "waiting"}
    assert (budget["committed_rupiah"], budget["reserved_rupiah"]) == (YEARLY, 0)
