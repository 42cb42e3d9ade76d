"""Queries of the award service. Running totals change by ``value = value + delta`` upserts, so two transactions
touching the same tally add up instead of overwriting each other, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, and_, case, delete, func, insert, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.award.domain import (
    Board,
    DayCounts,
    IndicatorConfig,
    Innovation,
    ProjectedRegistration,
    RegionFacts,
    Regulation,
    SnapshotPoint,
    Target,
    Windows,
    as_of_day,
    build_board,
)
from services.award.models import (
    PROJECTION,
    budgets,
    daily,
    innovations,
    registrations,
    regulations,
    snapshots,
    tallies,
    targets,
)
from shared.database import dialect_insert, stored_utc
from shared.events import BudgetAllocated, BudgetThresholdCrossed, IndicatorsUpdated
from shared.vocabulary import NATIONAL_CODE

CHUNK = 500


def _chunks(rows: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start:start + CHUNK]


# --- the projection ---

def _from_row(row: Row[Any]) -> ProjectedRegistration:
    return ProjectedRegistration(
        row.registration_id, row.fiscal_year, row.regency_code, row.province_code, row.category, row.sex,
        row.age_band, row.registered_on, row.funded_on, row.funding_region_code,
        {int(m): v for m, v in row.granted.items()}, {int(m): v for m, v in row.released.items()},
        row.denied_on, row.ended_on,
    )


def _to_row(state: ProjectedRegistration) -> dict[str, Any]:
    return {
        "registration_id": state.registration_id, "fiscal_year": state.fiscal_year,
        "regency_code": state.regency_code, "province_code": state.province_code, "category": state.category,
        "sex": state.sex, "age_band": state.age_band, "registered_on": state.registered_on,
        "funded_on": state.funded_on, "funding_region_code": state.funding_region_code,
        "granted": {str(m): v for m, v in sorted(state.granted.items())},
        "released": {str(m): v for m, v in sorted(state.released.items())},
        "denied_on": state.denied_on, "ended_on": state.ended_on,
    }


async def load_registrations(session: AsyncSession,
                             keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], ProjectedRegistration]:
    """The stored projections of these (registration_id, fiscal_year) keys.

    One query per fiscal year with the ids in a plain IN list: SQLite (3.40) answers a row-value IN,
    ``(registration_id, fiscal_year) IN ((?, ?), ...)``, by scanning the whole table, which at 200,000
    registrations took 140 ms per chunk of 500 keys and grew with every registration stored."""
    ids_by_year: dict[int, list[str]] = {}
    for registration_id, fiscal_year in keys:
        ids_by_year.setdefault(fiscal_year, []).append(registration_id)
    found: dict[tuple[str, int], ProjectedRegistration] = {}
    for fiscal_year, ids in sorted(ids_by_year.items()):
        for chunk in _chunks(ids):
            rows = await session.execute(select(registrations).where(
                registrations.c.fiscal_year == fiscal_year, registrations.c.registration_id.in_(chunk)))
            for row in rows:
                state = _from_row(row)
                found[state.key] = state
    return found


async def save_registrations(session: AsyncSession, states: Iterable[ProjectedRegistration]) -> None:
    rows = [_to_row(s) for s in states]
    for chunk in _chunks(rows):
        statement = dialect_insert(session, registrations)
        columns = {c: statement.excluded[c] for c in rows[0] if c not in ("registration_id", "fiscal_year")}
        await session.execute(statement.on_conflict_do_update(
            index_elements=["registration_id", "fiscal_year"], set_=columns), chunk)


async def add_tallies(session: AsyncSession, deltas: Mapping[tuple[int, str, str], int]) -> None:
    """Add (fiscal_year, region_code, name) -> delta to the running totals."""
    rows = [{"fiscal_year": y, "region_code": r, "name": n, "value": v} for (y, r, n), v in sorted(deltas.items())]
    for chunk in _chunks(rows):
        statement = dialect_insert(session, tallies)
        await session.execute(statement.on_conflict_do_update(
            index_elements=["region_code", "fiscal_year", "name"],
            set_={"value": tallies.c.value + statement.excluded.value}), chunk)


async def add_daily(session: AsyncSession, deltas: Mapping[tuple[int, str, date, str], int]) -> None:
    """Add (fiscal_year, region_code, day, name) -> delta to the daily series."""
    rows = [{"fiscal_year": y, "region_code": r, "day": d, "name": n, "value": v}
            for (y, r, d, n), v in sorted(deltas.items())]
    for chunk in _chunks(rows):
        statement = dialect_insert(session, daily)
        await session.execute(statement.on_conflict_do_update(
            index_elements=["region_code", "fiscal_year", "day", "name"],
            set_={"value": daily.c.value + statement.excluded.value}), chunk)


async def record_allocation(session: AsyncSession, data: BudgetAllocated) -> None:
    """The latest allocation by its change time wins, whatever order the events arrive in."""
    statement = dialect_insert(session, budgets).values(
        region_code=data.region_code, fiscal_year=data.fiscal_year, allocation_rupiah=data.allocation_rupiah,
        changed_at=data.changed_at)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["region_code", "fiscal_year"],
        set_={"allocation_rupiah": statement.excluded.allocation_rupiah, "changed_at": statement.excluded.changed_at},
        where=or_(budgets.c.changed_at.is_(None), budgets.c.changed_at <= statement.excluded.changed_at)))


async def record_threshold(session: AsyncSession, data: BudgetThresholdCrossed) -> None:
    """The highest threshold crossed is kept; a budget not yet seen gets a row with no allocation."""
    statement = dialect_insert(session, budgets).values(
        region_code=data.region_code, fiscal_year=data.fiscal_year, allocation_rupiah=0, changed_at=None,
        threshold_percent=data.threshold_percent)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["region_code", "fiscal_year"],
        set_={"threshold_percent": statement.excluded.threshold_percent},
        where=or_(budgets.c.threshold_percent.is_(None),
                  budgets.c.threshold_percent < statement.excluded.threshold_percent)))


async def drop_projection(session: AsyncSession) -> None:
    for table in PROJECTION:
        await session.execute(delete(table))


# --- reading the facts indicators are computed from ---

def _in_province(column: Any, provinces: Collection[str] | None) -> Any:
    if provinces is None:
        return true()
    return or_(*(or_(column == p, column.like(p + ".%")) for p in sorted(provinces)))


async def load_facts(session: AsyncSession, fiscal_year: int, windows: Windows,
                     provinces: Collection[str] | None = None) -> dict[str, RegionFacts]:
    """Every region code's facts for a fiscal year (optionally within some provinces), keyed as stored."""
    facts: dict[str, RegionFacts] = {}

    def of(code: str) -> RegionFacts:
        # Not setdefault: that would build a RegionFacts (and its two Counters) for each of the ~20,000 tally rows
        # of a whole board, a third of a publishing round's time.
        found = facts.get(code)
        if found is None:
            found = facts[code] = RegionFacts()
        return found

    rows = await session.execute(
        select(tallies.c.region_code, tallies.c.name, tallies.c.value)
        .where(tallies.c.fiscal_year == fiscal_year, tallies.c.value != 0,
               _in_province(tallies.c.region_code, provinces)))
    for code, name, value in rows:
        of(code).tallies[name] = value

    def window(name: str, start: date | None, end: date) -> Any:
        inside = and_(daily.c.name == name, daily.c.day <= end)
        if start is not None:
            inside = and_(inside, daily.c.day >= start)
        return func.sum(case((inside, daily.c.value), else_=0))

    rows = await session.execute(
        select(daily.c.region_code,
               window("funded", windows.week_from, windows.as_of),
               window("funded", windows.month_from, windows.as_of),
               window("funded", None, windows.retention_cutoff),
               window("retained", None, windows.retention_cutoff))
        .where(daily.c.fiscal_year == fiscal_year, _in_province(daily.c.region_code, provinces))
        .group_by(daily.c.region_code))
    for code, new_7d, new_30d, funded_3m, retained_3m in rows:
        window_counts = {"new_7d": new_7d, "new_30d": new_30d, "funded_3m": funded_3m, "retained_3m": retained_3m}
        nonzero = {k: int(v) for k, v in window_counts.items() if v}
        if nonzero:
            of(code).window.update(nonzero)

    rows = await session.execute(
        select(budgets.c.region_code, budgets.c.allocation_rupiah, budgets.c.threshold_percent)
        .where(budgets.c.fiscal_year == fiscal_year, _in_province(budgets.c.region_code, provinces)))
    for code, allocation, threshold in rows:
        of(code).allocation_rupiah, of(code).threshold_percent = allocation, threshold

    rows = await session.execute(
        select(targets.c.region_code, targets.c.target_population)
        .where(targets.c.fiscal_year == fiscal_year, _in_province(targets.c.region_code, provinces)))
    for code, population in rows:
        of(code).target = population

    rows = await session.execute(
        select(regulations.c.region_code, regulations.c.status)
        .where(_in_province(regulations.c.region_code, provinces)))
    for code, status in rows:
        of(code).regulation = status

    rows = await session.execute(
        select(innovations.c.region_code, func.sum(innovations.c.points))
        .where(innovations.c.fiscal_year == fiscal_year, _in_province(innovations.c.region_code, provinces))
        .group_by(innovations.c.region_code))
    for code, points in rows:
        of(code).innovation_points = int(points)
    return facts


def _region_filter(column: Any, region_code: str) -> Any:
    """The rows that belong to a region: the nation's are all, a province's start with its code."""
    if region_code == NATIONAL_CODE:
        return true()
    if len(region_code) == 2:
        return _in_province(column, [region_code])
    return column == region_code


async def daily_series(session: AsyncSession, region_code: str, fiscal_year: int) -> list[DayCounts]:
    """Per day: registrations, newly funded members, ends and denials in the region (for the enrolment chart)."""
    rows = await session.execute(
        select(daily.c.day, daily.c.name, func.sum(daily.c.value))
        .where(daily.c.fiscal_year == fiscal_year, daily.c.name != "retained",
               _region_filter(daily.c.region_code, region_code))
        .group_by(daily.c.day, daily.c.name).order_by(daily.c.day))
    days: dict[date, Counter[str]] = {}
    for day, name, value in rows:
        days.setdefault(day, Counter())[name] += int(value)
    return [DayCounts(day, c["registered"], c["funded"], c["ended"], c["denied"]) for day, c in sorted(days.items())]


async def save_snapshots(session: AsyncSession, fiscal_year: int, day: date,
                         updates: Iterable[IndicatorsUpdated]) -> None:
    """Today's snapshot of each updated region's indicators, replacing an earlier one of the same day."""
    rows = [{"region_code": u.region_code, "fiscal_year": fiscal_year, "day": day, "score": u.score or 0.0,
             "values": u.values, "counts": u.counts, "as_of": u.as_of} for u in updates]
    for chunk in _chunks(rows):
        statement = dialect_insert(session, snapshots)
        await session.execute(statement.on_conflict_do_update(
            index_elements=["region_code", "fiscal_year", "day"],
            set_={"score": statement.excluded.score, "values": statement.excluded["values"],
                  "counts": statement.excluded.counts, "as_of": statement.excluded.as_of}), chunk)


async def snapshot_regions(session: AsyncSession) -> set[tuple[int, str]]:
    """Every (fiscal_year, region_code) whose indicators were ever published."""
    return {(r.fiscal_year, r.region_code) for r in
            await session.execute(select(snapshots.c.fiscal_year, snapshots.c.region_code).distinct())}


async def snapshot_history(session: AsyncSession, region_code: str, fiscal_year: int) -> list[SnapshotPoint]:
    rows = await session.execute(
        select(snapshots.c.day, snapshots.c.score, snapshots.c["values"])
        .where(snapshots.c.region_code == region_code, snapshots.c.fiscal_year == fiscal_year)
        .order_by(snapshots.c.day))
    return [SnapshotPoint(day, score, values) for day, score, values in rows]


# --- the committee's records ---

async def put_target(session: AsyncSession, target: Target) -> None:
    values = {"target_population": target.target_population, "source": target.source,
              "updated_at": target.updated_at, "updated_by": target.updated_by}
    statement = dialect_insert(session, targets).values(region_code=target.region_code, fiscal_year=target.fiscal_year,
                                                 **values)
    await session.execute(statement.on_conflict_do_update(index_elements=["region_code", "fiscal_year"],
                                                          set_=values))


async def get_target(session: AsyncSession, region_code: str, fiscal_year: int) -> Target | None:
    row = (await session.execute(select(targets).where(
        targets.c.region_code == region_code, targets.c.fiscal_year == fiscal_year))).mappings().first()
    return Target(**{**row, "updated_at": stored_utc(row["updated_at"])}) if row else None


async def put_regulation(session: AsyncSession, regulation: Regulation) -> None:
    values = {"status": regulation.status, "instrument": regulation.instrument, "reference": regulation.reference,
              "enacted_on": regulation.enacted_on, "updated_at": regulation.updated_at,
              "updated_by": regulation.updated_by}
    statement = dialect_insert(session, regulations).values(region_code=regulation.region_code, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=["region_code"], set_=values))


async def get_regulation(session: AsyncSession, region_code: str) -> Regulation | None:
    result = await session.execute(select(regulations).where(regulations.c.region_code == region_code))
    row = result.mappings().first()
    return Regulation(**{**row, "updated_at": stored_utc(row["updated_at"])}) if row else None


async def add_innovation(session: AsyncSession, region_code: str, fiscal_year: int, title: str, note: str,
                         points: int, awarded_by: str, created_at: datetime) -> Innovation:
    """The innovation as stored, with the id the database gave it."""
    result = await session.execute(insert(innovations).values(
        region_code=region_code, fiscal_year=fiscal_year, title=title, note=note, points=points,
        awarded_by=awarded_by, created_at=created_at).returning(innovations.c.innovation_id))
    return Innovation(int(result.scalar_one()), region_code, fiscal_year, title, note, points, awarded_by, created_at)


async def list_innovations(session: AsyncSession, region_code: str, fiscal_year: int) -> list[Innovation]:
    rows = await session.execute(select(innovations).where(
        innovations.c.region_code == region_code, innovations.c.fiscal_year == fiscal_year)
        .order_by(innovations.c.innovation_id))
    return [Innovation(**{**r, "created_at": stored_utc(r["created_at"])}) for r in rows.mappings()]


async def board(session: AsyncSession, config: IndicatorConfig, fiscal_year: int, today: date,
                province: str | None = None, only: Collection[str] | None = None) -> Board:
    """Every region's indicators for a fiscal year; within one province (and its regencies) when given, and for
    the `only` regions when given."""
    windows = Windows.at(as_of_day(fiscal_year, today))
    within = {province} if province is not None else None
    if within is None and only is not None and NATIONAL_CODE not in only:
        # A province rolls up its regencies and a regency is its own: their provinces' facts are all they need.
        within = {code[:2] for code in only}
    return build_board(await load_facts(session, fiscal_year, windows, within), fiscal_year, today, config, only)


async def board_in_scope(session: AsyncSession, config: IndicatorConfig, fiscal_year: int, today: date,
                         province: str | None) -> Board:
    """The regions a stream's snapshot holds: every region, or a province, its regencies and the nation, which
    ``?province=`` keeps. The nation adds up every province, so every province's facts are read either way; only
    the regions held are computed."""
    facts = await load_facts(session, fiscal_year, Windows.at(as_of_day(fiscal_year, today)))
    held = None if province is None else {code for code in facts if code[:2] == province} | {province, NATIONAL_CODE}
    return build_board(facts, fiscal_year, today, config, held)
