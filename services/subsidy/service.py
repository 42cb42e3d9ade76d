"""The subsidy service's use cases: recording a budget's funding lines, funding a polled batch of worker events,
funding and ending the waiting lists, closing a month, and the budgets, waiting lists, ledger, invoices, rates and
renewal costs offices read.

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
    AlreadyPaid,
    BilledLine,
    BudgetNotFound,
    BudgetState,
    Denied,
    FundingSource,
    Granted,
    LateGranted,
    Line,
    LineChange,
    MonthNotClosed,
    MonthNotStarted,
    NoInvoice,
    Plan,
    Rate,
    RateBook,
    Reconciliation,
    Released,
    Threshold,
    ThresholdCrossed,
    UnknownRegion,
    UnpricedMonth,
    WaitEnded,
    Waiter,
    Waitlisted,
    amend,
    bill,
    billing_months_needed,
    budget_keys,
    decide_funding,
    fund_waiting,
    fundable_members,
    linked_ids,
    projected_exhaustion,
    reconcile,
    spent_to_date,
    utilisation,
)
from services.subsidy.metrics import FUNDING_DECISIONS, record_utilisation
from services.subsidy.models import inbox, key_actions, outbox
from services.subsidy.producers import (
    allocated_event,
    decision_events,
    invoice_issued_event,
    invoice_paid_event,
    threshold_event,
)
from services.subsidy.repository import (
    Amendment,
    BilledAdjustment,
    BillingMonth,
    Budget,
    LedgerMonth,
    Payment,
    QueuedRegistration,
    Seen,
)
from shared.access import Principal
from shared.clock import Clock
from shared.database import Database
from shared.events import BudgetAllocated, BudgetAllocatedV2
from shared.inbox import claim_new
from shared.kafka import Consumed
from shared.key_actions import record_key_action
from shared.outbox import enqueue
from shared.regions import region
from shared.vocabulary import DEFAULT_PROGRAMME, LAST_MONTH, FundingPolicy

log = logging.getLogger(__name__)

# Races that another consumer's transaction causes (an inbox or registration id it claimed first, a deadlock, a
# budget moved under us): the batch is decided again, and finds their effect already there.
ATTEMPTS = 5
RETRY_SQLSTATES = {"40001", "40P01"}
OUTCOMES: dict[type, str] = {Granted: "granted", LateGranted: "granted", Denied: "denied", WaitEnded: "denied",
                             Waitlisted: "waitlisted", Released: "released"}


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
    invoiced_rupiah: int = 0  # the year's frozen invoices charged to this budget's region
    paid_rupiah: int = 0  # what of them was recorded paid to BPJS


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
    years = {r.fiscal_year for r in rows}
    invoiced = {(code, y): v for y in years for code, v in (await repository.invoiced_in(session, y)).items()}
    paid = {(code, y): v for y in years for code, v in (await repository.paid_in(session, y)).items()}
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
            invoiced_rupiah=invoiced.get((r.region_code, r.fiscal_year), 0),
            paid_rupiah=paid.get((r.region_code, r.fiscal_year), 0),
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
                       principal: Principal, *, backdate_months: int, policy: FundingPolicy | None = None,
                       backdate_late_grants: bool | None = None) -> list[LineChange]:
    """Amend a budget (created empty if new) to the wanted lines, and set its funding policy if given. A change is
    written to the history, raises the revision, publishes budget.allocated and any threshold the new allocation
    crosses; identical lines change nothing. Money the amendment adds funds the waiting lists it covers, in the same
    transaction, which also records the change as the key's action."""
    known_region(region_code)
    now = clock.now()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with database.transaction() as session:
                opened = await repository.open_budget(session, region_code, fiscal_year, now)
                budget = await repository.set_policy(session, opened, policy, backdate_late_grants)
                changes = amend(await repository.current_lines(session, budget.id), wanted)
                if changes:
                    budget = await repository.replace_lines(session, budget, wanted, changes, principal.key_id, now)
                if budget.revision != opened.revision:
                    await _publish_allocation(session, budget, wanted, now)
                    await record_key_action(session, key_actions, principal, now, "budget_amended", region_code,
                                            str(fiscal_year), before=_budget_terms(opened),
                                            after={**_budget_terms(budget), "lines": [
                                                {"line_id": c.line_id, "change": c.change, "source": c.source,
                                                 "before_rupiah": c.before, "after_rupiah": c.after,
                                                 "legal_reference": c.legal_reference} for c in changes]})
                late = await _fund_waiters(session, clock, await repository.rate_book(session),
                                           {(region_code, fiscal_year)}, backdate_months, publish=True)
            break
        except Exception as exc:
            if attempt == ATTEMPTS or not _is_race(exc):
                raise
    _count(late)
    record_utilisation(region_code, fiscal_year, budget.committed_rupiah, budget.allocation_rupiah)
    return changes


def _budget_terms(budget: Budget) -> dict[str, object]:
    return {"allocation_rupiah": budget.allocation_rupiah, "funding_policy": budget.funding_policy,
            "backdate_late_grants": budget.backdate_late_grants, "revision": budget.revision}


async def _publish_allocation(session: AsyncSession, budget: Budget, wanted: Sequence[Line], now: datetime) -> None:
    """budget.allocated for the budget's new revision, and any threshold its new allocation crosses."""
    state = BudgetState(budget.id, budget.region_code, budget.fiscal_year, budget.allocation_rupiah,
                        budget.committed_rupiah, budget.funded_members, budget.thresholds_published)
    crossed = state.newly_crossed()
    if crossed:
        await repository.mark_thresholds(session, budget.id, state.thresholds_published)
    await enqueue(session, outbox, [
        allocated_event(budget.region_code, budget.fiscal_year, budget.revision, budget.allocation_rupiah, wanted,
                        budget.funding_policy, budget.backdate_late_grants, now),
        *(threshold_event(ThresholdCrossed(budget.region_code, budget.fiscal_year, t, state.allocation,
                                           state.committed), now) for t in crossed),
    ])


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
                 for x in allocation.lines],
                # Budgets before v2 had no policy: they denied what they could not cover.
                allocation.funding_policy if isinstance(allocation, BudgetAllocatedV2) else "deny",
                isinstance(allocation, BudgetAllocatedV2) and allocation.backdate_late_grants, now)
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


def _count(plan: Plan) -> None:
    outcomes = Counter(OUTCOMES.get(type(d)) for d in plan.decisions)
    for outcome, count in outcomes.items():
        if outcome:
            FUNDING_DECISIONS.labels(outcome).inc(count)
    for budget in plan.touched_budgets.values():
        record_utilisation(budget.region_code, budget.fiscal_year, budget.committed, budget.allocation)


async def fund_batch(database: Database, clock: Clock, batch: list[Consumed], rates: RateBook, *, publish: bool,
                     backdate_months: int = 0) -> Plan | None:
    """Decide a polled batch of worker events in one transaction: the inbox claim, the decisions, the guarded budget
    commitments, the waiting lists, the ledger and (when publishing) the outbox rows together. Months a member's end
    releases fund the waiting lists in the same transaction. None if every event was seen before."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with database.transaction() as session:
                plan = await _fund(session, clock, batch, rates, publish, backdate_months)
            break
        except Exception as exc:
            if attempt == ATTEMPTS or not _is_race(exc):
                raise
            log.info("subsidy: batch raced another consumer (%s), deciding it again", type(exc).__name__)
    if plan is None:
        return None
    _count(plan)
    return plan


async def _fund(session: AsyncSession, clock: Clock, batch: list[Consumed], rates: RateBook, publish: bool,
                backdate_months: int) -> Plan | None:
    fresh = await claim_new(session, inbox, batch)
    if not fresh:
        return None
    events = [c.event for c in fresh]
    registrations = await repository.load_registrations(session, linked_ids(events))
    charged = {(r.funding_region_code, r.fiscal_year) for r in registrations.values()
               if r.budget_id is not None and r.funding_region_code is not None}
    keys = budget_keys(events)
    budgets, seen = await repository.lock_budgets(session, keys | charged)
    queued = await repository.queued(session, {k for k in keys if len(k[0]) == 5})
    plan = decide_funding(events, budgets, registrations, rates, queued)
    await _write(session, clock, plan, seen, publish)
    if plan.freed:
        freed = {(b.region_code, b.fiscal_year) for b in plan.touched_budgets.values() if b.id in plan.freed}
        plan.merge(await _fund_waiters(session, clock, rates, freed, backdate_months, publish))
    return plan


async def _write(session: AsyncSession, clock: Clock, plan: Plan, seen: dict[int, Seen], publish: bool) -> None:
    """Apply a plan: the guarded budget and waiting-list changes, the ledger, and (when publishing) its events."""
    closed = await repository.closed_months(session, billing_months_needed(plan.ledger)) if plan.ledger else set()
    ledger, carried = bill(plan.ledger, closed)
    now = clock.now()
    arrivals = await repository.apply(session, plan, seen, ledger, carried, now)
    if publish:
        await enqueue(session, outbox, decision_events(plan.decisions, now, arrivals))


async def _fund_waiters(session: AsyncSession, clock: Clock, rates: RateBook, keys: set[tuple[str, int]],
                        backdate_months: int, publish: bool, waiters: list[Waiter] | None = None) -> Plan:
    """Fund the waiting lists these budgets can cover (or decide the waiters given), in arrival order."""
    if waiters is None:
        waiters = await repository.waiters_for(session, keys)
    if not waiters:
        return Plan()
    budgets, seen = await repository.lock_budgets(
        session, {(w.regency_code, w.fiscal_year) for w in waiters} | {(w.province_code, w.fiscal_year)
                                                                       for w in waiters})
    plan = fund_waiting(waiters, budgets, rates, clock.today(), backdate_months)
    await _write(session, clock, plan, seen, publish)
    return plan


async def fund_waiting_lists(database: Database, clock: Clock, rates: RateBook, keys: set[tuple[str, int]],
                             backdate_months: int) -> Plan:
    """Money arrived in these (region, year) budgets some other way (a BPJS rejection returning a member's months):
    fund their waiting lists now, in arrival order, each registration once whichever instance gets there first."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with database.transaction() as session:
                plan = await _fund_waiters(session, clock, rates, keys, backdate_months, publish=True)
            break
        except Exception as exc:
            if attempt == ATTEMPTS or not _is_race(exc):
                raise
    _count(plan)
    return plan


async def settle_waiting_lists(database: Database, clock: Clock, backdate_months: int) -> Plan:
    """What the clock decides: whoever still waits in a fiscal year that has ended is denied (fiscal_year_ended),
    and any waiting list a budget can now cover is funded."""
    async with database.reading() as session:
        if not await repository.anyone_waits(session):
            return Plan()  # the usual case, every few seconds: one query
        ended = await repository.waiters_before(session, clock.today().year)
        fundable = await repository.fundable_lists(session)
        if not ended and not fundable:
            # No rate book to read, and no write transaction for nothing (on SQLite it would queue the writers).
            return Plan()
        rates = await repository.rate_book(session)
    plan = Plan()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with database.transaction() as session:
                plan = await _fund_waiters(session, clock, rates, set(), backdate_months, True, ended) if ended \
                    else Plan()
                plan.merge(await _fund_waiters(session, clock, rates, fundable, backdate_months, publish=True))
            break
        except Exception as exc:
            if attempt == ATTEMPTS or not _is_race(exc):
                raise
            async with database.reading() as session:
                ended = await repository.waiters_before(session, clock.today().year)
    _count(plan)
    return plan


@dataclass(frozen=True)
class RenewalCost:
    """What renewing members into a fiscal year costs at its rates, and what it leaves of its budget."""

    members: int
    schedule: tuple[tuple[int, int], ...]  # (month, premium) each member is covered for
    cost_rupiah: int
    remaining_rupiah: int | None  # None: the year has no budget yet, so the renewals wait for one
    left_after_rupiah: int | None  # below zero: that much of the renewals waits for money


async def renewal_cost(database: Database, region_code: str, fiscal_year: int, members: int, start_month: int,
                       months: int) -> RenewalCost:
    known_region(region_code)
    async with database.reading() as session:
        book = await repository.rate_book(session)
        row = await repository.budget_row(session, region_code, fiscal_year)
    schedule = book.schedule(DEFAULT_PROGRAMME, fiscal_year, range(start_month, start_month + months))
    cost = members * sum(amount for _, amount in schedule)
    remaining = None if row is None else max(0, row.allocation_rupiah - row.committed_rupiah - row.reserved_rupiah)
    return RenewalCost(members, schedule, cost, remaining, None if remaining is None else remaining - cost)


async def read_waiting_list(database: Database, regency_code: str, fiscal_year: int, limit: int
                            ) -> tuple[int, list[QueuedRegistration]]:
    known_region(regency_code)
    async with database.reading() as session:
        return await repository.waiting_list(session, regency_code, fiscal_year, limit)


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


async def close_month(database: Database, clock: Clock, fiscal_year: int, month: int, principal: Principal) -> bool:
    """Freeze every region's invoice for a month that has begun, publishing invoice.issued for each (and recording
    the key's action) in the same transaction; False if it was closed already (nothing is issued again)."""
    today = clock.today()
    if (fiscal_year, month) > (today.year, today.month):
        raise MonthNotStarted
    now = clock.now()
    async with database.transaction() as session:
        closed = await repository.close_month(session, fiscal_year, month, now)
        if closed:
            lines = await repository.invoices_of(session, fiscal_year, month)
            await enqueue(session, outbox, [
                invoice_issued_event(fiscal_year, month, line.region_code, line.members + line.adjustment_members,
                                     line.amount_rupiah + line.adjustment_rupiah, now)
                for line in lines])
            await record_key_action(session, key_actions, principal, now, "month_closed", None,
                                    f"{fiscal_year}-{month:02d}", before={"status": "open"}, after={
                                        "status": "closed", "invoices": len(lines),
                                        "amount_rupiah": sum(x.amount_rupiah + x.adjustment_rupiah for x in lines)})
        return closed


# --- BPJS's bill and the payment ----------------------------------------------------------------------------------

async def _frozen_invoice(session: AsyncSession, fiscal_year: int, month: int, region_code: str) -> LedgerMonth:
    state = await repository.billing_month(session, fiscal_year, month)
    if state is None or state.closed_at is None:
        raise MonthNotClosed
    invoice = await repository.invoice_of(session, fiscal_year, month, region_code)
    if invoice is None:
        raise NoInvoice
    return invoice


async def record_payment(database: Database, clock: Clock, fiscal_year: int, month: int, region_code: str,
                         paid_on: date, reference: str, amount: int, principal: Principal) -> tuple[Payment, bool]:
    """Record a frozen invoice as paid, once, with who recorded it, and publish invoice.paid in the same
    transaction. (payment, recorded now); the same payment again is answered with it, another one refused
    (AlreadyPaid)."""
    known_region(region_code)
    now = clock.now()
    async with database.transaction() as session:
        invoice = await _frozen_invoice(session, fiscal_year, month, region_code)
        payment = Payment(fiscal_year, month, region_code, invoice.amount_rupiah + invoice.adjustment_rupiah, amount,
                          paid_on, reference, principal.key_id, principal.name[:200], now)
        if await repository.insert_payment(session, payment):
            await enqueue(session, outbox, [invoice_paid_event(fiscal_year, month, region_code,
                                                               payment.invoiced_rupiah, amount, paid_on, reference,
                                                               now)])
            await record_key_action(session, key_actions, principal, now, "invoice_paid", region_code,
                                    f"{fiscal_year}-{month:02d}", before={"status": "unpaid"}, after={
                                        "status": "paid", "invoiced_rupiah": payment.invoiced_rupiah,
                                        "paid_rupiah": amount, "paid_on": paid_on.isoformat(),
                                        "reference": reference})
            return payment, True
        stored = await repository.payment_of(session, fiscal_year, month, region_code)
    assert stored is not None
    if (stored.paid_on, stored.reference, stored.paid_rupiah) != (paid_on, reference, amount):
        raise AlreadyPaid
    return stored, False


async def read_payment(database: Database, fiscal_year: int, month: int, region_code: str) -> Payment | None:
    known_region(region_code)
    async with database.reading() as session:
        return await repository.payment_of(session, fiscal_year, month, region_code)


async def reconcile_bill(database: Database, clock: Clock, fiscal_year: int, month: int, region_code: str,
                         lines: Sequence[BilledLine] | None, billed_members: int | None, billed_rupiah: int | None,
                         principal: Principal) -> Reconciliation:
    """BPJS's bill for a region's closed month beside its frozen invoice: totals, and with per-member lines the
    members matched, billed but not funded, funded but not billed, and billed another amount. The bill's totals
    are kept with the month."""
    known_region(region_code)
    async with database.transaction() as session:
        invoice = await _frozen_invoice(session, fiscal_year, month, region_code)
        book = await repository.rate_book(session)
        funded = {registration_id: book.monthly(programme, fiscal_year, month)
                  for registration_id, programme in await repository.funded_in_month(session, region_code,
                                                                                     fiscal_year, month)}
        result = reconcile(invoice.members + invoice.adjustment_members,
                           invoice.amount_rupiah + invoice.adjustment_rupiah, funded, lines, billed_members,
                           billed_rupiah)
        now = clock.now()
        await repository.store_bill(session, fiscal_year, month, region_code, result.billed_members,
                                    result.billed_rupiah, result.differences, principal.key_id, now)
        await record_key_action(session, key_actions, principal, now, "bill_reconciled", region_code,
                                f"{fiscal_year}-{month:02d}", after={
                                    "invoiced_members": result.invoiced_members,
                                    "invoiced_rupiah": result.invoiced_rupiah, "billed_members": result.billed_members,
                                    "billed_rupiah": result.billed_rupiah, "differences": result.differences,
                                    "per_member": result.per_member})
    return result


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
