"""The live aggregates against a recount of the events sent, after a mixed stream arriving out of order, with
duplicates, a full replay, and a rebuild through `paritrana award rebuild`."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.award import repository
from services.award.app import create_app, load_config
from services.award.models import budgets, daily, registrations, tallies
from shared.database import Database
from shared.events import (
    BudgetThresholdCrossed,
    SubsidyDenied,
    SubsidyGranted,
    SubsidyReleased,
    WorkerEnded,
    WorkerRegistered,
)
from shared.vocabulary import NATIONAL_CODE
from tests.award.factory import PREMIUM, Worker, allocation, at, envelope, publish, shuffled
from tests.support import caught_up, eventually, serving

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2025, 3, 20)


def scenario() -> list[Any]:
    """Event data for 3 regencies in 2 provinces: grants (some charged to the provincial budget, some decided in
    December 2024), denials, a denial later overturned, ends with releases, an end without a grant, registrations
    that were never decided, and two allocations of one budget that arrive newest first."""
    events: list[Any] = []
    categories = ["farmer", "fisher", "linmas", "posyandu_cadre", "ojol_driver"]
    regencies = ["36.72", "36.01", "32.75"]
    for i in range(36):
        regency = regencies[i % 3]
        w = Worker(regency, category=categories[i % 5], sex="LP"[i % 2], age_band=["18-24", "25-34", "45-54"][i % 3])
        registered_on = at(1 + i % 27, 3) if i % 4 else at(5, 12, 2024)
        events.append(w.registered(registered_on))
        kind = i % 6
        if kind in (0, 1, 2):  # funded; every third charged to the province's own budget
            funding = regency[:2] if i % 9 == 0 else None
            events.append(w.granted(registered_on, funding_region_code=funding))
        elif kind == 3:  # denied
            events.append(w.denied(registered_on))
        elif kind == 4:  # denied, then funded once the budget was topped up
            events.append(w.denied(registered_on))
            events.append(w.granted(at(min(28, registered_on.day + 1), 3) if registered_on.year == 2025
                                    else at(2, 1)))
        if kind == 2 or (kind == 5 and i % 12 == 5):  # funded ones end and release; one unfunded one just ends
            events.append(w.ended(at(19, 3), end_month=3))
            if kind == 2:
                events.append(w.released(at(19, 3), end_month=3,
                                         funding_region_code=regency[:2] if i % 9 == 0 else None))
    events += [
        allocation("36.72", 50_000_000, at(2, 1, hour=8)),
        allocation("36.72", 60_000_000, at(3, 1, hour=8)),  # the newer one: it must win whatever the order
        allocation("36.01", 20_000_000, at(2, 1)),
        allocation("36", 100_000_000, at(2, 1)),
        allocation("32.75", 40_000_000, at(2, 1)),
        BudgetThresholdCrossed(region_code="36.01", fiscal_year=2025, threshold_percent=95,
                               allocation_rupiah=20_000_000, committed_rupiah=19_000_000, crossed_at=at(3)),
        BudgetThresholdCrossed(region_code="36.01", fiscal_year=2025, threshold_percent=80,
                               allocation_rupiah=20_000_000, committed_rupiah=16_000_000, crossed_at=at(2)),
    ]
    return events


def recount(events: list[Any]) -> dict[str, dict[str, int]]:
    """Counts per regency, per province and for the nation, computed straight from the event list."""
    flags: dict[Any, dict[str, Any]] = defaultdict(lambda: {"granted": None, "denied": False, "ended": False,
                                                            "registered": False, "released": {}})
    attrs: dict[Any, Any] = {}
    allocations: dict[str, Any] = {}
    thresholds: dict[str, int] = {}
    for e in events:
        if hasattr(e, "registration_id"):
            f = flags[e.registration_id]
            attrs[e.registration_id] = e
            if isinstance(e, WorkerRegistered):
                f["registered"] = True
            elif isinstance(e, SubsidyGranted):
                f["granted"] = e
            elif isinstance(e, SubsidyDenied):
                f["denied"] = True
            elif isinstance(e, (WorkerEnded, SubsidyReleased)):
                f["ended"] = True
                if isinstance(e, SubsidyReleased):
                    f["released"] = {m.month: m.amount_rupiah for m in e.schedule}
        elif isinstance(e, BudgetThresholdCrossed):
            thresholds[e.region_code] = max(thresholds.get(e.region_code, 0), e.threshold_percent)
        elif allocations.get(e.region_code) is None or allocations[e.region_code].changed_at < e.changed_at:
            allocations[e.region_code] = e

    out: dict[str, Counter[str]] = defaultdict(Counter)

    def add(code: str, name: str, value: int = 1) -> None:
        for target in {code, code[:2], "ID"}:
            out[target][name] += value

    for rid, f in flags.items():
        a = attrs[rid]
        r = a.regency_code
        out[r]  # every regency with any event is present
        if f["registered"]:
            add(r, "registered")
        grant = f["granted"]
        if grant is not None:
            add(r, "granted")
            decided = grant.decided_at.date()
            if 0 <= (TODAY - decided).days < 30:
                add(r, "new_30d")
            if 0 <= (TODAY - decided).days < 7:
                add(r, "new_7d")
            if not f["ended"]:
                add(r, "active")
                add(r, f"cat:{a.category}")
                add(r, f"sex:{a.sex}")
                add(r, f"age:{a.age_band}")
            if decided <= date(2024, 12, 20):
                add(r, "funded_3m")
                if not f["ended"]:
                    add(r, "retained_3m")
            for m in grant.schedule:
                net = m.amount_rupiah - f["released"].get(m.month, 0)
                add(grant.funding_region_code, "committed_rupiah", net)
                if m.month <= 3:
                    add(grant.funding_region_code, "spent_rupiah", net)
        elif f["denied"]:
            add(r, "denied")
        if f["ended"]:
            add(r, "ended")
    for code, e in allocations.items():
        add(code, "allocation_rupiah", e.allocation_rupiah)
    for code, percent in thresholds.items():
        out[code]["budget_threshold_percent"] = percent
    return {code: dict(c) for code, c in out.items()}


COMPARED = ("budget_threshold_percent", "registered", "granted", "denied", "ended", "active", "new_7d", "new_30d",
            "funded_3m", "retained_3m",
            "allocation_rupiah", "committed_rupiah", "spent_rupiah")


def observed(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items()
            if v and (k in COMPARED or k.startswith(("cat:", "sex:", "age:")))}


async def api_counts(client, codes) -> dict[str, dict[str, int]]:
    out = {}
    for code in codes:
        response = await client.get(f"/v1/indicators/{code}", params={"year": 2025})
        out[code] = observed(response.json()["counts"]) if response.status_code == 200 else None
    return out


async def projection(database: Database) -> dict[str, list[tuple]]:
    async with database.reading() as session:
        return {
            "registrations": sorted(tuple(r) for r in await session.execute(select(registrations))),
            "tallies": sorted(tuple(r) for r in await session.execute(select(tallies).where(tallies.c.value != 0))),
            "daily": sorted(tuple(r) for r in await session.execute(select(daily).where(daily.c.value != 0))),
            "budgets": sorted(tuple(r) for r in await session.execute(select(budgets))),
        }


async def test_aggregates_equal_a_recount_and_survive_duplicates_replay_and_rebuild(
        isolated_broker, award_settings, producer_for):
    settings = await award_settings(isolated_broker)
    producer = await producer_for(settings)
    data = scenario()
    expected = recount(data)
    codes = sorted(expected)
    assert {"36.72", "36.01", "32.75", "36", "32", "ID"} <= set(codes)
    assert expected["36.72"]["allocation_rupiah"] == 60_000_000
    assert expected["36"]["committed_rupiah"] > 0 and expected["ID"]["retained_3m"] > 0

    envelopes = [envelope(d) for d in data]
    # Out of order across the two topics and within a region: grants before registrations, ends before grants.
    first = shuffled(envelopes, seed=7)
    async with serving(create_app, settings) as award:
        async with award.client() as client:
            await publish(producer, first[:40])
            await publish(producer, first[:5])  # duplicates while the rest is still coming
            await publish(producer, first[40:])

            async def matches() -> bool:
                return await api_counts(client, codes) == {c: observed(expected[c]) for c in codes}

            await eventually(matches, timeout=30)
            live = await projection(award.runtime.database)

            # A replay of everything (a producer's retry storm, a republish) changes nothing.
            await publish(producer, shuffled(envelopes, seed=11))
            await eventually(lambda: caught_up(award.runtime.consumers), timeout=30)
            assert await matches()
            assert await projection(award.runtime.database) == live

    # `paritrana award rebuild` replays both topics (now holding every event twice or more) into the same result.
    env = {**os.environ, "PARITRANA_AWARD_DATABASE_URL": settings.award_database_url,
           "PARITRANA_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "PARITRANA_DATA_DIR": str(settings.data_dir), "PARITRANA_LOG_JSON": "false"}
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("paritrana")), "award", "rebuild", cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()[-2000:]
    assert f"replayed {len(envelopes) * 2 + 5} events" in out.decode()

    database = Database(settings.award_database_url)
    try:
        assert await projection(database) == live
        async with database.reading() as session:
            board = await repository.board(session, load_config(settings), 2025, TODAY)
            # The publisher's board for a few due regions reads only their provinces' facts: the same indicators.
            due = {"36.72", "32", "32.75"}
            partial = await repository.board(session, load_config(settings), 2025, TODAY, only=due)
            # With the nation due, every province's regencies not due are summed in SQL into one part each.
            due_nation = {NATIONAL_CODE, "36", "32.75"}  # 36.01 and 36.72 become one part
            with_nation = await repository.board(session, load_config(settings), 2025, TODAY, only=due_nation)
            # A province's chart sums its regencies' days.
            province_days = await repository.daily_series(session, "36", 2025)
            regency_days = [d for code in ("36.01", "36.72")
                            for d in await repository.daily_series(session, code, 2025)]
        assert sum(d.registered for d in province_days) == sum(d.registered for d in regency_days) > 0
        assert {c: observed(board.regions[c].counts) for c in codes} == {c: observed(expected[c]) for c in codes}
        assert set(partial.regions) == due
        assert {c: partial.regions[c] for c in due} == {c: board.regions[c] for c in due}
        assert set(with_nation.regions) == due_nation
        assert {c: with_nation.regions[c] for c in due_nation} == {c: board.regions[c] for c in due_nation}
        assert board.regions[NATIONAL_CODE].counts["registered"] > board.regions["36"].counts["registered"] > 0
    finally:
        await database.dispose()
    assert expected["36.72"]["committed_rupiah"] % PREMIUM == 0
