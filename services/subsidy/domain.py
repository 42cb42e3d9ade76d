"""The money rules, without I/O: pricing coverage month by month, the funding gate, releases, thresholds, billing
months, line amendments and the projections a budget office reads.

``decide_funding`` walks a polled batch in order over in-memory snapshots of the budgets and registrations it touches
and returns a ``Plan``; the repository then applies it with a handful of batch statements, guarded at the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, get_args

from shared.events import Envelope, WorkerEnded, WorkerRegistered
from shared.vocabulary import LAST_MONTH, DenialReason

Threshold = Literal[80, 95, 100]  # percent committed of the allocation
THRESHOLDS: tuple[Threshold, ...] = get_args(Threshold)
FundingSource = Literal["apbd_kabkota", "apbd_provinsi", "dana_desa", "csr"]
FUNDING_SOURCES: tuple[str, ...] = get_args(FundingSource)


class UnpricedMonth(Exception):
    """No premium rate is in force for a programme in a month: the registration cannot be priced or decided."""


# --- refusals: what the use cases turn down, each an answer the API gives ---

class UnknownRegion(Exception):
    """No province or regency/city has this code."""


class BudgetNotFound(Exception):
    def __init__(self, fiscal_year: int) -> None:
        super().__init__(f"no budget in {fiscal_year}")
        self.fiscal_year = fiscal_year


class AllocationBelowCommitted(Exception):
    """An amendment would allocate less than is already committed to registrations."""

    def __init__(self, allocation: int, committed: int) -> None:
        super().__init__("allocation below committed")
        self.allocation, self.committed = allocation, committed


class MonthNotStarted(Exception):
    """A month can be closed once it has begun."""


@dataclass(frozen=True)
class Rate:
    programme: str
    component: str
    amount_rupiah: int
    valid_from: date
    valid_to: date | None
    legal_reference: str

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class RateBook:
    """A programme's monthly premium is the sum of its components in force on the first day of the month."""

    def __init__(self, rates: Iterable[Rate]) -> None:
        self._by_programme: dict[str, list[Rate]] = defaultdict(list)
        for rate in rates:
            self._by_programme[rate.programme].append(rate)
        self._monthly: dict[tuple[str, int, int], int] = {}
        self._schedules: dict[tuple[str, int, int, int], tuple[tuple[int, int], ...]] = {}

    def monthly(self, programme: str, year: int, month: int) -> int:
        key = (programme, year, month)
        if key not in self._monthly:
            first = date(year, month, 1)
            parts = [r.amount_rupiah for r in self._by_programme.get(programme, ()) if r.in_force(first)]
            if not parts:
                raise UnpricedMonth(f"no premium rate for programme {programme[:64]!r} in {year}-{month:02d}")
            self._monthly[key] = sum(parts)
        return self._monthly[key]

    def schedule(self, programme: str, year: int, months: range) -> tuple[tuple[int, int], ...]:
        """(month, rupiah) for each month of a run of months, at the rate in force that month."""
        key = (programme, year, months.start, months.stop)
        if key not in self._schedules:
            self._schedules[key] = tuple((m, self.monthly(programme, year, m)) for m in months)
        return self._schedules[key]


def covered_months(start_month: int, months: int) -> range:
    """Coverage ends with the fiscal year it starts in; renewal for the next year is a separate registration."""
    return range(start_month, min(LAST_MONTH, start_month + months - 1) + 1)


@dataclass
class BudgetState:
    id: int
    region_code: str
    fiscal_year: int
    allocation: int
    committed: int
    funded_members: int
    thresholds_published: int
    lines: tuple[tuple[str, int], ...] = ()  # (line_id, amount) in the order they are drawn on

    @property
    def remaining(self) -> int:
        return max(0, self.allocation - self.committed)

    def line_at(self, offset: int) -> str | None:
        """The line a commitment starting at this rupiah offset is drawn from: lines are used up in order."""
        end = 0
        for line_id, amount in self.lines:
            end += amount
            if offset < end:
                return line_id
        return self.lines[-1][0] if self.lines else None

    def newly_crossed(self) -> list[Threshold]:
        """Thresholds reached now and not yet published; marks them published."""
        crossed = [t for i, t in enumerate(THRESHOLDS)
                   if self.allocation > 0 and self.committed * 100 >= self.allocation * t
                   and not self.thresholds_published & (1 << i)]
        for t in crossed:
            self.thresholds_published |= 1 << THRESHOLDS.index(t)
        return crossed


@dataclass
class RegistrationState:
    registration_id: str
    regency_code: str
    fiscal_year: int
    programme: str
    start_month: int
    last_month: int
    status: str  # granted | denied
    budget_id: int | None
    funding_region_code: str | None
    funding_line_id: str | None
    granted_rupiah: int
    released_rupiah: int
    new: bool = False


@dataclass(frozen=True)
class Granted:
    event: Envelope[WorkerRegistered]
    budget: BudgetState
    schedule: tuple[tuple[int, int], ...]
    amount_rupiah: int
    line_id: str | None


@dataclass(frozen=True)
class Denied:
    event: Envelope[WorkerRegistered]
    reason: DenialReason
    schedule: tuple[tuple[int, int], ...]
    amount_rupiah: int
    remaining_rupiah: int


@dataclass(frozen=True)
class Released:
    event: Envelope[WorkerEnded]
    registration: RegistrationState
    end_month: int
    schedule: tuple[tuple[int, int], ...]
    amount_rupiah: int


@dataclass(frozen=True)
class ThresholdCrossed:
    region_code: str
    fiscal_year: int
    threshold_percent: Threshold
    allocation_rupiah: int
    committed_rupiah: int


FundingDecision = Granted | Denied | Released | ThresholdCrossed


@dataclass(frozen=True)
class LedgerChange:
    """One registration's coverage of some months of a funding region, added (+1) or released (-1)."""

    region_code: str
    fiscal_year: int
    schedule: tuple[tuple[int, int], ...]
    sign: int
    registration_id: str


@dataclass
class Plan:
    decisions: list[FundingDecision] = field(default_factory=list)
    touched_budgets: dict[int, BudgetState] = field(default_factory=dict)
    registrations: dict[str, RegistrationState] = field(default_factory=dict)  # new or changed
    ledger: list[LedgerChange] = field(default_factory=list)


def budget_keys(events: Sequence[Envelope[Any]]) -> set[tuple[str, int]]:
    """The budgets a batch may charge: each registration's regency/city and, as a fallback, its province."""
    keys = set()
    for e in events:
        if isinstance(e.data, WorkerRegistered):
            keys.add((e.data.regency_code, e.data.fiscal_year))
            keys.add((e.data.province_code, e.data.fiscal_year))
    return keys


def decide_funding(events: Sequence[Envelope[Any]], budgets: dict[tuple[str, int], BudgetState],
           registrations: dict[str, RegistrationState], rates: RateBook) -> Plan:
    """Decide a batch in order. The snapshots are updated in place, so later events see earlier ones' effects."""
    plan = Plan()
    by_id = {b.id: b for b in budgets.values()}
    for event in events:
        if isinstance(event.data, WorkerRegistered):
            _register(event, budgets, registrations, rates, plan)
        elif isinstance(event.data, WorkerEnded):
            _end(event, by_id, registrations, rates, plan)
    return plan


def _register(event: Envelope[WorkerRegistered], budgets: dict[tuple[str, int], BudgetState],
              registrations: dict[str, RegistrationState], rates: RateBook, plan: Plan) -> None:
    data = event.data
    registration_id = str(data.registration_id)
    if registration_id in registrations:
        return  # decided already (a re-sent registration under a new event id): one decision per registration
    months = covered_months(data.start_month, data.months)
    schedule = rates.schedule(data.programme, data.fiscal_year, months)
    cost = sum(amount for _, amount in schedule)
    candidates = [b for b in (budgets.get((data.regency_code, data.fiscal_year)),
                              budgets.get((data.province_code, data.fiscal_year)))
                  if b is not None and b.allocation > 0]
    chosen = next((b for b in candidates if b.committed + cost <= b.allocation), None)
    state = RegistrationState(
        registration_id, data.regency_code, data.fiscal_year, data.programme, months.start, months[-1],
        "granted" if chosen else "denied", chosen.id if chosen else None,
        chosen.region_code if chosen else None, None, cost if chosen else 0, 0, new=True,
    )
    registrations[registration_id] = plan.registrations[registration_id] = state
    if chosen is None:
        reason: DenialReason = "budget_exhausted" if candidates else "no_allocation"
        remaining = candidates[-1].remaining if candidates else 0
        plan.decisions.append(Denied(event, reason, schedule, cost, remaining))
        return
    state.funding_line_id = chosen.line_at(chosen.committed)
    chosen.committed += cost
    chosen.funded_members += 1
    plan.touched_budgets[chosen.id] = chosen
    plan.decisions.append(Granted(event, chosen, schedule, cost, state.funding_line_id))
    plan.ledger.append(LedgerChange(chosen.region_code, data.fiscal_year, schedule, 1, registration_id))
    for threshold in chosen.newly_crossed():
        plan.decisions.append(ThresholdCrossed(chosen.region_code, chosen.fiscal_year, threshold,
                                               chosen.allocation, chosen.committed))


def _end(event: Envelope[WorkerEnded], budgets: dict[int, BudgetState],
         registrations: dict[str, RegistrationState], rates: RateBook, plan: Plan) -> None:
    data = event.data
    state = registrations.get(str(data.registration_id))
    if state is None or state.status != "granted":
        return  # nothing was committed for it, so nothing to release
    if data.fiscal_year > state.fiscal_year:
        end = LAST_MONTH
    elif data.fiscal_year < state.fiscal_year:
        end = 0
    else:
        end = data.end_month
    new_last = min(state.last_month, max(end, state.start_month - 1))
    schedule = rates.schedule(state.programme, state.fiscal_year, range(new_last + 1, state.last_month + 1))
    amount = sum(a for _, a in schedule)
    budget = budgets[state.budget_id]  # type: ignore[index]
    if schedule:
        if new_last < state.start_month:
            budget.funded_members -= 1
        state.last_month = new_last
        state.released_rupiah += amount
        budget.committed -= amount
        plan.touched_budgets[budget.id] = budget
        plan.registrations[state.registration_id] = state
        plan.ledger.append(LedgerChange(budget.region_code, state.fiscal_year, schedule, -1, state.registration_id))
    plan.decisions.append(Released(event, state, end, schedule, amount))


# --- billing months ---------------------------------------------------------------------------------------------

def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == LAST_MONTH else (year, month + 1)


def next_open_month(year: int, month: int, closed: set[tuple[int, int]]) -> tuple[int, int]:
    """Where a late change to a closed month is billed: the first month after it that is not closed."""
    year, month = next_month(year, month)
    while (year, month) in closed:
        year, month = next_month(year, month)
    return year, month


@dataclass(frozen=True)
class Adjustment:
    region_code: str
    registration_id: str
    covered: tuple[int, int]
    billed: tuple[int, int]
    members: int
    amount_rupiah: int


def bill(changes: Iterable[LedgerChange], closed: set[tuple[int, int]]
         ) -> tuple[dict[tuple[str, int, int], list[int]], list[Adjustment]]:
    """Ledger deltas per (region, year, month) as [members, rupiah, adjustment members, adjustment rupiah].

    Coverage always lands on its own month; a change to a closed month is also carried, as an adjustment, into the
    next open month's invoice, since a closed invoice is never rewritten.
    """
    deltas: dict[tuple[str, int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    carried: list[Adjustment] = []
    for c in changes:
        for month, amount in c.schedule:
            row = deltas[(c.region_code, c.fiscal_year, month)]
            row[0] += c.sign
            row[1] += c.sign * amount
            if (c.fiscal_year, month) in closed:
                billed = next_open_month(c.fiscal_year, month, closed)
                carried.append(Adjustment(c.region_code, c.registration_id, (c.fiscal_year, month), billed,
                                          c.sign, c.sign * amount))
                target = deltas[(c.region_code, *billed)]
                target[2] += c.sign
                target[3] += c.sign * amount
    return deltas, carried


def billing_months_needed(changes: Iterable[LedgerChange]) -> set[tuple[int, int]]:
    """The months a batch writes to, and where their adjustments could go (up to the next year's January)."""
    years = {c.fiscal_year for c in changes}
    return {(y, m) for y in years for m in range(1, LAST_MONTH + 1)} | {(y + 1, 1) for y in years}


# --- funding lines ----------------------------------------------------------------------------------------------

LineChangeKind = Literal["added", "changed", "removed"]


@dataclass(frozen=True)
class Line:
    line_id: str
    source: FundingSource
    amount_rupiah: int
    legal_reference: str


@dataclass(frozen=True)
class LineChange:
    line_id: str
    change: LineChangeKind
    source: FundingSource
    before: int | None
    after: int | None
    legal_reference: str


def amend(current: Sequence[Line], wanted: Sequence[Line]) -> list[LineChange]:
    """What turning the current lines into the wanted ones changes, line by line; identical lines change nothing."""
    old = {line.line_id: line for line in current}
    new_ids = {line.line_id for line in wanted}
    changes = []
    for line in wanted:
        before = old.get(line.line_id)
        if before is None:
            changes.append(LineChange(line.line_id, "added", line.source, None, line.amount_rupiah,
                                      line.legal_reference))
        elif before != line:
            changes.append(LineChange(line.line_id, "changed", line.source, before.amount_rupiah,
                                      line.amount_rupiah, line.legal_reference))
    for line in current:
        if line.line_id not in new_ids:
            changes.append(LineChange(line.line_id, "removed", line.source, line.amount_rupiah, None,
                                      line.legal_reference))
    return changes


# --- projections ------------------------------------------------------------------------------------------------

def months_elapsed(fiscal_year: int, today: date) -> int:
    """Months of the fiscal year that have begun by today."""
    if fiscal_year < today.year:
        return LAST_MONTH
    if fiscal_year > today.year:
        return 0
    return today.month


def spent_to_date(amount_by_month: dict[int, int], fiscal_year: int, today: date) -> int:
    elapsed = months_elapsed(fiscal_year, today)
    return sum(amount for month, amount in amount_by_month.items() if month <= elapsed)


def utilisation(committed: int, allocation: int) -> float:
    return committed / allocation if allocation > 0 else 0.0


def projected_exhaustion(remaining: int, committed_in_window: int, window_days: int, fiscal_year: int,
                         today: date) -> str | None:
    """The month (YYYY-MM) the remainder runs out at the recent pace, or None if not within the fiscal year."""
    if remaining <= 0:
        return f"{today.year}-{today.month:02d}" if today.year == fiscal_year else None
    if committed_in_window <= 0 or fiscal_year < today.year:
        return None
    start = max(today, date(fiscal_year, 1, 1))
    days = -(-remaining * window_days // committed_in_window)  # ceiling, in integers
    if days > (date(fiscal_year, 12, 31) - start).days:
        return None
    runs_out = start + timedelta(days=days)
    return f"{runs_out.year}-{runs_out.month:02d}"


def fundable_members(remaining: int, rates: RateBook, programme: str, fiscal_year: int, today: date) -> int:
    """How many more members the remainder covers if they start this month (or January) and stay to December."""
    first = months_elapsed(fiscal_year, today) or 1
    if fiscal_year < today.year:
        return 0
    try:
        cost = sum(amount for _, amount in rates.schedule(programme, fiscal_year, range(first, LAST_MONTH + 1)))
    except UnpricedMonth:
        return 0  # the gate cannot fund a month without a rate in force
    return remaining // cost if cost > 0 else 0
