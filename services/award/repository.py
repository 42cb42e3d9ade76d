"""Queries of the award service. Running totals change by ``value = value + delta`` upserts, so two transactions
touching the same tally add up instead of overwriting each other, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, and_, case, delete, func, insert, literal_column, or_, select, true
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
    invoices,
    registrations,
    regulations,
    snapshots,
    tallies,
    targets,
)
from services.award.pack import BudgetLine, BudgetMonth, RegistrationDates
from shared.database import dialect_insert, stored_utc
from shared.events import BudgetAllocated, BudgetThresholdCrossed, IndicatorsUpdated, InvoiceIssued, InvoicePaid
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
        row.denied_on, row.ended_on, row.waitlisted_on, bool(row.renews),
    )


def _to_row(state: ProjectedRegistration) -> dict[str, Any]:
    return {
        "registration_id": state.registration_id, "fiscal_year": state.fiscal_year,
        "regency_code": state.regency_code, "province_code": state.province_code, "category": state.category,
        "sex": state.sex, "age_band": state.age_band, "registered_on": state.registered_on,
        "funded_on": state.funded_on, "funding_region_code": state.funding_region_code,
        "granted": {str(m): v for m, v in sorted(state.granted.items())},
        "released": {str(m): v for m, v in sorted(state.released.items())},
        "denied_on": state.denied_on, "ended_on": state.ended_on, "waitlisted_on": state.waitlisted_on,
        "renews": state.renews,
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
        changed_at=data.changed_at, lines=[line.model_dump() for line in data.lines])
    await session.execute(statement.on_conflict_do_update(
        index_elements=["region_code", "fiscal_year"],
        set_={"allocation_rupiah": statement.excluded.allocation_rupiah, "changed_at": statement.excluded.changed_at,
              "lines": statement.excluded.lines},
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


async def record_invoice_issued(session: AsyncSession, data: InvoiceIssued) -> None:
    """A month's invoice; a later issue of the same month (by its time) replaces an earlier one."""
    statement = dialect_insert(session, invoices).values(
        region_code=data.region_code, fiscal_year=data.fiscal_year, month=data.month, members=data.members,
        invoiced_rupiah=data.amount_rupiah, issued_at=data.issued_at)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["region_code", "fiscal_year", "month"],
        set_={"members": statement.excluded.members, "invoiced_rupiah": statement.excluded.invoiced_rupiah,
              "issued_at": statement.excluded.issued_at},
        where=or_(invoices.c.issued_at.is_(None), invoices.c.issued_at <= statement.excluded.issued_at)))


async def record_invoice_paid(session: AsyncSession, data: InvoicePaid) -> None:
    """A month's payment; the latest recorded wins. Arriving before its invoice.issued, the invoiced amount comes
    from the payment until the invoice's own event fills it."""
    statement = dialect_insert(session, invoices).values(
        region_code=data.region_code, fiscal_year=data.fiscal_year, month=data.month,
        invoiced_rupiah=data.invoiced_rupiah, paid_rupiah=data.paid_rupiah, paid_on=data.paid_on,
        payment_reference=data.reference, paid_at=data.paid_at)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["region_code", "fiscal_year", "month"],
        set_={"paid_rupiah": statement.excluded.paid_rupiah, "paid_on": statement.excluded.paid_on,
              "payment_reference": statement.excluded.payment_reference, "paid_at": statement.excluded.paid_at,
              "invoiced_rupiah": func.coalesce(invoices.c.invoiced_rupiah, statement.excluded.invoiced_rupiah)},
        where=or_(invoices.c.paid_at.is_(None), invoices.c.paid_at <= statement.excluded.paid_at)))


async def drop_projection(session: AsyncSession) -> None:
    for table in PROJECTION:
        await session.execute(delete(table))


# --- reading the facts indicators are computed from ---

def _in_province(column: Any, provinces: Collection[str] | None) -> Any:
    """The rows of these provinces: a province's own code (PP) and its regencies' (PP.KK) start with it, and no
    other stored code does (the nation's is ID). One IN on the first two characters: a publishing round names most
    provinces, and an OR of two comparisons per province took about a fifth of the publisher's time to build and
    to key for SQLAlchemy's statement cache, in each of the seven queries of load_facts."""
    if provinces is None:
        return true()
    return func.substr(column, 1, 2).in_(sorted(provinces))


SUMMED = ".__"  # the key of a province's regencies summed into one part (load_facts' `keep`)


def _keyed(column: Any, keep: Collection[str] | None) -> Any:
    """The region code as stored, or for a regency not in `keep` its province's summed part (PP.__)."""
    if keep is None:
        return column
    return case((and_(func.length(column) == 5, column.not_in(sorted(keep))),
                 func.substr(column, 1, 2).concat(literal_column(f"'{SUMMED}'"))), else_=column)


async def load_facts(session: AsyncSession, fiscal_year: int, windows: Windows,
                     provinces: Collection[str] | None = None,
                     keep: Collection[str] | None = None) -> dict[str, RegionFacts]:
    """Every region code's facts for a fiscal year (optionally within some provinces), keyed as stored.

    With `keep`, only those regencies have facts of their own: the others of each province are summed in SQL into
    one part keyed PP.__, which rolls up into the province (and the nation) exactly as they would one by one
    (domain._rolled_up sums tallies, windows, allocations, last year's actives and the targets recorded; a
    regency's regulation, innovations and threshold are its own and never roll up). A publishing round names a
    few regencies, but its provinces and the nation add up all 514."""
    facts: dict[str, RegionFacts] = {}

    def of(code: str) -> RegionFacts:
        # Not setdefault: that would build a RegionFacts (and its two Counters) for each of the ~20,000 tally rows
        # of a whole board, a third of a publishing round's time.
        found = facts.get(code)
        if found is None:
            found = facts[code] = RegionFacts()
        return found

    def summed(table: Any, *columns: Any, where: Any) -> Any:
        """The table's rows in scope keyed by _keyed, as a subquery (code, *columns) to group by its code."""
        return select(_keyed(table.c.region_code, keep).label("code"), *columns).where(
            where, _in_province(table.c.region_code, provinces)).subquery()

    def total(column: Any) -> Any:
        return column if keep is None else func.sum(column)  # without summed parts each code is one row

    def grouped(statement: Any, *by: Any) -> Any:
        return statement if keep is None else statement.group_by(*by)

    rows_in = summed(tallies, tallies.c.name, tallies.c.value,
                     where=and_(tallies.c.fiscal_year == fiscal_year, tallies.c.value != 0))
    rows = await session.execute(grouped(select(rows_in.c.code, rows_in.c.name, total(rows_in.c.value)),
                                         rows_in.c.code, rows_in.c.name))
    for code, name, value in rows:
        of(code).tallies[name] = int(value)

    # Retention across years: last year's members still active at its end, whom this year's renewals retain.
    rows_in = summed(tallies, tallies.c.value, where=and_(
        tallies.c.fiscal_year == fiscal_year - 1, tallies.c.name == "active", tallies.c.value != 0))
    rows = await session.execute(grouped(select(rows_in.c.code, total(rows_in.c.value)), rows_in.c.code))
    for code, value in rows:
        of(code).active_last_year = int(value)

    rows_in = summed(daily, daily.c.day, daily.c.name, daily.c.value, where=daily.c.fiscal_year == fiscal_year)

    def window(name: str, start: date | None, end: date) -> Any:
        inside = and_(rows_in.c.name == name, rows_in.c.day <= end)
        if start is not None:
            inside = and_(inside, rows_in.c.day >= start)
        return func.sum(case((inside, rows_in.c.value), else_=0))

    rows = await session.execute(
        select(rows_in.c.code,
               window("funded", windows.week_from, windows.as_of),
               window("funded", windows.month_from, windows.as_of),
               window("funded", None, windows.retention_cutoff),
               window("retained", None, windows.retention_cutoff))
        .group_by(rows_in.c.code))
    for code, new_7d, new_30d, funded_3m, retained_3m in rows:
        window_counts = {"new_7d": new_7d, "new_30d": new_30d, "funded_3m": funded_3m, "retained_3m": retained_3m}
        nonzero = {k: int(v) for k, v in window_counts.items() if v}
        if nonzero:
            of(code).window.update(nonzero)

    # A summed part's threshold is never read (a regency's threshold does not roll up).
    rows_in = summed(budgets, budgets.c.allocation_rupiah, budgets.c.threshold_percent,
                     where=budgets.c.fiscal_year == fiscal_year)
    rows = await session.execute(grouped(
        select(rows_in.c.code, total(rows_in.c.allocation_rupiah),
               rows_in.c.threshold_percent if keep is None else func.max(rows_in.c.threshold_percent)),
        rows_in.c.code))
    for code, allocation, threshold in rows:
        of(code).allocation_rupiah, of(code).threshold_percent = int(allocation), threshold

    rows_in = summed(targets, targets.c.target_population, where=targets.c.fiscal_year == fiscal_year)
    rows = await session.execute(grouped(select(rows_in.c.code, total(rows_in.c.target_population)),
                                         rows_in.c.code))
    for code, population in rows:
        of(code).target = int(population)

    # Regulations and innovations are a region's own; a summed part only needs to exist, as its regencies would.
    rows_in = summed(regulations, regulations.c.status, where=true())
    rows = await session.execute(select(rows_in.c.code, rows_in.c.status))
    for code, status in rows:
        if code.endswith(SUMMED):
            of(code)
        else:
            of(code).regulation = status

    rows_in = summed(innovations, innovations.c.points, where=innovations.c.fiscal_year == fiscal_year)
    rows = await session.execute(select(rows_in.c.code, func.sum(rows_in.c.points)).group_by(rows_in.c.code))
    for code, points in rows:
        if code.endswith(SUMMED):
            of(code)
        else:
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
    # The regencies not asked for count only through their province's roll-up: summed in SQL, not one by one.
    keep = None if only is None else {code for code in only if len(code) == 5}
    return build_board(await load_facts(session, fiscal_year, windows, within, keep), fiscal_year, today, config,
                       only)


async def board_in_scope(session: AsyncSession, config: IndicatorConfig, fiscal_year: int, today: date,
                         province: str | None) -> Board:
    """The regions a stream's snapshot holds: every region, or a province, its regencies and the nation, which
    ``?province=`` keeps. The nation adds up every province, so every province's facts are read either way; only
    the regions held are computed."""
    facts = await load_facts(session, fiscal_year, Windows.at(as_of_day(fiscal_year, today)))
    held = None if province is None else {code for code in facts if code[:2] == province} | {province, NATIONAL_CODE}
    return build_board(facts, fiscal_year, today, config, held)


# --- what an evidence pack reads beyond the board ---

async def registration_dates(session: AsyncSession, region_code: str, fiscal_year: int) -> list[RegistrationDates]:
    """The dates of every registration of a regency, or of a province's regencies, in a fiscal year."""
    column = registrations.c.province_code if len(region_code) == 2 else registrations.c.regency_code
    rows = await session.execute(
        select(registrations.c.registered_on, registrations.c.funded_on, registrations.c.denied_on,
               registrations.c.ended_on, registrations.c.waitlisted_on)
        .where(registrations.c.fiscal_year == fiscal_year, column == region_code))
    return [RegistrationDates(*row) for row in rows]


async def own_budget(session: AsyncSession, region_code: str,
                     fiscal_year: int) -> tuple[int, list[BudgetLine], datetime | None]:
    """A budget's allocation, its funding lines and when it last changed (0, [] and None when none is known)."""
    row = (await session.execute(select(budgets.c.allocation_rupiah, budgets.c.lines, budgets.c.changed_at).where(
        budgets.c.region_code == region_code, budgets.c.fiscal_year == fiscal_year))).first()
    if row is None:
        return 0, [], None
    lines = [BudgetLine(line["line_id"], line["source"], int(line["amount_rupiah"]), line["legal_reference"])
             for line in row.lines or []]
    return int(row.allocation_rupiah), lines, None if row.changed_at is None else stored_utc(row.changed_at)


async def committed_by_month(session: AsyncSession, region_code: str, fiscal_year: int) -> dict[int, int]:
    """Premiums committed to a budget (grants less releases) per month."""
    rows = await session.execute(select(tallies.c.name, tallies.c.value).where(
        tallies.c.region_code == region_code, tallies.c.fiscal_year == fiscal_year,
        tallies.c.name.like("committed:%")))
    return {int(name[10:]): int(value) for name, value in rows if value}


async def invoice_months(session: AsyncSession, region_code: str,
                         fiscal_year: int) -> tuple[dict[int, BudgetMonth], list[datetime]]:
    """A budget's invoiced and paid months, with the instants they were issued and paid at."""
    rows = await session.execute(select(invoices).where(
        invoices.c.region_code == region_code, invoices.c.fiscal_year == fiscal_year).order_by(invoices.c.month))
    months, instants = {}, []
    for r in rows.mappings():
        months[r["month"]] = BudgetMonth(r["month"], 0, r["members"], r["invoiced_rupiah"], r["paid_rupiah"],
                                         r["paid_on"], r["payment_reference"])
        instants += [stored_utc(r[c]) for c in ("issued_at", "paid_at") if r[c] is not None]
    return months, instants
