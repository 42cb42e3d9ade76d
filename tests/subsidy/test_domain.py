"""The money rules on their own: the gate with its province fallback, releases, thresholds, billing months."""

from datetime import date

import pytest

from services.subsidy.domain import (
    BudgetState,
    Denied,
    Granted,
    LedgerChange,
    Line,
    Rate,
    RateBook,
    Released,
    ThresholdCrossed,
    UnpricedMonth,
    amend,
    bill,
    decide_funding,
    fundable_members,
    next_open_month,
    projected_exhaustion,
    spent_to_date,
)
from tests.subsidy.workers import MONTHLY, ended, registered

BOOK = RateBook([
    Rate("bpu-jkk-jkm", "jkk", 10_000, date(2015, 7, 1), None, "PP 44/2015"),
    Rate("bpu-jkk-jkm", "jkm", 6_800, date(2015, 7, 1), date(2024, 6, 30), "PP 44/2015"),
    Rate("bpu-jkk-jkm", "jkm", 7_000, date(2024, 7, 1), None, "a mid-year change"),
])


def budget(budget_id: int, region: str, allocation: int, committed: int = 0, policy: str = "wait") -> BudgetState:
    return BudgetState(budget_id, region, 2024, allocation, committed, 0, 0, (("a", allocation // 2), ("b", 10**12)),
                       policy=policy)


def test_a_mid_year_rate_change_is_priced_month_by_month():
    assert BOOK.schedule("bpu-jkk-jkm", 2024, range(5, 9)) == ((5, 16_800), (6, 16_800), (7, 17_000), (8, 17_000))
    with pytest.raises(UnpricedMonth):
        BOOK.monthly("bpu-jkk-jkm", 2015, 6)
    with pytest.raises(UnpricedMonth):
        BOOK.monthly("other", 2024, 1)


def test_the_regency_budget_first_then_the_province_then_a_denial():
    budgets = {("36.72", 2024): budget(1, "36.72", 2 * 3 * MONTHLY, policy="deny"),
               ("36", 2024): budget(2, "36", 3 * MONTHLY)}
    events = [registered("36.72", start=1, months=3) for _ in range(4)]
    plan = decide_funding(events, budgets, {}, BOOK)
    outcomes = [(type(d).__name__, getattr(getattr(d, "budget", None), "region_code", None))
                for d in plan.decisions if not isinstance(d, ThresholdCrossed)]
    assert outcomes == [("Granted", "36.72"), ("Granted", "36.72"), ("Granted", "36"), ("Denied", None)]
    denial = plan.decisions[-1]
    assert isinstance(denial, Denied) and (denial.reason, denial.remaining_rupiah) == ("budget_exhausted", 0)
    assert [d.line_id for d in plan.decisions if isinstance(d, Granted)] == ["a", "b", "a"]
    assert budgets[("36.72", 2024)].committed == 6 * MONTHLY and budgets[("36", 2024)].committed == 3 * MONTHLY


def test_no_budget_anywhere_is_no_allocation():
    [denial] = decide_funding([registered("36.72")], {}, {}, BOOK).decisions
    assert isinstance(denial, Denied) and denial.reason == "no_allocation" and denial.amount_rupiah > 0


def test_coverage_stops_at_december_and_a_registration_is_decided_once():
    event = registered("36.72", start=11, months=6)
    budgets = {("36.72", 2024): budget(1, "36.72", 10**9)}
    registrations: dict = {}
    [grant] = decide_funding([event, event], budgets, registrations, BOOK).decisions
    assert [m for m, _ in grant.schedule] == [11, 12] and grant.amount_rupiah == 2 * 17_000


def test_an_end_releases_the_later_months_only_once():
    event = registered("36.72", start=1, months=12)
    budgets = {("36.72", 2024): budget(1, "36.72", 10**9)}
    registrations: dict = {}
    decide_funding([event], budgets, registrations, BOOK)
    plan = decide_funding([ended(event, 9), ended(event, 10), ended(event, 3)], budgets, registrations, BOOK)
    first, later, earlier = plan.decisions
    assert isinstance(first, Released) and [m for m, _ in first.schedule] == [10, 11, 12]
    assert first.amount_rupiah == 3 * 17_000
    assert later.schedule == () and later.amount_rupiah == 0  # already released
    assert [m for m, _ in earlier.schedule] == [4, 5, 6, 7, 8, 9]
    assert budgets[("36.72", 2024)].committed == 3 * MONTHLY
    assert sum(c.sign * len(c.schedule) for c in plan.ledger) == -9


def test_each_threshold_once_even_after_a_release_and_a_new_grant():
    state = budget(1, "36.72", 1000)
    crossed = []
    for committed in (790, 800, 940, 1000, 700, 960, 1000):
        state.committed = committed
        crossed += state.newly_crossed()
    assert crossed == [80, 95, 100]


def test_changes_to_a_closed_month_are_billed_in_the_next_open_one():
    changes = [LedgerChange("36.72", 2024, ((3, MONTHLY), (4, MONTHLY), (5, MONTHLY), (12, MONTHLY)), -1, "r")]
    deltas, carried = bill(changes, closed={(2024, 3), (2024, 4), (2024, 12)})
    assert [(a.covered, a.billed) for a in carried] == [((2024, 3), (2024, 5)), ((2024, 4), (2024, 5)),
                                                        ((2024, 12), (2025, 1))]
    assert deltas[("36.72", 2024, 5)] == [-1, -MONTHLY, -2, -2 * MONTHLY]
    assert deltas[("36.72", 2024, 3)] == [-1, -MONTHLY, 0, 0]
    assert next_open_month(2024, 1, set()) == (2024, 2)


def test_amendments_name_each_line_change():
    old = [Line("a", "apbd_kabkota", 100, "Perda 1"), Line("b", "csr", 50, "MoU 1")]
    new = [Line("a", "apbd_kabkota", 80, "Perda 2"), Line("c", "dana_desa", 30, "Perdes 3")]
    assert [(c.line_id, c.change, c.before, c.after) for c in amend(old, new)] == [
        ("a", "changed", 100, 80), ("c", "added", None, 30), ("b", "removed", 50, None)]
    assert amend(old, old) == []


def test_projections():
    assert spent_to_date({1: 10, 2: 10, 3: 10, 4: 10}, 2024, date(2024, 3, 1)) == 30
    assert spent_to_date({1: 10}, 2025, date(2024, 3, 1)) == 0
    assert projected_exhaustion(3000, 1000, 30, 2024, date(2024, 3, 1)) == "2024-05"
    assert projected_exhaustion(3000, 0, 30, 2024, date(2024, 3, 1)) is None
    assert projected_exhaustion(10**9, 1, 30, 2024, date(2024, 3, 1)) is None  # not within the year
    assert projected_exhaustion(0, 1, 30, 2024, date(2024, 3, 1)) == "2024-03"
    assert fundable_members(10 * 16_800 * 3 + 5, BOOK, "bpu-jkk-jkm", 2024, date(2024, 10, 2)) == 9
    assert fundable_members(10**9, BOOK, "bpu-jkk-jkm", 2023, date(2024, 10, 2)) == 0
