"""Queries and writes, batch-sized: one statement per table per polled batch (one per touched budget for the
guarded commitment), never one per event."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, Literal, cast

from sqlalchemy import (
    Column,
    CursorResult,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.subsidy.domain import (
    Adjustment,
    AllocationBelowCommitted,
    BudgetState,
    FundingSource,
    Line,
    LineChange,
    LineChangeKind,
    Plan,
    Rate,
    RateBook,
    RegistrationState,
    Waiter,
)
from services.subsidy.models import (
    adjustments,
    billing_months,
    bpjs_bills,
    budgets,
    funding_line_changes,
    funding_lines,
    inbox,
    invoice_payments,
    invoices,
    ledger_months,
    rates,
    registrations,
    waiting,
)
from shared.vocabulary import FundingPolicy

CHUNK = 500


# --- typed rows: what the queries below hand to the service ---

@dataclass(frozen=True, slots=True)
class Budget:
    id: int
    region_code: str
    fiscal_year: int
    allocation_rupiah: int
    committed_rupiah: int
    funded_members: int
    revision: int  # bumped by every change of lines
    thresholds_published: int  # a bit per threshold of domain.THRESHOLDS
    funding_policy: FundingPolicy
    backdate_late_grants: bool
    reserved_rupiah: int


@dataclass(frozen=True, slots=True)
class Amendment:
    """One line's change in a budget's history, with what it was before."""

    revision: int
    line_id: str
    change: LineChangeKind | Literal["restored"]  # restored: rebuilt by a replay
    source: FundingSource
    amount_before_rupiah: int | None
    amount_after_rupiah: int | None
    legal_reference: str
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class LedgerMonth:
    """A region's month: its coverage and the adjustments it carries, as the ledger stands or as invoiced."""

    region_code: str
    month: int
    members: int
    amount_rupiah: int
    adjustment_members: int
    adjustment_rupiah: int


@dataclass(frozen=True, slots=True)
class BillingMonth:
    fiscal_year: int
    month: int
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class BilledAdjustment:
    """A late change to a closed month, billed in a later open one."""

    registration_id: str
    covered_year: int
    covered_month: int
    billed_year: int
    billed_month: int
    members: int
    amount_rupiah: int
    recorded_at: datetime


def _columns(table: Table, row_type: type[Any]) -> list[Column[Any]]:
    """The table's columns a typed row holds, in its fields' order, so ``row_type(*row)`` builds it."""
    return [table.c[f.name] for f in fields(row_type)]


def _select(table: Table, row_type: type[Any]) -> Select[Any]:
    return select(*_columns(table, row_type))


class ConcurrentChange(Exception):
    """A budget changed between reading it and writing it: the whole batch is decided again."""


def _insert(session: AsyncSession, table: Any) -> Any:
    """INSERT with ON CONFLICT support on either backend."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def _updated(session: AsyncSession, statement: Update, params: dict[str, Any] | None = None) -> int:
    """How many rows an UPDATE changed: the guards below are conditional UPDATEs checked by their row count."""
    result = cast(CursorResult[Any], await session.execute(statement, params))
    return result.rowcount


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


# --- rates ------------------------------------------------------------------------------------------------------

async def load_rates(session: AsyncSession) -> list[Rate]:
    rows = (await session.execute(select(rates).order_by(rates.c.programme, rates.c.valid_from,
                                                         rates.c.component))).all()
    return [Rate(r.programme, r.component, r.amount_rupiah, r.valid_from, r.valid_to, r.legal_reference)
            for r in rows]


async def rate_book(session: AsyncSession) -> RateBook:
    return RateBook(await load_rates(session))


# --- the funding gate -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Seen:
    committed: int
    funded_members: int
    reserved: int


async def lock_budgets(session: AsyncSession, keys: set[tuple[str, int]]
                       ) -> tuple[dict[tuple[str, int], BudgetState], dict[int, Seen]]:
    """The budgets a batch may charge, row-locked on PostgreSQL (in id order, so two consumers cannot deadlock)."""
    if not keys:
        return {}, {}
    regions = sorted({k[0] for k in keys})
    years = sorted({k[1] for k in keys})
    rows = (await session.execute(
        select(budgets).where(budgets.c.region_code.in_(regions), budgets.c.fiscal_year.in_(years))
        .order_by(budgets.c.id).with_for_update()
    )).all()
    found = {(r.region_code, r.fiscal_year): r for r in rows if (r.region_code, r.fiscal_year) in keys}
    lines = await _lines_of(session, [r.id for r in found.values()])
    states = {
        key: BudgetState(r.id, r.region_code, r.fiscal_year, r.allocation_rupiah, r.committed_rupiah,
                         r.funded_members, r.thresholds_published,
                         tuple((line.line_id, line.amount_rupiah) for line in lines.get(r.id, ())),
                         r.reserved_rupiah, r.funding_policy, r.backdate_late_grants)
        for key, r in found.items()
    }
    return states, {s.id: Seen(s.committed, s.funded_members, s.reserved) for s in states.values()}


async def _lines_of(session: AsyncSession, budget_ids: list[int]) -> dict[int, list[Line]]:
    out: dict[int, list[Line]] = defaultdict(list)
    if budget_ids:
        for budget_id, *line in (await session.execute(
            select(funding_lines.c.budget_id, *_columns(funding_lines, Line)).where(
                funding_lines.c.budget_id.in_(budget_ids))
            .order_by(funding_lines.c.budget_id, funding_lines.c.position)
        )).all():
            out[budget_id].append(Line(*line))
    return out


async def load_registrations(session: AsyncSession, ids: Iterable[str]) -> dict[str, RegistrationState]:
    wanted = sorted(set(ids))
    found: dict[str, RegistrationState] = {}
    for chunk in _chunks(wanted):
        for r in (await session.execute(select(registrations).where(registrations.c.registration_id.in_(chunk)))):
            found[r.registration_id] = RegistrationState(
                r.registration_id, r.regency_code, r.fiscal_year, r.programme, r.start_month, r.last_month,
                r.status, r.budget_id, r.funding_region_code, r.funding_line_id, r.granted_rupiah,
                r.released_rupiah, reserved_rupiah=r.reserved_rupiah,
            )
    return found


async def queued(session: AsyncSession, keys: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which of these (regency/city, year) waiting lists are not empty."""
    if not keys:
        return set()
    rows = (await session.execute(
        select(waiting.c.regency_code, waiting.c.fiscal_year).distinct()
        .where(waiting.c.regency_code.in_(sorted({k[0] for k in keys})),
               waiting.c.fiscal_year.in_(sorted({k[1] for k in keys})))
    )).all()
    return {(r.regency_code, r.fiscal_year) for r in rows} & keys


_WAITER = (waiting.c.id, waiting.c.registration_id, waiting.c.regency_code, waiting.c.fiscal_year,
           waiting.c.programme, waiting.c.start_month, waiting.c.last_month, waiting.c.worker_ref,
           waiting.c.category, waiting.c.sex, waiting.c.age_band)


async def waiters_for(session: AsyncSession, budget_keys: Iterable[tuple[str, int]]) -> list[Waiter]:
    """The waiting lists these budgets can fund, in arrival order: a regency/city's own, or for a province's budget
    every list in the province."""
    clauses = [and_(waiting.c.fiscal_year == year,
                    waiting.c.regency_code.like(f"{code}.%") if len(code) == 2 else waiting.c.regency_code == code)
               for code, year in sorted(set(budget_keys))]
    if not clauses:
        return []
    return [Waiter(*r) for r in (await session.execute(
        select(*_WAITER).where(or_(*clauses)).order_by(waiting.c.id))).all()]


async def anyone_waits(session: AsyncSession) -> bool:
    return (await session.execute(select(waiting.c.id).limit(1))).first() is not None


async def waiters_before(session: AsyncSession, fiscal_year: int) -> list[Waiter]:
    """Everyone still waiting in a fiscal year before this one: their years are over."""
    return [Waiter(*r) for r in (await session.execute(
        select(*_WAITER).where(waiting.c.fiscal_year < fiscal_year).order_by(waiting.c.id))).all()]


async def fundable_lists(session: AsyncSession) -> set[tuple[str, int]]:
    """The budgets with money left whose waiting lists (their own, or a province's regencies') are not empty."""
    lists = (await session.execute(select(waiting.c.regency_code, waiting.c.fiscal_year).distinct())).all()
    if not lists:
        return set()
    candidates = {(r.regency_code, r.fiscal_year) for r in lists} | {(r.regency_code[:2], r.fiscal_year)
                                                                     for r in lists}
    rows = (await session.execute(
        select(budgets.c.region_code, budgets.c.fiscal_year).where(
            budgets.c.allocation_rupiah > budgets.c.committed_rupiah + budgets.c.reserved_rupiah,
            budgets.c.region_code.in_(sorted({c for c, _ in candidates})))
    )).all()
    return {(r.region_code, r.fiscal_year) for r in rows} & candidates


@dataclass(frozen=True, slots=True)
class QueuedRegistration:
    registration_id: str
    regency_code: str
    arrival: int
    position: int
    since: datetime


async def waiting_list(session: AsyncSession, regency_code: str, fiscal_year: int, limit: int
                       ) -> tuple[int, list[QueuedRegistration]]:
    """A regency/city's waiting list in arrival order: how many wait, and the first `limit` with their positions."""
    where = (waiting.c.regency_code == regency_code, waiting.c.fiscal_year == fiscal_year)
    total = (await session.execute(select(func.count()).select_from(waiting).where(*where))).scalar_one()
    rows = (await session.execute(
        select(waiting.c.registration_id, waiting.c.id, waiting.c.since).where(*where).order_by(waiting.c.id)
        .limit(limit))).all()
    return total, [QueuedRegistration(r.registration_id, regency_code, r.id, i + 1, r.since)
                   for i, r in enumerate(rows)]

async def closed_months(session: AsyncSession, months: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of these billing months are closed, share-locking their rows so no close interleaves with us."""
    if not months:
        return set()
    stmt = _insert(session, billing_months).on_conflict_do_nothing(index_elements=["fiscal_year", "month"])
    await session.execute(stmt, [{"fiscal_year": y, "month": m, "closed_at": None} for y, m in sorted(months)])
    years = sorted({y for y, _ in months})
    rows = (await session.execute(
        select(billing_months.c.fiscal_year, billing_months.c.month, billing_months.c.closed_at)
        .where(billing_months.c.fiscal_year.in_(years))
        .order_by(billing_months.c.fiscal_year, billing_months.c.month).with_for_update(read=True)
    )).all()
    return {(r.fiscal_year, r.month) for r in rows if r.closed_at is not None}


# One statement object for every budget's commitment: SQLAlchemy keys its compiled-SQL cache on the statement's
# structure, and a new statement per budget (hundreds per batch from field kits) had its key generated anew each
# time: about 7% of the subsidy service's py-spy samples on a field-kit run.
_COMMIT = (
    update(budgets)
    .where(budgets.c.id == bindparam("b_id"),
           budgets.c.committed_rupiah == bindparam("b_committed"),
           budgets.c.reserved_rupiah == bindparam("b_reserved"),
           budgets.c.committed_rupiah + bindparam("b_delta") + budgets.c.reserved_rupiah + bindparam("b_rdelta")
           <= budgets.c.allocation_rupiah)
    .values(committed_rupiah=budgets.c.committed_rupiah + bindparam("b_delta"),
            reserved_rupiah=budgets.c.reserved_rupiah + bindparam("b_rdelta"),
            funded_members=budgets.c.funded_members + bindparam("b_members"),
            thresholds_published=budgets.c.thresholds_published.op("|")(bindparam("b_thresholds")),
            updated_at=bindparam("b_now", type_=budgets.c.updated_at.type))
)


async def apply(session: AsyncSession, plan: Plan, seen: dict[int, Seen],
                ledger: dict[tuple[str, int, int], list[int]], carried: list[Adjustment], now: datetime
                ) -> dict[str, tuple[int, int]]:
    """Write a decided batch. Each budget's commitment is a conditional UPDATE checked by its row count, and so is
    each registration's leaving the waiting list (its row's DELETE): nobody is funded twice. Returns each newly
    waiting registration's (arrival, position)."""
    for budget in sorted(plan.touched_budgets.values(), key=lambda b: b.id):
        before = seen[budget.id]
        updated = await _updated(session, _COMMIT, {
            "b_id": budget.id, "b_committed": before.committed, "b_delta": budget.committed - before.committed,
            "b_reserved": before.reserved, "b_rdelta": budget.reserved - before.reserved,
            "b_members": budget.funded_members - before.funded_members,
            "b_thresholds": budget.thresholds_published, "b_now": now})
        if updated != 1:
            raise ConcurrentChange(f"budget {budget.id}")
    for chunk in _chunks(sorted(plan.left)):
        if await _updated(session, delete(waiting).where(waiting.c.registration_id.in_(chunk))) != len(chunk):
            raise ConcurrentChange("waiting list")

    new = [r for r in plan.registrations.values() if r.new]
    late = [r for r in plan.registrations.values() if r.late]
    changed = [r for r in plan.registrations.values() if not r.new and not r.late]
    if late:
        await session.execute(
            update(registrations).where(registrations.c.registration_id == bindparam("rid"))
            .values(status=bindparam("b_status"), start_month=bindparam("b_start"), last_month=bindparam("b_last"),
                    budget_id=bindparam("b_budget"), funding_region_code=bindparam("b_region"),
                    funding_line_id=bindparam("b_line"), granted_rupiah=bindparam("b_granted"), decided_at=now),
            [{"rid": r.registration_id, "b_status": r.status, "b_start": r.start_month, "b_last": r.last_month,
              "b_budget": r.budget_id, "b_region": r.funding_region_code, "b_line": r.funding_line_id,
              "b_granted": r.granted_rupiah} for r in late])
    if new:
        await session.execute(insert(registrations), [
            {"registration_id": r.registration_id, "regency_code": r.regency_code, "fiscal_year": r.fiscal_year,
             "programme": r.programme, "start_month": r.start_month, "last_month": r.last_month,
             "status": r.status, "budget_id": r.budget_id, "funding_region_code": r.funding_region_code,
             "funding_line_id": r.funding_line_id, "granted_rupiah": r.granted_rupiah,
             "released_rupiah": r.released_rupiah, "decided_at": now,
             "released_at": now if r.released_rupiah else None}
            for r in new
        ])
    if changed:
        await session.execute(
            update(registrations).where(registrations.c.registration_id == bindparam("rid"))
            .values(status=bindparam("b_status"), last_month=bindparam("last"), released_rupiah=bindparam("released"),
                    reserved_rupiah=bindparam("reserved"), released_at=now),
            [{"rid": r.registration_id, "b_status": r.status, "last": r.last_month, "released": r.released_rupiah,
              "reserved": r.reserved_rupiah} for r in changed],
        )
    arrivals = await _join(session, plan.joined, now) if plan.joined else {}

    if ledger:
        stmt = _insert(session, ledger_months)
        stmt = stmt.on_conflict_do_update(
            index_elements=["region_code", "fiscal_year", "month"],
            set_={
                "members": ledger_months.c.members + stmt.excluded.members,
                "amount_rupiah": ledger_months.c.amount_rupiah + stmt.excluded.amount_rupiah,
                "adjustment_members": ledger_months.c.adjustment_members + stmt.excluded.adjustment_members,
                "adjustment_rupiah": ledger_months.c.adjustment_rupiah + stmt.excluded.adjustment_rupiah,
            },
        )
        await session.execute(stmt, [
            {"region_code": region, "fiscal_year": year, "month": month, "members": d[0], "amount_rupiah": d[1],
             "adjustment_members": d[2], "adjustment_rupiah": d[3]}
            for (region, year, month), d in sorted(ledger.items())
        ])
    if carried:
        await session.execute(insert(adjustments), [
            {"region_code": a.region_code, "registration_id": a.registration_id, "covered_year": a.covered[0],
             "covered_month": a.covered[1], "billed_year": a.billed[0], "billed_month": a.billed[1],
             "members": a.members, "amount_rupiah": a.amount_rupiah, "recorded_at": now}
            for a in carried
        ])
    return arrivals


async def _join(session: AsyncSession, joined: list[Waiter], now: datetime) -> dict[str, tuple[int, int]]:
    """Put registrations on their waiting lists in the order they came (ids give the arrival order); their
    arrival and their position in their list."""
    await session.execute(insert(waiting), [
        {"registration_id": w.registration_id, "regency_code": w.regency_code, "fiscal_year": w.fiscal_year,
         "programme": w.programme, "start_month": w.start_month, "last_month": w.last_month,
         "worker_ref": w.worker_ref, "category": w.category, "sex": w.sex, "age_band": w.age_band, "since": now}
        for w in joined])
    arrival: dict[str, int] = {}
    for chunk in _chunks([w.registration_id for w in joined]):
        arrival.update((r.registration_id, r.id) for r in (await session.execute(
            select(waiting.c.registration_id, waiting.c.id).where(waiting.c.registration_id.in_(chunk)))).all())
    out: dict[str, tuple[int, int]] = {}
    lists: dict[tuple[str, int], list[Waiter]] = defaultdict(list)
    for w in joined:
        lists[(w.regency_code, w.fiscal_year)].append(w)
    for (regency, year), members in lists.items():
        members.sort(key=lambda w: arrival[w.registration_id])
        ahead = (await session.execute(select(func.count()).select_from(waiting).where(
            waiting.c.regency_code == regency, waiting.c.fiscal_year == year,
            waiting.c.id < arrival[members[0].registration_id]))).scalar_one()
        for i, w in enumerate(members):
            out[w.registration_id] = (arrival[w.registration_id], ahead + i + 1)
    return out


# --- budgets and lines ------------------------------------------------------------------------------------------

async def budget_row(session: AsyncSession, region_code: str, fiscal_year: int, lock: bool = False
                     ) -> Budget | None:
    stmt = _select(budgets, Budget).where(budgets.c.region_code == region_code, budgets.c.fiscal_year == fiscal_year)
    row = (await session.execute(stmt.with_for_update() if lock else stmt)).first()
    return Budget(*row) if row else None


async def current_lines(session: AsyncSession, budget_id: int) -> list[Line]:
    return (await _lines_of(session, [budget_id])).get(budget_id, [])


async def open_budget(session: AsyncSession, region_code: str, fiscal_year: int, now: datetime) -> Budget:
    """The budget's row, locked, created empty first if it is new."""
    await session.execute(
        _insert(session, budgets).on_conflict_do_nothing(index_elements=["region_code", "fiscal_year"]),
        [{"region_code": region_code, "fiscal_year": fiscal_year, "allocation_rupiah": 0, "committed_rupiah": 0,
          "funded_members": 0, "revision": 0, "thresholds_published": 0, "created_at": now, "updated_at": now}],
    )
    budget = await budget_row(session, region_code, fiscal_year, lock=True)
    assert budget is not None  # inserted above, or there already
    return budget


async def replace_lines(session: AsyncSession, budget: Budget, wanted: Sequence[Line], changes: Sequence[LineChange],
                        changed_by: str, now: datetime) -> Budget:
    """Record an amendment: the new allocation (refused below what is committed), the lines, and their history."""
    allocation = sum(line.amount_rupiah for line in wanted)
    changed = await _updated(
        session, update(budgets).where(budgets.c.id == budget.id,
                                       budgets.c.committed_rupiah + budgets.c.reserved_rupiah <= allocation)
        .values(allocation_rupiah=allocation, revision=budgets.c.revision + 1, updated_at=now)
    )
    if changed != 1:
        raise AllocationBelowCommitted(allocation, budget.committed_rupiah)
    await session.execute(delete(funding_lines).where(funding_lines.c.budget_id == budget.id))
    if wanted:
        await session.execute(insert(funding_lines), [
            {"budget_id": budget.id, "line_id": line.line_id, "position": i, "source": line.source,
             "amount_rupiah": line.amount_rupiah, "legal_reference": line.legal_reference, "updated_at": now}
            for i, line in enumerate(wanted)
        ])
    await session.execute(insert(funding_line_changes), [
        {"budget_id": budget.id, "revision": budget.revision + 1, "line_id": c.line_id, "change": c.change,
         "source": c.source, "amount_before_rupiah": c.before, "amount_after_rupiah": c.after,
         "legal_reference": c.legal_reference, "changed_by": changed_by, "changed_at": now}
        for c in changes
    ])
    amended = await budget_row(session, budget.region_code, budget.fiscal_year)
    assert amended is not None
    return amended


async def set_policy(session: AsyncSession, budget: Budget, policy: FundingPolicy | None,
                     backdate_late_grants: bool | None) -> Budget:
    """The budget with its funding policy as asked (what is not given stays); a change raises the revision."""
    values: dict[str, Any] = {}
    if policy is not None and policy != budget.funding_policy:
        values["funding_policy"] = policy
    if backdate_late_grants is not None and backdate_late_grants != budget.backdate_late_grants:
        values["backdate_late_grants"] = backdate_late_grants
    if not values:
        return budget
    await session.execute(update(budgets).where(budgets.c.id == budget.id)
                          .values(**values, revision=budgets.c.revision + 1))
    changed = await budget_row(session, budget.region_code, budget.fiscal_year)
    assert changed is not None
    return changed


async def holds_budgets(session: AsyncSession) -> bool:
    return (await session.execute(select(func.count()).select_from(budgets))).scalar_one() > 0


async def holds_decisions(session: AsyncSession) -> bool:
    """Whether any registration was decided or any worker event claimed: a replay needs an empty database."""
    return ((await session.execute(select(func.count()).select_from(registrations))).scalar_one()
            + (await session.execute(select(func.count()).select_from(inbox))).scalar_one()) > 0


async def restore_budget(session: AsyncSession, region_code: str, fiscal_year: int, allocation: int,
                         lines: Sequence[Line], policy: FundingPolicy, backdate_late_grants: bool, now: datetime
                         ) -> None:
    """A budget as a budget.allocated recorded it, at revision 1, its lines' history saying "restored" by replay."""
    budget_id = (await session.execute(insert(budgets).values(
        region_code=region_code, fiscal_year=fiscal_year, allocation_rupiah=allocation, committed_rupiah=0,
        funded_members=0, revision=1, thresholds_published=0, created_at=now, updated_at=now,
        funding_policy=policy, backdate_late_grants=backdate_late_grants,
    ).returning(budgets.c.id))).scalar_one()
    if lines:
        await session.execute(insert(funding_lines), [
            {"budget_id": budget_id, "line_id": x.line_id, "position": i, "source": x.source,
             "amount_rupiah": x.amount_rupiah, "legal_reference": x.legal_reference, "updated_at": now}
            for i, x in enumerate(lines)])
        await session.execute(insert(funding_line_changes), [
            {"budget_id": budget_id, "revision": 1, "line_id": x.line_id, "change": "restored", "source": x.source,
             "amount_before_rupiah": None, "amount_after_rupiah": x.amount_rupiah,
             "legal_reference": x.legal_reference, "changed_by": "replay", "changed_at": now}
            for x in lines])


async def mark_thresholds(session: AsyncSession, budget_id: int, bits: int) -> None:
    await session.execute(update(budgets).where(budgets.c.id == budget_id)
                          .values(thresholds_published=budgets.c.thresholds_published.op("|")(bits)))


async def line_history(session: AsyncSession, budget_id: int) -> list[Amendment]:
    return [Amendment(*r) for r in (await session.execute(
        _select(funding_line_changes, Amendment).where(funding_line_changes.c.budget_id == budget_id)
        .order_by(funding_line_changes.c.id)
    )).all()]


async def budgets_in(session: AsyncSession, province_code: str, fiscal_year: int) -> list[Budget]:
    return [Budget(*r) for r in (await session.execute(
        _select(budgets, Budget).where(or_(budgets.c.region_code == province_code,
                                  budgets.c.region_code.like(f"{province_code}.%")),
                              budgets.c.fiscal_year == fiscal_year)
        .order_by(budgets.c.region_code)
    )).all()]


async def committed_since(session: AsyncSession, budget_ids: list[int], since: datetime) -> dict[int, int]:
    """Net rupiah committed per budget since an instant: grants made then, less what was released then."""
    if not budget_ids:
        return {}
    granted = dict((await session.execute(
        select(registrations.c.budget_id, func.sum(registrations.c.granted_rupiah))
        .where(registrations.c.budget_id.in_(budget_ids), registrations.c.decided_at >= since)
        .group_by(registrations.c.budget_id)
    )).all())
    released = dict((await session.execute(
        select(registrations.c.budget_id, func.sum(registrations.c.released_rupiah))
        .where(registrations.c.budget_id.in_(budget_ids), registrations.c.released_at >= since)
        .group_by(registrations.c.budget_id)
    )).all())
    return {b: int(granted.get(b) or 0) - int(released.get(b) or 0) for b in budget_ids}


# --- ledger and invoices ----------------------------------------------------------------------------------------

async def ledger_of(session: AsyncSession, region_codes: list[str], fiscal_year: int
                    ) -> dict[str, dict[int, LedgerMonth]]:
    out: dict[str, dict[int, LedgerMonth]] = defaultdict(dict)
    if region_codes:
        for r in (await session.execute(
            _select(ledger_months, LedgerMonth).where(ledger_months.c.region_code.in_(region_codes),
                                                      ledger_months.c.fiscal_year == fiscal_year)
        )).all():
            out[r.region_code][r.month] = LedgerMonth(*r)
    return out


async def billed_ledger(session: AsyncSession, fiscal_year: int, region_codes: list[str] | None = None
                        ) -> dict[str, dict[int, LedgerMonth]]:
    """Each region's months as billed (all regions without region_codes): a closed month as its frozen invoice, an
    open one as the ledger stands. A late change to a closed month corrects that month's coverage in
    ledger_months, but it is billed once, as the adjustment an open month carries, so it is not shown here twice.

    One statement, so a close between reading the months' state and their rows cannot mix the two."""
    still_open = (
        _select(ledger_months, LedgerMonth)
        .select_from(ledger_months.outerjoin(billing_months, and_(
            billing_months.c.fiscal_year == ledger_months.c.fiscal_year,
            billing_months.c.month == ledger_months.c.month)))
        .where(ledger_months.c.fiscal_year == fiscal_year, billing_months.c.closed_at.is_(None))
    )
    frozen = _select(invoices, LedgerMonth).where(invoices.c.fiscal_year == fiscal_year)
    if region_codes is not None:
        still_open = still_open.where(ledger_months.c.region_code.in_(region_codes))
        frozen = frozen.where(invoices.c.region_code.in_(region_codes))
    out: dict[str, dict[int, LedgerMonth]] = defaultdict(dict)
    for r in (await session.execute(union_all(still_open, frozen))).all():
        out[r.region_code][r.month] = LedgerMonth(*r)
    return out


async def whole_ledger(session: AsyncSession) -> list[tuple[str, int, int, int, int]]:
    """Every (region, year, month, members, rupiah) with coverage: what a replay must reproduce."""
    return [tuple(r) for r in (await session.execute(
        select(ledger_months.c.region_code, ledger_months.c.fiscal_year, ledger_months.c.month,
               ledger_months.c.members, ledger_months.c.amount_rupiah)
        .where(or_(ledger_months.c.members != 0, ledger_months.c.amount_rupiah != 0))
        .order_by(ledger_months.c.region_code, ledger_months.c.fiscal_year, ledger_months.c.month)
    )).all()]


async def billing_month(session: AsyncSession, fiscal_year: int, month: int) -> BillingMonth | None:
    row = (await session.execute(_select(billing_months, BillingMonth).where(
        billing_months.c.fiscal_year == fiscal_year, billing_months.c.month == month))).first()
    return BillingMonth(*row) if row else None


async def closed_in(session: AsyncSession, fiscal_year: int) -> set[int]:
    return set((await session.scalars(select(billing_months.c.month).where(
        billing_months.c.fiscal_year == fiscal_year, billing_months.c.closed_at.is_not(None)))).all())


async def close_month(session: AsyncSession, fiscal_year: int, month: int, now: datetime) -> bool:
    """Freeze the month's invoices, once. False if it was already closed (nothing is rewritten)."""
    await session.execute(
        _insert(session, billing_months).on_conflict_do_nothing(index_elements=["fiscal_year", "month"]),
        [{"fiscal_year": fiscal_year, "month": month, "closed_at": None}],
    )
    # Waits for consumers holding the month's row, and makes later ones see it closed.
    changed = await _updated(
        session, update(billing_months).where(billing_months.c.fiscal_year == fiscal_year,
                                              billing_months.c.month == month,
                                              billing_months.c.closed_at.is_(None)).values(closed_at=now)
    )
    if changed != 1:
        return False
    rows = (await session.execute(
        select(ledger_months).where(ledger_months.c.fiscal_year == fiscal_year, ledger_months.c.month == month)
    )).all()
    frozen = [
        {"fiscal_year": fiscal_year, "month": month, "region_code": r.region_code, "members": r.members,
         "amount_rupiah": r.amount_rupiah, "adjustment_members": r.adjustment_members,
         "adjustment_rupiah": r.adjustment_rupiah, "amount_due_rupiah": r.amount_rupiah + r.adjustment_rupiah,
         "closed_at": now}
        for r in rows if any((r.members, r.amount_rupiah, r.adjustment_members, r.adjustment_rupiah))
    ]
    if frozen:
        await session.execute(insert(invoices), frozen)
    return True


async def invoice_lines(session: AsyncSession, fiscal_year: int, month: int
                        ) -> tuple[BillingMonth | None, list[LedgerMonth]]:
    """A month's billing row and its invoices: frozen if it is closed, what they would be if it closed now."""
    state = await billing_month(session, fiscal_year, month)
    closed = state is not None and state.closed_at is not None
    return state, await (invoices_of if closed else open_month_lines)(session, fiscal_year, month)


async def invoices_of(session: AsyncSession, fiscal_year: int, month: int) -> list[LedgerMonth]:
    return [LedgerMonth(*r) for r in (await session.execute(
        _select(invoices, LedgerMonth).where(invoices.c.fiscal_year == fiscal_year, invoices.c.month == month)
        .order_by(invoices.c.region_code)
    )).all()]


async def open_month_lines(session: AsyncSession, fiscal_year: int, month: int) -> list[LedgerMonth]:
    """What a month's invoices would be if it were closed now."""
    return [LedgerMonth(*r) for r in (await session.execute(
        _select(ledger_months, LedgerMonth).where(
            ledger_months.c.fiscal_year == fiscal_year, ledger_months.c.month == month,
            or_(ledger_months.c.members != 0, ledger_months.c.adjustment_rupiah != 0,
                ledger_months.c.amount_rupiah != 0))
        .order_by(ledger_months.c.region_code)
    )).all()]


async def adjustments_billed_in(session: AsyncSession, region_code: str, fiscal_year: int
                                ) -> list[BilledAdjustment]:
    return [BilledAdjustment(*r) for r in (await session.execute(
        _select(adjustments, BilledAdjustment).where(adjustments.c.region_code == region_code,
                                                     adjustments.c.billed_year == fiscal_year)
        .order_by(adjustments.c.id)
    )).all()]


# --- BPJS's bills and the invoices' payments ---

@dataclass(frozen=True, slots=True)
class Payment:
    fiscal_year: int
    month: int
    region_code: str
    invoiced_rupiah: int
    paid_rupiah: int
    paid_on: date
    reference: str
    recorded_by: str
    recorded_by_name: str
    recorded_at: datetime


async def invoice_of(session: AsyncSession, fiscal_year: int, month: int, region_code: str) -> LedgerMonth | None:
    row = (await session.execute(_select(invoices, LedgerMonth).where(
        invoices.c.fiscal_year == fiscal_year, invoices.c.month == month, invoices.c.region_code == region_code))
    ).first()
    return LedgerMonth(*row) if row is not None else None


async def payment_of(session: AsyncSession, fiscal_year: int, month: int, region_code: str) -> Payment | None:
    row = (await session.execute(_select(invoice_payments, Payment).where(
        invoice_payments.c.fiscal_year == fiscal_year, invoice_payments.c.month == month,
        invoice_payments.c.region_code == region_code))).first()
    if row is None:
        return None
    payment = Payment(*row)
    return Payment(**{f.name: getattr(payment, f.name) for f in fields(Payment)} | {
        "recorded_at": _utc(payment.recorded_at)})


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def insert_payment(session: AsyncSession, payment: Payment) -> bool:
    """Record the payment unless one is recorded already (False): the first wins, whoever raced it."""
    result = await session.execute(
        _insert(session, invoice_payments).on_conflict_do_nothing(
            index_elements=["fiscal_year", "month", "region_code"]),
        [{f.name: getattr(payment, f.name) for f in fields(Payment)}])
    return cast(CursorResult[Any], result).rowcount == 1


async def paid_in(session: AsyncSession, fiscal_year: int) -> dict[str, int]:
    """What each region has paid BPJS for the fiscal year's months."""
    rows = await session.execute(select(invoice_payments.c.region_code, func.sum(invoice_payments.c.paid_rupiah))
                                 .where(invoice_payments.c.fiscal_year == fiscal_year)
                                 .group_by(invoice_payments.c.region_code))
    return {code: int(total) for code, total in rows.all()}


async def invoiced_in(session: AsyncSession, fiscal_year: int) -> dict[str, int]:
    """What each region's frozen invoices of the fiscal year come to."""
    rows = await session.execute(select(invoices.c.region_code, func.sum(invoices.c.amount_due_rupiah))
                                 .where(invoices.c.fiscal_year == fiscal_year).group_by(invoices.c.region_code))
    return {code: int(total) for code, total in rows.all()}


async def funded_in_month(session: AsyncSession, region_code: str, fiscal_year: int, month: int
                          ) -> list[tuple[str, str]]:
    """(registration id, programme) of every member the region's budget funds in the month, as it stands now."""
    rows = await session.execute(select(registrations.c.registration_id, registrations.c.programme).where(
        registrations.c.funding_region_code == region_code, registrations.c.fiscal_year == fiscal_year,
        registrations.c.status == "granted", registrations.c.start_month <= month,
        registrations.c.last_month >= month))
    return [(r.registration_id, r.programme) for r in rows.all()]


async def store_bill(session: AsyncSession, fiscal_year: int, month: int, region_code: str, members: int,
                     amount: int, differences: int, recorded_by: str, now: datetime) -> None:
    row = {"fiscal_year": fiscal_year, "month": month, "region_code": region_code, "billed_members": members,
           "billed_rupiah": amount, "differences": differences, "recorded_by": recorded_by, "recorded_at": now}
    await session.execute(_insert(session, bpjs_bills).on_conflict_do_update(
        index_elements=["fiscal_year", "month", "region_code"],
        set_={k: v for k, v in row.items() if k not in ("fiscal_year", "month", "region_code")}), [row])
