"""The system's promises, checked against the three databases: `paritrana check`.

- every accepted registration has exactly one funding decision (or is on the waiting list, or was withdrawn from it
  by its end), and enrolment's status agrees with it;
- the waiting list holds exactly the registrations subsidy says are waiting;
- no budget's committed amount differs from the sum of its granted costs less releases, nor what it holds for
  replaced holders' successors from what they released for them, and the two together never exceed its
  allocation;
- for every funding region and year, the ledger's total equals its invoices' (frozen for closed months, as they
  stand for open ones; adjustments included), and both equal its member-months priced at the rates in force;
- the award aggregates equal a recount from the enrolment and subsidy databases;
- both outboxes have drained;
- given the registration ids a client was answered 2xx for (`accepted`), each one is stored and decided.

Run it once the stack is quiet (no intake, consumers caught up); while events are in flight, "undecided" and the
award differences are simply work not done yet. It reads only, and prints no personal data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from services.award import models as award_models
from services.enrolment import models as enrolment_models
from services.subsidy import models as subsidy_models
from services.subsidy import repository as subsidy_repository
from services.subsidy.domain import RateBook
from shared.database import Database
from shared.settings import Settings
from shared.vocabulary import DECISIONS_BEHIND_STATUS, FINAL_DECISIONS, LAST_MONTH

AWARD_COUNTS = ("registered", "granted", "denied", "ended", "active", "waiting")


@dataclass
class InvariantReport:
    registrations: int = 0
    decisions: int = 0
    granted: int = 0
    denied: int = 0
    waiting: int = 0
    undecided: list[str] = field(default_factory=list)
    waiting_mismatches: list[str] = field(default_factory=list)
    decisions_without_registration: list[str] = field(default_factory=list)
    status_mismatches: list[str] = field(default_factory=list)
    budget_mismatches: list[str] = field(default_factory=list)
    overspent: list[str] = field(default_factory=list)
    ledger_mismatches: list[str] = field(default_factory=list)
    award_differences: list[str] = field(default_factory=list)
    outbox_backlog: dict[str, int] = field(default_factory=dict)
    accepted: int = 0
    # Answered 2xx to a client but absent from enrolment, or present but never decided (even if ended since).
    not_stored: list[str] = field(default_factory=list)
    accepted_undecided: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return len(set(self.undecided) | set(self.not_stored) | set(self.accepted_undecided))

    @property
    def double_counted(self) -> int:
        return len(self.budget_mismatches) + len(self.decisions_without_registration)

    @property
    def holds(self) -> bool:
        return not (self.undecided or self.not_stored or self.accepted_undecided or self.waiting_mismatches
                    or self.decisions_without_registration or self.status_mismatches
                    or self.budget_mismatches or self.overspent or self.ledger_mismatches or self.award_differences
                    or any(self.outbox_backlog.values()))

    def lines(self) -> list[str]:
        out = [f"registrations {self.registrations}, decisions {self.decisions} "
               f"(granted {self.granted}, denied {self.denied}), waiting {self.waiting}, lost {self.lost}, "
               f"double-counted {self.double_counted}, outbox backlog {self.outbox_backlog}"]
        for name in ("undecided", "not_stored", "accepted_undecided", "waiting_mismatches",
                     "decisions_without_registration",
                     "status_mismatches", "budget_mismatches", "overspent", "ledger_mismatches",
                     "award_differences"):
            problems = getattr(self, name)
            if problems:
                out.append(f"{name.replace('_', ' ')} ({len(problems)}): " + "; ".join(problems[:10]))
        out.append("invariants hold" if self.holds else "INVARIANTS BROKEN")
        return out




async def check(settings: Settings) -> InvariantReport:
    databases = {name: Database(settings.database_url(name)) for name in ("enrolment", "subsidy", "award")}
    try:
        return await check_databases(**databases)
    finally:
        for database in databases.values():
            await database.dispose()


async def check_databases(enrolment: Database, subsidy: Database, award: Database,
                          accepted: Iterable[str] = ()) -> InvariantReport:
    report = InvariantReport()
    e_reg, s_reg = enrolment_models.registrations, subsidy_models.registrations
    async with enrolment.reading() as session:
        registered = {r.registration_id: r for r in (await session.execute(
            select(e_reg.c.registration_id, e_reg.c.status, e_reg.c.regency_code, e_reg.c.fiscal_year))).all()}
        report.outbox_backlog["enrolment"] = await _unsent(session, enrolment_models.outbox)
    async with subsidy.reading() as session:
        decided = {r.registration_id: r for r in (await session.execute(
            select(s_reg.c.registration_id, s_reg.c.status, s_reg.c.budget_id, s_reg.c.granted_rupiah,
                   s_reg.c.released_rupiah, s_reg.c.funding_region_code, s_reg.c.fiscal_year, s_reg.c.programme,
                   s_reg.c.start_month, s_reg.c.last_month, s_reg.c.reserved_rupiah))).all()}
        budgets = (await session.execute(select(subsidy_models.budgets))).all()
        on_list = set((await session.scalars(select(subsidy_models.waiting.c.registration_id))).all())
        report.ledger_mismatches = await _ledger_mismatches(session, decided.values())
        report.outbox_backlog["subsidy"] = await _unsent(session, subsidy_models.outbox)
    async with award.reading() as session:
        tallies = {(r.fiscal_year, r.region_code, r.name): r.value for r in (await session.execute(
            select(award_models.tallies).where(award_models.tallies.c.name.in_(AWARD_COUNTS)))).all()}

    report.registrations, report.decisions = len(registered), len(decided)
    report.granted = sum(d.status == "granted" for d in decided.values())
    report.denied = sum(d.status == "denied" for d in decided.values())
    report.waiting = sum(d.status == "waiting" for d in decided.values())
    said_waiting = {i for i, d in decided.items() if d.status == "waiting"}
    report.waiting_mismatches = [f"{i}: subsidy waiting, not on the list" for i in sorted(said_waiting - on_list)] \
        + [f"{i}: on the list, subsidy not waiting" for i in sorted(on_list - said_waiting)]
    for registration_id, r in registered.items():
        decision = decided.get(registration_id)
        if decision is None:
            if r.status != "ended":  # ended before its decision arrived: nothing is owed
                report.undecided.append(registration_id)
        elif decision.status not in DECISIONS_BEHIND_STATUS.get(r.status, frozenset()):
            report.status_mismatches.append(f"{registration_id}: enrolment {r.status}, subsidy {decision.status}")
    report.decisions_without_registration = [i for i in decided if i not in registered]
    accepted = set(accepted)
    report.accepted = len(accepted)
    report.not_stored = sorted(i for i in accepted if i not in registered)
    report.accepted_undecided = sorted(i for i in accepted if i in registered and i not in decided)

    net_by_budget: Counter[int] = Counter()
    held_by_budget: Counter[int] = Counter()
    for d in decided.values():
        if d.status == "granted":
            net_by_budget[d.budget_id] += d.granted_rupiah - d.released_rupiah
            held_by_budget[d.budget_id] += d.reserved_rupiah
    for b in budgets:
        if b.committed_rupiah != net_by_budget.get(b.id, 0):
            report.budget_mismatches.append(f"{b.region_code}/{b.fiscal_year}: committed {b.committed_rupiah}, "
                                            f"granted less released {net_by_budget.get(b.id, 0)}")
        if b.reserved_rupiah != held_by_budget.get(b.id, 0):
            report.budget_mismatches.append(f"{b.region_code}/{b.fiscal_year}: reserved {b.reserved_rupiah}, "
                                            f"held for successors {held_by_budget.get(b.id, 0)}")
        if b.committed_rupiah + b.reserved_rupiah > b.allocation_rupiah:
            report.overspent.append(f"{b.region_code}/{b.fiscal_year}: {b.committed_rupiah} committed + "
                                    f"{b.reserved_rupiah} reserved > {b.allocation_rupiah}")

    recount: Counter[tuple[int, str, str]] = Counter()
    for registration_id, r in registered.items():
        key = (r.fiscal_year, r.regency_code)
        recount[(*key, "registered")] += 1
        decision = decided.get(registration_id)
        if decision is not None:
            if decision.status in FINAL_DECISIONS:
                recount[(*key, decision.status)] += 1
            if decision.status == "granted" and r.status != "ended":
                recount[(*key, "active")] += 1
            if decision.status == "waiting" and r.status != "ended":
                recount[(*key, "waiting")] += 1
        if r.status == "ended":
            recount[(*key, "ended")] += 1
    for key in sorted(set(recount) | set(tallies)):
        if recount.get(key, 0) != tallies.get(key, 0):
            year, region, name = key
            report.award_differences.append(f"{region}/{year} {name}: award {tallies.get(key, 0)}, "
                                            f"recount {recount.get(key, 0)}")
    return report


async def _unsent(session, outbox) -> int:
    unsent = select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
    return (await session.execute(unsent)).scalar_one()


async def _ledger_mismatches(session, decided: Iterable) -> list[str]:
    """Per funding region and billing year: the ledger as GET /v1/ledger shows it, the invoices as GET /v1/invoices
    shows them, and the member-months the granted registrations still cover, each priced at the rate in force.

    A late change to a closed month is billed in the next open month, which is next year's January for a change
    to a closed December: such an adjustment counts in the year that bills it, as in the ledger and invoices."""
    adjustments = subsidy_models.adjustments
    book = RateBook(await subsidy_repository.load_rates(session))
    owed: Counter[tuple[str, int]] = Counter()
    member_months: Counter[tuple[str, int]] = Counter()
    for d in decided:
        if d.status == "granted":
            schedule = book.schedule(d.programme, d.fiscal_year, range(d.start_month, d.last_month + 1))
            owed[(d.funding_region_code, d.fiscal_year)] += sum(amount for _, amount in schedule)
            member_months[(d.funding_region_code, d.fiscal_year)] += len(schedule)
    for region, covered, billed, members, amount in (await session.execute(
        select(adjustments.c.region_code, adjustments.c.covered_year, adjustments.c.billed_year,
               func.sum(adjustments.c.members), func.sum(adjustments.c.amount_rupiah))
        .where(adjustments.c.billed_year != adjustments.c.covered_year)
        .group_by(adjustments.c.region_code, adjustments.c.covered_year, adjustments.c.billed_year)
    )).all():
        members, amount = int(members), int(amount)  # PostgreSQL sums BIGINT as NUMERIC
        owed[(region, covered)] -= amount
        owed[(region, billed)] += amount
        member_months[(region, covered)] -= members
        member_months[(region, billed)] += members

    ledger: Counter[tuple[str, int]] = Counter()
    invoiced: Counter[tuple[str, int]] = Counter()
    years = set((await session.scalars(select(subsidy_models.ledger_months.c.fiscal_year).distinct())).all())
    for year in sorted(years | {year for _, year in owed}):
        for region, months in (await subsidy_repository.billed_ledger(session, year)).items():
            ledger[(region, year)] += sum(m.amount_rupiah + m.adjustment_rupiah for m in months.values())
        for month in range(1, LAST_MONTH + 1):
            _, lines = await subsidy_repository.invoice_lines(session, year, month)
            for line in lines:
                invoiced[(line.region_code, year)] += line.amount_rupiah + line.adjustment_rupiah
    mismatches = []
    for region, year in sorted(set(ledger) | set(invoiced) | set(owed)):
        key = (region, year)
        if not ledger[key] == invoiced[key] == owed[key]:
            mismatches.append(f"{region}/{year}: ledger {ledger[key]}, invoices {invoiced[key]}, "
                              f"{member_months[key]} member-months at the rates in force {owed[key]}")
    return mismatches
