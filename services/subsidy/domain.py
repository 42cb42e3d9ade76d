"""The money rules, without I/O: pricing coverage month by month, the funding gate, the waiting list, releases and
replacements, thresholds, billing months, line amendments and the projections a budget office reads.

``decide_funding`` walks a polled batch in order over in-memory snapshots of the budgets and registrations it touches
and returns a ``Plan``; ``fund_waiting`` walks a waiting list in arrival order when money arrives. The repository
then applies a plan with a handful of batch statements, guarded at the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, get_args

from shared.events import Envelope, WorkerEnded, WorkerEndedV2, WorkerRegistered, WorkerRegisteredV2
from shared.vocabulary import LAST_MONTH, DenialReason, DenialReasonV2, FundingPolicy, SubsidyStatus

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


class MonthNotClosed(Exception):
    """A month's invoice is paid, or BPJS's bill compared with it, once the month is closed and the invoice frozen."""


class NoInvoice(Exception):
    """The closed month has no invoice for this region: nothing was covered there."""


class AlreadyPaid(Exception):
    """The invoice was recorded paid with another date, reference or amount: a paid month is paid for good."""


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
    """Coverage ends with the fiscal year it starts in; the next year's is a renewal, a registration of its own."""
    return range(start_month, min(LAST_MONTH, start_month + months - 1) + 1)


def late_cover_from(fiscal_year: int, start_month: int, today: date, backdate_months: int) -> int:
    """The first month a registration funded today is covered from: not before it asked, and in its own fiscal year
    not before the current month, less the backdating its budget allows for late grants. A year still ahead is
    covered from the month asked."""
    if fiscal_year > today.year:
        return start_month
    if fiscal_year < today.year:
        return LAST_MONTH + 1  # the year is over: nothing is left to cover
    return max(start_month, today.month - backdate_months)


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
    reserved: int = 0  # released by replaced holders, held for their successors
    policy: FundingPolicy = "wait"
    backdate_late_grants: bool = False

    @property
    def remaining(self) -> int:
        return max(0, self.allocation - self.committed - self.reserved)

    def covers(self, cost: int) -> bool:
        return self.allocation > 0 and self.committed + self.reserved + cost <= self.allocation

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
    status: SubsidyStatus
    budget_id: int | None
    funding_region_code: str | None
    funding_line_id: str | None
    granted_rupiah: int
    released_rupiah: int
    new: bool = False
    reserved_rupiah: int = 0  # released by this replaced holder and held for its successor
    late: bool = False  # granted from the waiting list: its row changes from waiting to granted


@dataclass(frozen=True)
class Waiter:
    """A registration on the waiting list, with what a late subsidy.granted says about the worker."""

    arrival: int
    registration_id: str
    regency_code: str
    fiscal_year: int
    programme: str
    start_month: int
    last_month: int
    worker_ref: str
    category: str
    sex: str
    age_band: str

    @property
    def province_code(self) -> str:
        return self.regency_code[:2]


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
class Waitlisted:
    """No budget covers it now and its budget waits: it joins its regency/city's waiting list (arrival and position
    are given when the list is written)."""

    event: Envelope[WorkerRegistered]
    schedule: tuple[tuple[int, int], ...]
    amount_rupiah: int


@dataclass(frozen=True)
class LateGranted:
    """A waiting registration funded when money arrived, covered from the month it was funded."""

    waiter: Waiter
    budget: BudgetState
    schedule: tuple[tuple[int, int], ...]
    amount_rupiah: int
    line_id: str | None


@dataclass(frozen=True)
class WaitEnded:
    """A waiting registration denied: its fiscal year ended, or every month it asked for has passed."""

    waiter: Waiter
    reason: DenialReasonV2
    schedule: tuple[tuple[int, int], ...]
    amount_rupiah: int


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


FundingDecision = Granted | Denied | Waitlisted | LateGranted | WaitEnded | Released | ThresholdCrossed


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
    joined: list[Waiter] = field(default_factory=list)  # new on the waiting list, arrival still to be given
    left: list[str] = field(default_factory=list)  # registration ids off the waiting list: funded, denied, ended
    freed: set[int] = field(default_factory=set)  # budgets money went back to: their waiting lists may move

    def merge(self, other: Plan) -> None:
        self.decisions += other.decisions
        self.touched_budgets |= other.touched_budgets
        self.registrations |= other.registrations
        self.ledger += other.ledger
        self.joined += other.joined
        self.left += other.left
        self.freed |= other.freed


def budget_keys(events: Sequence[Envelope[Any]]) -> set[tuple[str, int]]:
    """The budgets a batch may charge: each registration's regency/city and, as a fallback, its province."""
    keys = set()
    for e in events:
        if isinstance(e.data, WorkerRegistered):
            keys.add((e.data.regency_code, e.data.fiscal_year))
            keys.add((e.data.province_code, e.data.fiscal_year))
    return keys


def linked_ids(events: Sequence[Envelope[Any]]) -> set[str]:
    """The registrations a batch's events are about: each one's own, and the holder a successor replaces."""
    ids = set()
    for e in events:
        if isinstance(e.data, (WorkerRegistered, WorkerEnded)):
            ids.add(str(e.data.registration_id))
        if isinstance(e.data, WorkerRegisteredV2) and e.data.replaces is not None:
            ids.add(str(e.data.replaces))
    return ids


def _charge(state: RegistrationState, budget: BudgetState, schedule: tuple[tuple[int, int], ...], cost: int,
            plan: Plan) -> str | None:
    """Commit a registration's cost to a budget; the line it is drawn from."""
    line_id = budget.line_at(budget.committed)
    state.status, state.budget_id, state.funding_region_code = "granted", budget.id, budget.region_code
    state.funding_line_id, state.granted_rupiah = line_id, cost
    budget.committed += cost
    budget.funded_members += 1
    plan.touched_budgets[budget.id] = budget
    plan.ledger.append(LedgerChange(budget.region_code, state.fiscal_year, schedule, 1, state.registration_id))
    return line_id


def _crossings(budget: BudgetState, plan: Plan) -> None:
    for threshold in budget.newly_crossed():
        plan.decisions.append(ThresholdCrossed(budget.region_code, budget.fiscal_year, threshold,
                                               budget.allocation, budget.committed))


def decide_funding(events: Sequence[Envelope[Any]], budgets: dict[tuple[str, int], BudgetState],
                   registrations: dict[str, RegistrationState], rates: RateBook,
                   queued: set[tuple[str, int]] | None = None) -> Plan:
    """Decide a batch in order. The snapshots are updated in place, so later events see earlier ones' effects.
    ``queued`` holds the (regency/city, year) waiting lists that are not empty: nobody overtakes them."""
    plan = Plan()
    queued = set(queued or ())
    by_id = {b.id: b for b in budgets.values()}
    for event in events:
        if isinstance(event.data, WorkerRegistered):
            _register(event, budgets, by_id, registrations, rates, queued, plan)
        elif isinstance(event.data, WorkerEnded):
            _end(event, by_id, registrations, rates, plan)
    return plan


def _claim_reserve(data: WorkerRegistered, by_id: dict[int, BudgetState],
                   registrations: dict[str, RegistrationState], plan: Plan) -> BudgetState | None:
    """A successor takes back the months its replaced holder released: the budget they were held in."""
    if not isinstance(data, WorkerRegisteredV2) or data.replaces is None:
        return None
    holder = registrations.get(str(data.replaces))
    if holder is None or not holder.reserved_rupiah or holder.budget_id not in by_id:
        return None
    budget = by_id[holder.budget_id]
    budget.reserved -= holder.reserved_rupiah
    holder.reserved_rupiah = 0
    plan.touched_budgets[budget.id] = budget
    plan.registrations[holder.registration_id] = holder
    return budget


def _register(event: Envelope[WorkerRegistered], budgets: dict[tuple[str, int], BudgetState],
              by_id: dict[int, BudgetState], registrations: dict[str, RegistrationState], rates: RateBook,
              queued: set[tuple[str, int]], plan: Plan) -> None:
    data = event.data
    registration_id = str(data.registration_id)
    if registration_id in registrations:
        return  # decided already (a re-sent registration under a new event id): one decision per registration
    months = covered_months(data.start_month, data.months)
    schedule = rates.schedule(data.programme, data.fiscal_year, months)
    cost = sum(amount for _, amount in schedule)
    own = budgets.get((data.regency_code, data.fiscal_year))
    province = budgets.get((data.province_code, data.fiscal_year))
    reserve = _claim_reserve(data, by_id, registrations, plan)
    candidates = [b for b in (own, province) if b is not None and b.allocation > 0]
    queue = (data.regency_code, data.fiscal_year)
    # The successor's slot is its holder's; anyone else queues behind those already waiting.
    if reserve is not None:
        chosen = next((b for b in (reserve, *candidates) if b.covers(cost)), None)
    else:
        chosen = None if queue in queued else next((b for b in candidates if b.covers(cost)), None)
    state = RegistrationState(registration_id, data.regency_code, data.fiscal_year, data.programme, months.start,
                              months[-1], "denied", None, None, None, 0, 0, new=True)
    registrations[registration_id] = plan.registrations[registration_id] = state
    if chosen is not None:
        line_id = _charge(state, chosen, schedule, cost, plan)
        plan.decisions.append(Granted(event, chosen, schedule, cost, line_id))
        _crossings(chosen, plan)
        return
    deciding = own or province
    renewal = isinstance(data, WorkerRegisteredV2) and data.renews is not None
    # A region without a budget is not in the programme, but a renewal waits for next year's budget to be set.
    if (deciding.policy == "wait") if deciding is not None else renewal:
        state.status = "waiting"
        queued.add(queue)
        plan.joined.append(Waiter(0, registration_id, data.regency_code, data.fiscal_year, data.programme,
                                  months.start, months[-1], data.worker_ref, data.category, data.sex,
                                  data.age_band))
        plan.decisions.append(Waitlisted(event, schedule, cost))
        return
    reason: DenialReason = "budget_exhausted" if candidates else "no_allocation"
    remaining = candidates[-1].remaining if candidates else 0
    plan.decisions.append(Denied(event, reason, schedule, cost, remaining))


def _end(event: Envelope[WorkerEnded], budgets: dict[int, BudgetState],
         registrations: dict[str, RegistrationState], rates: RateBook, plan: Plan) -> None:
    data = event.data
    state = registrations.get(str(data.registration_id))
    if state is not None and state.status == "waiting":
        state.status = "withdrawn"  # ended while it waited: it leaves the list, and nothing was committed
        plan.registrations[state.registration_id] = state
        plan.left.append(state.registration_id)
        return
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
        if isinstance(data, WorkerEndedV2) and data.reason == "replaced":
            # The successor's registration follows on the same partition: it takes these months first.
            state.reserved_rupiah += amount
            budget.reserved += amount
        else:
            plan.freed.add(budget.id)
        plan.touched_budgets[budget.id] = budget
        plan.registrations[state.registration_id] = state
        plan.ledger.append(LedgerChange(budget.region_code, state.fiscal_year, schedule, -1, state.registration_id))
    plan.decisions.append(Released(event, state, end, schedule, amount))


def fund_waiting(waiters: Sequence[Waiter], budgets: dict[tuple[str, int], BudgetState], rates: RateBook,
                 today: date, backdate_months: int) -> Plan:
    """Fund a waiting list in arrival order with the money its budgets have now: each waiter from its regency/city's
    budget or its province's, covered from the month it is funded. A regency/city's list stops at its first waiter
    no budget covers, so nobody overtakes it. Waiters of a fiscal year that is over, or whose months have all
    passed, are denied."""
    plan = Plan()
    stopped: set[tuple[str, int]] = set()
    for w in sorted(waiters, key=lambda x: x.arrival):
        queue = (w.regency_code, w.fiscal_year)
        if w.fiscal_year < today.year:
            _end_wait(w, "fiscal_year_ended", rates, plan)
            continue
        own, province = budgets.get(queue), budgets.get((w.province_code, w.fiscal_year))
        deciding = own or province
        backdate = backdate_months if deciding is not None and deciding.backdate_late_grants else 0
        first = late_cover_from(w.fiscal_year, w.start_month, today, backdate)
        if first > w.last_month:
            _end_wait(w, "coverage_passed", rates, plan)
            continue
        if queue in stopped:
            continue
        schedule = rates.schedule(w.programme, w.fiscal_year, range(first, w.last_month + 1))
        cost = sum(amount for _, amount in schedule)
        chosen = next((b for b in (own, province) if b is not None and b.covers(cost)), None)
        if chosen is None:
            stopped.add(queue)
            continue
        state = RegistrationState(w.registration_id, w.regency_code, w.fiscal_year, w.programme, first,
                                  w.last_month, "waiting", None, None, None, 0, 0, late=True)
        line_id = _charge(state, chosen, schedule, cost, plan)
        plan.registrations[w.registration_id] = state
        plan.left.append(w.registration_id)
        plan.decisions.append(LateGranted(w, chosen, schedule, cost, line_id))
        _crossings(chosen, plan)
    return plan


def _end_wait(w: Waiter, reason: DenialReasonV2, rates: RateBook, plan: Plan) -> None:
    asked = rates.schedule(w.programme, w.fiscal_year, range(w.start_month, w.last_month + 1))
    plan.registrations[w.registration_id] = RegistrationState(
        w.registration_id, w.regency_code, w.fiscal_year, w.programme, w.start_month, w.last_month, "denied", None,
        None, None, 0, 0, late=True)
    plan.left.append(w.registration_id)
    plan.decisions.append(WaitEnded(w, reason, asked, sum(amount for _, amount in asked)))


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


# --- BPJS's bill against the frozen invoice ---------------------------------------------------------------------

@dataclass(frozen=True)
class BilledLine:
    """One line of BPJS's bill: its row in the file, the registration it was matched to (None: nobody Paritrana
    knows in the region), and the amount BPJS billed for the month."""

    row: int
    registration_id: str | None
    amount_rupiah: int


@dataclass(frozen=True)
class MemberDifference:
    registration_id: str | None
    row: int | None  # the bill's row, when billed
    funded_rupiah: int
    billed_rupiah: int


@dataclass(frozen=True)
class Reconciliation:
    """BPJS's bill beside the frozen invoice: totals, and with per-member lines, who matches and who differs."""

    invoiced_members: int
    invoiced_rupiah: int
    billed_members: int
    billed_rupiah: int
    matched: list[MemberDifference]
    billed_not_funded: list[MemberDifference]
    funded_not_billed: list[MemberDifference]
    amount_differences: list[MemberDifference]
    per_member: bool

    @property
    def difference_rupiah(self) -> int:
        return self.billed_rupiah - self.invoiced_rupiah

    @property
    def differences(self) -> int:
        return len(self.billed_not_funded) + len(self.funded_not_billed) + len(self.amount_differences) + (
            0 if self.per_member or self.difference_rupiah == 0 else 1)


def reconcile(invoiced_members: int, invoiced_rupiah: int, funded: dict[str, int], billed: Sequence[BilledLine] | None,
              billed_members: int | None = None, billed_rupiah: int | None = None) -> Reconciliation:
    """Compare BPJS's bill with the invoice. `funded` is what each member funded in the region costs for the month;
    without lines only the totals are compared. A member billed twice counts once, with the sum billed."""
    if billed is None:
        return Reconciliation(invoiced_members, invoiced_rupiah, billed_members or 0, billed_rupiah or 0, [], [], [],
                              [], False)
    matched: list[MemberDifference] = []
    extra: list[MemberDifference] = []
    missing: list[MemberDifference] = []
    wrong: list[MemberDifference] = []
    by_member: dict[str, tuple[int, int]] = {}
    for line in billed:
        if line.registration_id is None or line.registration_id not in funded:
            extra.append(MemberDifference(line.registration_id, line.row, 0, line.amount_rupiah))
            continue
        row, amount = by_member.get(line.registration_id, (line.row, 0))
        by_member[line.registration_id] = (row, amount + line.amount_rupiah)
    for registration_id, cost in sorted(funded.items()):
        if registration_id not in by_member:
            missing.append(MemberDifference(registration_id, None, cost, 0))
            continue
        row, amount = by_member[registration_id]
        (matched if amount == cost else wrong).append(MemberDifference(registration_id, row, cost, amount))
    total = sum(line.amount_rupiah for line in billed)
    return Reconciliation(invoiced_members, invoiced_rupiah, len(billed), total if billed_rupiah is None
                          else billed_rupiah, matched, extra, missing, wrong, True)
