"""The office's rules without I/O: roles, regions, lockout, the amendment form, and who may decide a change."""

from datetime import UTC, datetime, timedelta

import pytest

from services.office.domain import (
    BudgetTerms,
    Line,
    LockoutPolicy,
    Refused,
    Staff,
    after_failure,
    check_account,
    check_decision,
    is_locked,
    line_changes,
    parse_amount,
    parse_lines,
)
from services.office.i18n import TEXT, day, month, rupiah

NOW = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)


def staff(role: str, *regions: str, staff_id: str = "s1") -> Staff:
    return Staff(staff_id, "user", "User", role, regions)


def test_roles_and_regions() -> None:
    assert staff("operator", "36.72").may("submit") and not staff("operator", "36.72").may("approve")
    assert staff("verifier", "36.72").may("approve") and not staff("verifier", "36.72").may("submit")
    assert staff("head", "36").may("approve") and not staff("viewer", "36").may("submit")
    assert not Staff("s", "u", "U", "head", ("36",), disabled=True).may("view")
    assert staff("head", "36").may_act_in("36.72") and not staff("head", "36").may_act_in("32.75")
    assert not staff("operator", "36.72").may_act_in("36") and staff("admin", "*").may_act_in("91.01")


def test_accounts_are_checked() -> None:
    check_account("ops-cilegon", "operator", ["36.72"], "a long enough password")
    for args, code in ((("Ops", "operator", ["36.72"], None), "bad_username"),
                       (("ops", "chief", ["36.72"], None), "bad_role"),
                       (("ops", "operator", [], None), "no_region"),
                       (("ops", "operator", ["36.7"], None), "bad_region"),
                       (("ops", "operator", ["36.99"], None), "bad_region"),  # well formed, but no such regency
                       (("ops", "operator", ["36"], "short"), "weak_password")):
        with pytest.raises(Refused) as refused:
            check_account(*args)
        assert refused.value.code == code


def test_lockout_after_the_policys_count_in_a_row() -> None:
    policy = LockoutPolicy(attempts=3, minutes=15)
    assert after_failure(0, NOW, policy) == (1, None)
    assert after_failure(1, NOW, policy) == (2, None)
    failed, until = after_failure(2, NOW, policy)
    assert failed == 0 and until == NOW + timedelta(minutes=15)
    assert is_locked(until, NOW + timedelta(minutes=14)) and not is_locked(until, NOW + timedelta(minutes=15))


def test_amounts_as_an_office_types_them() -> None:
    assert parse_amount("16.800.000") == parse_amount("Rp16.800.000") == parse_amount("16800000") == 16_800_000
    assert parse_amount("1,5 juta") is None and parse_amount("-5") is None and parse_amount("") is None


def test_the_amendment_form() -> None:
    form = parse_lines([{"line_id": "apbd", "source": "apbd_kabkota", "amount": "1.000", "legal_reference": "Perda"},
                        {"line_id": "", "source": "", "amount": "", "legal_reference": ""}])
    assert form.problems == [] and form.lines == [Line("apbd", "apbd_kabkota", 1000, "Perda")]
    dup = parse_lines([{"line_id": "a", "source": "csr", "amount": "1", "legal_reference": "x"}] * 2)
    assert [(p.field, p.code) for p in dup.problems] == [("lines[1].line_id", "duplicate_line_id")]
    assert [p.code for p in parse_lines([]).problems] == ["no_lines"]
    # The terms: absent from the form, they stay as they are; present, the policy must be one subsidy knows.
    assert form.terms is None
    deny = parse_lines([{"line_id": "a", "source": "csr", "amount": "1", "legal_reference": "x"}], "deny", True)
    assert deny.problems == [] and deny.terms == BudgetTerms("deny", True)
    bad = parse_lines([{"line_id": "a", "source": "csr", "amount": "1", "legal_reference": "x"}], "tunggu")
    assert [(p.field, p.code) for p in bad.problems] == [("funding_policy", "bad_funding_policy")]
    assert BudgetTerms.from_json(None) == BudgetTerms("wait", False), "a new budget waits and does not back-date"


def test_line_changes() -> None:
    before = [Line("a", "csr", 1, "x"), Line("b", "csr", 2, "x")]
    after = [Line("a", "csr", 5, "x"), Line("c", "csr", 3, "y")]
    assert [(c.line_id, c.change, c.before, c.after) for c in line_changes(before, after)] == [
        ("a", "changed", 1, 5), ("c", "added", None, 3), ("b", "removed", 2, None)]
    assert line_changes(before, before) == []


def test_who_may_decide() -> None:
    check_decision(staff("verifier", "36.72", staff_id="v"), "o", "pending", "36.72")
    for decider, submitted_by, status, region, code in (
            (staff("operator", "36.72", staff_id="x"), "o", "pending", "36.72", "not_an_approver"),
            (staff("verifier", "32.75", staff_id="v"), "o", "pending", "36.72", "outside_region"),
            (staff("admin", "*", staff_id="o"), "o", "pending", "36.72", "own_change"),
            (staff("head", "36", staff_id="h"), "o", "approved", "36.72", "already_decided")):
        with pytest.raises(Refused) as refused:
            check_decision(decider, submitted_by, status, region)
        assert refused.value.code == code


def test_words_money_and_dates() -> None:
    assert all(len(pair) == 2 and all(pair) for pair in TEXT.values())
    assert rupiah(16800) == "Rp16.800" and rupiah(None) == "–"
    assert day(NOW) == "15 Maret 2026 09.00 WIB" and day(NOW, "en") == "15 March 2026 09:00 WIB"
    assert month("2026-12") == "Desember 2026"
