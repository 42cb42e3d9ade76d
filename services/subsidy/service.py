"""The subsidy service's use cases: recording a budget's funding lines, funding a polled batch of worker events,
closing a month, and the budgets, ledger, invoices and rates offices read.

The API, the worker-event consumer and the CLI call these. Each owns its transaction, the events it enqueues and the
metrics it records; authorising a caller and shaping an answer stay with the caller. Refusals are the domain's
exceptions (``UnknownRegion``, ``BudgetNotFound``, ``AllocationBelowCommitted``, ``MonthNotStarted``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.subsidy import repository
from services.subsidy.domain import (
    THRESHOLDS,
    BudgetNotFound,
    BudgetState,
    Denied,
    FundingSource,
    Granted,
    Line,
    LineChange,
    MonthNotStarted,
    Plan,
    Rate,
    RateBook,
    Released,
    Threshold,
    ThresholdCrossed,
    UnknownRegion,
    UnpricedMonth,
    amend,
    bill,
    billing_months_needed,
    budget_keys,
    decide_funding,
    fundable_members,
    projected_exhaustion,
    spent_to_date,
    utilisation,
)
from services.subsidy.metrics import FUNDING_DECISIONS, record_utilisation
from services.subsidy.models import inbox, outbox
from services.subsidy.producers import allocated_event, decision_events, threshold_event
from services.subsidy.repository import Amendment, BilledAdjustment, BillingMonth, Budget, LedgerMonth
from shared.clock import Clock
from shared.database import Database
from shared.events import BudgetAllocated
from shared.inbox import claim_new
from shared.kafka import Consumed
from shared.outbox import enqueue
from shared.regions import region
from shared.vocabulary import DEFAULT_PROGRAMME, LAST_MONTH

log = logging.getLogger(__name__)

# Races that another consumer's transaction causes (an inbox or registration id it claimed first, a deadlock, a
# budget moved under us): the batch is decided again, and finds their effect already there.
ATTEMPTS = 5
RETRY_SQLSTATES = {"40001", "40P01"}
OUTCOMES: dict[type, str] = {Granted: "granted", Denied: "denied", Released: "released"}


def known_region(code: str) -> None:
    if region(code) is None:
        raise UnknownRegion(code)


# --- budgets ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BudgetView:
    """A budget with the figures a budget office reads, as of today."""

    budget: Budget
    spent_to_date_rupiah: int
    remaining_rupiah: int
    utilisation_percent: float
    projected_exhaustion_month: str | None
    fundable_members_rest_of_year: int
    thresholds_crossed: list[Threshold]
    as_of: date


@dataclass(frozen=True)
class BudgetDetail:
    view: BudgetView
    lines: list[Line]
    amendments: list[Amendment]


async def _views(session: AsyncSession, rows: Sequence[Budget], book: RateBook, clock: Clock, pace_days: int
                 ) -> list[BudgetView]:
    """Budget figures with batch queries: one for the ledgers, two for the recent pace."""
    today, now = clock.today(), clock.now()
    ledgers = await repository.ledger_of(session, [r.region_code for r in rows], rows[0].fiscal_year) if rows \
        else {}
    pace = await repository.committed_since(session, [r.id for r in rows], now - timedelta(days=pace_days))
    views = []
    for r in rows:
        remaining = max(0, r.allocation_rupiah - r.committed_rupiah)
        views.append(BudgetView(
            budget=r,
            spent_to_date_rupiah=spent_to_date({m: x.amount_rupiah for m, x in ledgers.get(r.region_code, {}).items()},
                                               r.fiscal_year, today),
            remaining_rupiah=remaining,
            utilisation_percent=round(100 * utilisation(r.committed_rupiah, r.allocation_rupiah), 2),
            projected_exhaustion_month=projected_exhaustion(remaining, pace.get(r.id, 0), pace_days, r.fiscal_year,
                                                            today),
            fundable_members_rest_of_year=fundable_members(remaining, book, DEFAULT_PROGRAMME, r.fiscal_year, today),
            thresholds_crossed=[t for i, t in enumerate(THRESHOLDS) if r.thresholds_published & (1 << i)],
            as_of=today,
        ))
    return views


async def read_budget(database: Database, clock: Clock, pace_days: int, region_code: str, fiscal_year: int
                      ) -> BudgetDetail:
    async with database.reading() as session:
        row = await repository.budget_row(session, region_code, fiscal_year)
        if row is None:
            raise BudgetNotFound(fiscal_year)
        [view] = await _views(session, [row], await repository.rate_book(session), clock, pace_days)
        return BudgetDetail(view, await repository.current_lines(session, row.id),
                            await repository.line_history(session, row.id))


async def read_province(database: Database, clock: Clock, pace_days: int, province_code: str, fiscal_year: int,
                        visible: Callable[[str], bool]) -> list[BudgetView]:
    """The province's own budget and its regencies'/cities', those the caller may see."""
    async with database.reading() as session:
        rows = [r for r in await repository.budgets_in(session, province_code, fiscal_year) if visible(r.region_code)]
        return await _views(session, rows, await repository.rate_book(session), clock, pace_days)


async def record_lines(database: Database, clock: Clock, region_code: str, fiscal_year: int, wanted: Sequence[Line],
                       changed_by: str) -> list[LineChange]:
    """Amend a budget (created empty if new) to the wanted lines. A change is written to the history, raises the
    revision, publishes budget.allocated and any threshold the new allocation crosses; identical lines change
    nothing."""
    known_region(region_code)
    now = clock.now()
    async with database.transaction() as session:
        budget = await repository.open_budget(session, region_code, fiscal_year, now)
        changes = amend(await repository.current_lines(session, budget.id), wanted)
        if not changes:
            return changes
        budget = await repository.replace_lines(session, budget, wanted, changes, changed_by, now)
        state = BudgetState(budget.id, region_code, fiscal_year, budget.allocation_rupiah, budget.committed_rupiah,
                            budget.funded_members, budget.thresholds_published)
        crossed = state.newly_crossed()
        if crossed:
            await repository.mark_thresholds(session, budget.id, state.thresholds_published)
        await enqueue(session, outbox, [
            allocated_event(region_code, fiscal_year, budget.revision, budget.allocation_rupiah, wanted, now),
            *(threshold_event(ThresholdCrossed(region_code, fiscal_year, t, state.allocation, state.committed), now)
              for t in crossed),
        ])
    record_utilisation(region_code, fiscal_year, budget.committed_rupiah, budget.allocation_rupiah)
    return changes


async def holds_budgets(database: Database) -> bool:
    async with database.reading() as session:
        return await repository.holds_budgets(session)


async def holds_decisions(database: Database) -> bool:
    async with database.reading() as session:
        return await repository.holds_decisions(session)


async def restore_budgets(database: Database, allocations: Iterable[BudgetAllocated], now: datetime) -> int:
    """Budgets as their latest budget.allocated recorded them, into a database that has none; what was committed is
    rebuilt by replaying the worker events."""
    restored = 0
    async with database.transaction() as session:
        for allocation in allocations:
            await repository.restore_budget(
                session, allocation.region_code, allocation.fiscal_year, allocation.allocation_rupiah,
                # budget.allocated carries the lines as the API accepted them, so each source is a FundingSource.
                [Line(x.line_id, cast(FundingSource, x.source), x.amount_rupiah, x.legal_reference)
                 for x in allocation.lines], now)
            restored += 1
    return restored


# --- the funding gate -------------------------------------------------------------------------------------------

async def load_rate_book(database: Database) -> RateBook:
    async with database.reading() as session:
        return await repository.rate_book(session)


def _is_race(exc: BaseException) -> bool:
    if isinstance(exc, (repository.ConcurrentChange, IntegrityError)):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES


async def fund_batch(database: Database, clock: Clock, batch: list[Consumed], rates: RateBook, *, publish: bool
                     ) -> Plan | None:
    """Decide a polled batch of worker events in one transaction: the inbox claim, the decisions, the guarded budget
    commitments, the ledger and (when publishing) the outbox rows together. None if every event was seen before."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with database.transaction() as session:
                plan = await _fund(session, clock, batch, rates, publish)
            break
        except Exception as exc:
            if attempt == ATTEMPTS or not _is_race(exc):
                raise
            log.info("subsidy: batch raced another consumer (%s), deciding it again", type(exc).__name__)
    if plan is None:
        return None
    outcomes = Counter(OUTCOMES.get(type(d)) for d in plan.decisions)
    for outcome, count in outcomes.items():
        if outcome:
            FUNDING_DECISIONS.labels(outcome).inc(count)
    for budget in plan.touched_budgets.values():
        record_utilisation(budget.region_code, budget.fiscal_year, budget.committed, budget.allocation)
    return plan


async def _fund(session: AsyncSession, clock: Clock, batch: list[Consumed], rates: RateBook, publish: bool
                ) -> Plan | None:
    fresh = await claim_new(session, inbox, batch)
    if not fresh:
        return None
    events = [c.event for c in fresh]
    registrations = await repository.load_registrations(
        session, (str(e.data.registration_id) for e in events if hasattr(e.data, "registration_id")))
    charged = {(r.funding_region_code, r.fiscal_year) for r in registrations.values()
               if r.budget_id is not None and r.funding_region_code is not None}
    budgets, seen = await repository.lock_budgets(session, budget_keys(events) | charged)
    plan = decide_funding(events, budgets, registrations, rates)
    closed = await repository.closed_months(session, billing_months_needed(plan.ledger)) if plan.ledger else set()
    ledger, carried = bill(plan.ledger, closed)
    now = clock.now()
    await repository.apply(session, plan, seen, ledger, carried, now)
    if publish:
        await enqueue(session, outbox, decision_events(plan.decisions, now))
    return plan


# --- the ledger and invoices ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BilledMonth:
    month: int
    members: int
    amount_rupiah: int
    adjustment_members: int
    adjustment_rupiah: int
    closed: bool

    @property
    def amount_due_rupiah(self) -> int:
        return self.amount_rupiah + self.adjustment_rupiah


@dataclass(frozen=True)
class Ledger:
    region_code: str
    fiscal_year: int
    months: list[BilledMonth]  # January to December
    adjustments: list[BilledAdjustment]  # late changes to closed months that this year's months bill

    @property
    def member_months(self) -> int:
        return sum(m.members + m.adjustment_members for m in self.months)

    @property
    def total_rupiah(self) -> int:
        return sum(m.amount_due_rupiah for m in self.months)


async def read_ledger(database: Database, region_code: str, fiscal_year: int) -> Ledger:
    """A region's twelve months as billed: a closed month as its frozen invoice, an open one as it stands."""
    known_region(region_code)
    async with database.reading() as session:
        months = (await repository.billed_ledger(session, fiscal_year, [region_code])).get(region_code, {})
        closed = await repository.closed_in(session, fiscal_year)
        carried = await repository.adjustments_billed_in(session, region_code, fiscal_year)
    billed = []
    for m in range(1, LAST_MONTH + 1):
        x = months.get(m)
        billed.append(BilledMonth(m, x.members, x.amount_rupiah, x.adjustment_members, x.adjustment_rupiah,
                                  m in closed) if x else BilledMonth(m, 0, 0, 0, 0, m in closed))
    return Ledger(region_code, fiscal_year, billed, carried)


@dataclass(frozen=True)
class Invoices:
    fiscal_year: int
    month: int
    billing: BillingMonth | None
    lines: list[LedgerMonth]  # one per region with anything to bill: frozen if closed, provisional if open

    @property
    def closed_at(self) -> datetime | None:
        return self.billing.closed_at if self.billing else None


async def read_invoices(database: Database, fiscal_year: int, month: int) -> Invoices:
    async with database.reading() as session:
        return Invoices(fiscal_year, month, *await repository.invoice_lines(session, fiscal_year, month))


async def close_month(database: Database, clock: Clock, fiscal_year: int, month: int) -> bool:
    """Freeze every region's invoice for a month that has begun; False if it was closed already."""
    today = clock.today()
    if (fiscal_year, month) > (today.year, today.month):
        raise MonthNotStarted
    async with database.transaction() as session:
        return await repository.close_month(session, fiscal_year, month, clock.now())


# --- rates ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RateSchedule:
    rates: list[Rate]
    programme: str
    fiscal_year: int
    monthly: list[tuple[int, int | None]]  # (month, premium), None where no rate is in force


async def read_rates(database: Database, programme: str, fiscal_year: int) -> RateSchedule:
    async with database.reading() as session:
        rates = await repository.load_rates(session)
    book = RateBook(rates)
    monthly: list[tuple[int, int | None]] = []
    for m in range(1, LAST_MONTH + 1):
        try:
            monthly.append((m, book.monthly(programme, fiscal_year, m)))
        except UnpricedMonth:
            monthly.append((m, None))
    return RateSchedule(rates, programme, fiscal_year, monthly)
