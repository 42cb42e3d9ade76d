"""The office's rules, without I/O: roles and what each may do, regions, lockout, maker-checker, budget amendments.

A staff member acts in the regions of their account (a province ``PP`` covers its regencies/cities ``PP.KK``; ``*``
is national), as API keys do. Anything that moves money is a change request: one person submits it and another,
with a role that approves, decides it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from shared.access.keys import region_covers
from shared.regions import region
from shared.vocabulary import DEFAULT_FUNDING_POLICY, REGION_CODE, FundingPolicy

Role = Literal["operator", "verifier", "head", "viewer", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
Action = Literal["view", "submit", "approve", "manage_staff"]

# What each role may do. An admin manages accounts and may do the rest too (it is the first account of an install).
PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "operator": frozenset({"view", "submit"}),
    "verifier": frozenset({"view", "approve"}),
    "head": frozenset({"view", "approve"}),
    "admin": frozenset({"view", "submit", "approve", "manage_staff"}),
}

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
PASSWORD_MIN_LENGTH = 12
NATIONAL = "*"

# Subsidy's funding sources and line ids (services/subsidy/api.py checks them again; these give the form its errors).
FUNDING_SOURCES: tuple[str, ...] = ("apbd_kabkota", "apbd_provinsi", "dana_desa", "csr")
LINE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_LINES = 100
MAX_AMOUNT = 10**15
FUNDING_POLICIES: tuple[str, ...] = get_args(FundingPolicy)

ChangeStatus = Literal["pending", "approved", "rejected", "failed"]


class Refused(Exception):
    """A rule said no; `code` names which (the pages translate it)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code if not detail else f"{code}: {detail}")
        self.code = code


@dataclass(frozen=True)
class Staff:
    staff_id: str
    username: str
    display_name: str
    role: str
    regions: tuple[str, ...]
    disabled: bool = False

    def may(self, action: str) -> bool:
        return not self.disabled and action in PERMISSIONS.get(self.role, frozenset())

    def may_act_in(self, region_code: str) -> bool:
        return any(region_covers(granted, region_code) for granted in self.regions)


def check_account(username: str, role: str, regions: list[str], password: str | None) -> None:
    if not USERNAME.match(username):
        raise Refused("bad_username", "3 to 64 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
    if role not in ROLES:
        raise Refused("bad_role", f"one of {', '.join(ROLES)}")
    if not regions:
        raise Refused("no_region")
    for code in regions:
        if code != NATIONAL and (not REGION_CODE.match(code) or region(code) is None):
            raise Refused("bad_region", code)  # a well-formed code no province or regency has, too
    if password is not None and len(password) < PASSWORD_MIN_LENGTH:
        raise Refused("weak_password", f"at least {PASSWORD_MIN_LENGTH} characters")


# --- sign-in and lockout ---

@dataclass(frozen=True)
class LockoutPolicy:
    attempts: int
    minutes: float


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and now < locked_until


def after_failure(failed_attempts: int, now: datetime, policy: LockoutPolicy) -> tuple[int, datetime | None]:
    """The count and lock after one more wrong password: the policy's count in a row locks the account."""
    failed = failed_attempts + 1
    if failed >= policy.attempts:
        return 0, now + timedelta(minutes=policy.minutes)
    return failed, None


# --- budget amendments ---

@dataclass(frozen=True)
class Line:
    line_id: str
    source: str
    amount_rupiah: int
    legal_reference: str

    def as_json(self) -> dict[str, Any]:
        return {"line_id": self.line_id, "source": self.source, "amount_rupiah": self.amount_rupiah,
                "legal_reference": self.legal_reference}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Line:
        return cls(str(data["line_id"]), str(data["source"]), int(data["amount_rupiah"]),
                   str(data["legal_reference"]))


@dataclass(frozen=True)
class BudgetTerms:
    """What the budget does beyond its lines: a registration it cannot cover waits for money or is denied, and a late
    grant is covered from the month it is funded or back-dated. A new budget waits and does not back-date."""
    funding_policy: str = DEFAULT_FUNDING_POLICY
    backdate_late_grants: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"funding_policy": self.funding_policy, "backdate_late_grants": self.backdate_late_grants}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> BudgetTerms:
        data = data or {}
        return cls(str(data.get("funding_policy") or DEFAULT_FUNDING_POLICY), bool(data.get("backdate_late_grants")))


@dataclass(frozen=True)
class FieldProblem:
    field: str
    code: str


@dataclass
class LinesForm:
    lines: list[Line] = field(default_factory=list)
    problems: list[FieldProblem] = field(default_factory=list)
    terms: BudgetTerms | None = None  # None: the form did not carry the terms, which stay as they are


def parse_amount(text: str) -> int | None:
    """Whole rupiah as an office types it: 16800000, 16.800.000 or Rp16.800.000. None if it is not that."""
    cleaned = re.sub(r"[\s.]", "", text.strip())
    cleaned = re.sub(r"^(?i:rp)", "", cleaned)
    if not cleaned.isdigit():
        return None
    value = int(cleaned)
    return value if value <= MAX_AMOUNT else None


def parse_lines(rows: list[dict[str, str]], funding_policy: str | None = None,
                backdate_late_grants: bool = False) -> LinesForm:
    """The amendment form: its rows (every line of the budget after the amendment; blank rows are dropped) and the
    budget's terms, if the form carries them (its funding policy; an unticked box is simply absent)."""
    form = LinesForm()
    if funding_policy is not None:
        form.terms = BudgetTerms(funding_policy, backdate_late_grants)
        if funding_policy not in FUNDING_POLICIES:
            form.problems.append(FieldProblem("funding_policy", "bad_funding_policy"))
    seen: set[str] = set()
    for index, row in enumerate(rows):
        values = {k: (row.get(k) or "").strip() for k in ("line_id", "source", "amount", "legal_reference")}
        if not any(values.values()):
            continue
        at = f"lines[{index}]"
        amount = parse_amount(values["amount"])
        if not LINE_ID.match(values["line_id"]):
            form.problems.append(FieldProblem(f"{at}.line_id", "bad_line_id"))
        elif values["line_id"] in seen:
            form.problems.append(FieldProblem(f"{at}.line_id", "duplicate_line_id"))
        seen.add(values["line_id"])
        if values["source"] not in FUNDING_SOURCES:
            form.problems.append(FieldProblem(f"{at}.source", "bad_source"))
        if amount is None:
            form.problems.append(FieldProblem(f"{at}.amount", "bad_amount"))
        if not values["legal_reference"] or len(values["legal_reference"]) > 200:
            form.problems.append(FieldProblem(f"{at}.legal_reference", "no_legal_reference"))
        form.lines.append(Line(values["line_id"], values["source"], amount or 0, values["legal_reference"]))
    if not form.lines and not form.problems:
        form.problems.append(FieldProblem("lines", "no_lines"))
    if len(form.lines) > MAX_LINES:
        form.problems.append(FieldProblem("lines", "too_many_lines"))
    return form


@dataclass(frozen=True)
class LineChange:
    line_id: str
    change: Literal["added", "changed", "removed"]
    before: int | None
    after: int | None


def line_changes(before: list[Line], after: list[Line]) -> list[LineChange]:
    """What an amendment does to each line, in the order of the lines after it, then the removed ones."""
    old = {line.line_id: line for line in before}
    new = {line.line_id: line for line in after}
    changes = []
    for line in after:
        previous = old.get(line.line_id)
        if previous is None:
            changes.append(LineChange(line.line_id, "added", None, line.amount_rupiah))
        elif previous != line:
            changes.append(LineChange(line.line_id, "changed", previous.amount_rupiah, line.amount_rupiah))
    changes += [LineChange(line.line_id, "removed", line.amount_rupiah, None)
                for line in before if line.line_id not in new]
    return changes


def total(lines: list[Line]) -> int:
    return sum(line.amount_rupiah for line in lines)


# --- maker-checker ---

def check_decision(decider: Staff, submitted_by: str, status: str, region_code: str) -> None:
    """May `decider` approve or reject a change `submitted_by` someone in `region_code`? Raises Refused if not."""
    if not decider.may("approve"):
        raise Refused("not_an_approver")
    if not decider.may_act_in(region_code):
        raise Refused("outside_region")
    if decider.staff_id == submitted_by:
        raise Refused("own_change")
    if status != "pending":
        raise Refused("already_decided")
