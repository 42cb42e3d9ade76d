"""The subsidy API: budgets and their funding lines, the monthly ledger, invoices, rates and the monthly close.

Routes parse, authorise, call ``service`` and shape its answer into the response models below. Reads need
registrations:read (or admin); changes need admin. A key only sees the regions it may act in, and a region outside
them answers 403 whether or not anything exists there.
"""

from __future__ import annotations

import io
import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from lokal import format_rupiah
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.subsidy import service
from services.subsidy.domain import (
    AllocationBelowCommitted,
    AlreadyPaid,
    BilledLine,
    BudgetNotFound,
    FundingSource,
    Line,
    MemberDifference,
    MonthNotClosed,
    MonthNotStarted,
    NoInvoice,
    Reconciliation,
    UnknownRegion,
    UnpricedMonth,
)
from services.subsidy.repository import Payment
from shared.access import Principal, require_scope
from shared.access.dependencies import forbid_outside
from shared.http import ErrorBody, HttpProblem
from shared.regions import region
from shared.service import ClockDep, DatabaseDep
from shared.settings import Settings
from shared.vocabulary import (
    DEFAULT_PROGRAMME,
    LAST_MONTH,
    PROVINCE_PATTERN,
    REGENCY_PATTERN,
    REGION_PATTERN,
    FiscalMonth,
    FundingPolicy,
    IsoDate,
    Month,
    ProvinceCode,
    RegionCode,
)

LINE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
FIRST_YEAR, LAST_YEAR = 2000, 2100


# --- what a route depends on, read from app.state (services/subsidy/app.py puts it there) ---

async def get_pace_days(request: Request) -> int:
    """The window of "the recent pace" a budget's projected exhaustion is read from."""
    settings: Settings = request.app.state.settings
    return settings.subsidy_pace_days


PaceDays = Annotated[int, Depends(get_pace_days)]


async def get_backdate_months(request: Request) -> int:
    """How far back a late grant may cover, for budgets that back-date: intake's own backdating window."""
    settings: Settings = request.app.state.settings
    return settings.enrolment_backdate_months


BackdateMonths = Annotated[int, Depends(get_backdate_months)]
Reader = Annotated[Principal, Depends(require_scope("registrations:read"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]

RegionPath = Annotated[str, Path(pattern=REGION_PATTERN, examples=["36.72"],
                                 description="A province (`PP`) or regency/city (`PP.KK`) code")]
YearPath = Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR)]
MonthPath = Annotated[int, Path(ge=1, le=LAST_MONTH)]
YearQuery = Annotated[int | None, Query(ge=FIRST_YEAR, le=LAST_YEAR, description="Fiscal year; today's by default")]

# Reference data decides this 422, so the schema cannot: a code of the right shape that no region has.
UNKNOWN_REGION = "a region code no province or regency/city has (`unknown_region`, field `region_code`)"
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody},
    422: {"model": ErrorBody},
}

router = APIRouter(prefix="/v1", responses=ERRORS)


# --- request bodies ---

class FundingLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_id: str = Field(pattern=LINE_ID_PATTERN, examples=["apbd-2024"],
                         description="Your name for the line; the same id in a later PUT amends it")
    source: FundingSource
    amount_rupiah: int = Field(ge=0, le=10**15, strict=True, description="Whole rupiah")
    legal_reference: str = Field(min_length=1, max_length=200, examples=["Perda Kota Cilegon 5/2023 (APBD 2024)"])


class LinesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[FundingLineIn] = Field(max_length=100, description="Every line of the budget after this amendment; "
                                                                   "`line_id` values unique")
    funding_policy: FundingPolicy | None = Field(
        None, description="What a registration the budget cannot cover now does: `wait` on the waiting list for "
                          "money (a new budget's default) or be denied at once (`deny`); absent: unchanged")
    backdate_late_grants: bool | None = Field(
        None, strict=True,
        description="Cover a late grant from as far back as intake's backdating allows, rather than from the month it "
                    "is funded; absent: unchanged (a new budget does not)")

    @field_validator("lines")
    @classmethod
    def _unique_ids(cls, lines: list[FundingLineIn]) -> list[FundingLineIn]:
        ids = [line.line_id for line in lines]
        if len(ids) != len(set(ids)):
            raise ValueError("line_id values must be unique")
        return lines


# --- response bodies: every amount in whole rupiah, with a `Rp16.800`-style companion for people ---

Formatted = Annotated[str, Field(examples=["Rp16.800"], description="The amount as an office writes it")]
Instant = Annotated[str, Field(description="ISO 8601 date and time", examples=["2024-03-15T02:00:00+00:00"])]
RegionName = Annotated[str | None, Field(description="The region's name; null for a code with no region")]


class BudgetAmounts(BaseModel):
    allocation: Formatted
    committed: Formatted
    spent_to_date: Formatted
    remaining: Formatted


class BudgetSummaryOut(BaseModel):
    region_code: RegionCode
    region_name: RegionName
    fiscal_year: int
    allocation_rupiah: int
    committed_rupiah: int
    spent_to_date_rupiah: int
    remaining_rupiah: int
    funded_members: int
    utilisation_percent: float = Field(description="Committed over allocation, in percent, two decimals")
    projected_exhaustion_month: FiscalMonth | None = Field(
        description="The month the remainder runs out at the recent pace; null if not within the fiscal year")
    fundable_members_rest_of_year: int
    thresholds_crossed: list[Literal[80, 95, 100]]
    as_of: date
    formatted: BudgetAmounts
    funding_policy: FundingPolicy
    backdate_late_grants: bool
    reserved_rupiah: int = Field(description="Months replaced holders released, held for their successors")
    invoiced_rupiah: int = Field(description="The year's frozen invoices charged to this budget, adjustments included")
    paid_rupiah: int = Field(description="What of them was recorded paid to BPJS Ketenagakerjaan")


class FundingLineOut(BaseModel):
    line_id: str
    source: FundingSource
    amount_rupiah: int
    legal_reference: str
    amount: Formatted


class AmendmentOut(BaseModel):
    revision: int
    line_id: str
    change: Literal["added", "changed", "removed", "restored"]
    source: FundingSource
    amount_before_rupiah: int | None
    amount_after_rupiah: int | None
    legal_reference: str
    changed_by: str = Field(description="The id of the API key that made the change, or `replay`")
    changed_at: Instant


class BudgetOut(BudgetSummaryOut):
    lines: list[FundingLineOut]
    amendments: list[AmendmentOut]


class LineChangeOut(BaseModel):
    line_id: str
    change: Literal["added", "changed", "removed"]
    amount_before_rupiah: int | None
    amount_after_rupiah: int | None


class AmendedBudgetOut(BudgetOut):
    changes: list[LineChangeOut] = Field(description="What this request changed; empty if the lines were the same")


class ProvinceTotals(BaseModel):
    allocation_rupiah: int
    committed_rupiah: int
    spent_to_date_rupiah: int
    remaining_rupiah: int
    funded_members: int
    formatted: BudgetAmounts


class ProvinceBudgetsOut(BaseModel):
    province_code: ProvinceCode
    province_name: RegionName
    fiscal_year: int
    budgets: list[BudgetSummaryOut]
    totals: ProvinceTotals


class LedgerAmounts(BaseModel):
    amount: Formatted
    adjustment: Formatted
    amount_due: Formatted


class LedgerMonthOut(BaseModel):
    month: Month
    members: int
    amount_rupiah: int
    adjustment_members: int
    adjustment_rupiah: int
    amount_due_rupiah: int
    closed: bool
    formatted: LedgerAmounts


class AdjustmentOut(BaseModel):
    registration_id: str
    covered_month: FiscalMonth
    billed_month: FiscalMonth
    members: int = Field(description="+1 for late coverage, -1 for a late end")
    amount_rupiah: int
    recorded_at: Instant


class LedgerOut(BaseModel):
    region_code: RegionCode
    region_name: RegionName
    fiscal_year: int
    months: list[LedgerMonthOut]
    member_months: int
    total_rupiah: int
    total: Formatted
    adjustments: list[AdjustmentOut]


class InvoiceOut(BaseModel):
    region_code: RegionCode
    region_name: RegionName
    members: int
    amount_rupiah: int
    adjustment_members: int
    adjustment_rupiah: int
    amount_due_rupiah: int
    amount_due: Formatted


class InvoicesOut(BaseModel):
    fiscal_year: int
    month: Month
    status: Literal["open", "closed"]
    closed_at: Instant | None
    invoices: list[InvoiceOut]
    total_due_rupiah: int
    total_due: Formatted


class ClosedMonthOut(InvoicesOut):
    closed_now: bool = Field(description="False if the month was closed already")


class WaitingOut(BaseModel):
    registration_id: str
    arrival: int = Field(description="Arrival order: lower arrived earlier")
    position: int = Field(description="Place in the list: 1 is funded first")
    since: Instant


class WaitingListOut(BaseModel):
    regency_code: RegionCode
    region_name: RegionName
    fiscal_year: int
    waiting: int = Field(description="How many wait in all")
    registrations: list[WaitingOut] = Field(description="The first of them, in arrival order")


class RenewalCostOut(BaseModel):
    region_code: RegionCode
    fiscal_year: int
    members: int
    start_month: FiscalMonth
    months: int
    cost_rupiah: int = Field(description="The members' coverage at the year's rates")
    remaining_rupiah: int | None = Field(description="What the year's budget has left; null: no budget yet (the "
                                                     "renewals wait for one)")
    left_after_rupiah: int | None = Field(description="What would be left after them; below zero, that much waits")
    cost: Formatted


class RateOut(BaseModel):
    programme: str
    component: str
    amount_rupiah: int
    amount: Formatted
    valid_from: date
    valid_to: date | None = Field(description="The last day in force (inclusive); null while open")
    legal_reference: str


class MonthlyPremiumOut(BaseModel):
    month: Month
    amount_rupiah: int | None = Field(description="Null where no rate is in force")
    amount: Formatted | None


class RatesOut(BaseModel):
    rates: list[RateOut]
    programme: str
    fiscal_year: int
    monthly: list[MonthlyPremiumOut]


# --- shaping ---

def _region_name(code: str) -> str | None:
    r = region(code)
    return r.name if r else None


def _budget_amounts(allocation: int, committed: int, spent_to_date: int, remaining: int) -> BudgetAmounts:
    return BudgetAmounts(allocation=format_rupiah(allocation), committed=format_rupiah(committed),
                         spent_to_date=format_rupiah(spent_to_date), remaining=format_rupiah(remaining))


def _summary(v: service.BudgetView) -> dict[str, Any]:
    b = v.budget
    return {
        "region_code": b.region_code, "region_name": _region_name(b.region_code), "fiscal_year": b.fiscal_year,
        "allocation_rupiah": b.allocation_rupiah, "committed_rupiah": b.committed_rupiah,
        "spent_to_date_rupiah": v.spent_to_date_rupiah, "remaining_rupiah": v.remaining_rupiah,
        "funded_members": b.funded_members, "utilisation_percent": v.utilisation_percent,
        "projected_exhaustion_month": v.projected_exhaustion_month,
        "fundable_members_rest_of_year": v.fundable_members_rest_of_year,
        "thresholds_crossed": v.thresholds_crossed, "as_of": v.as_of,
        "funding_policy": b.funding_policy, "backdate_late_grants": b.backdate_late_grants,
        "reserved_rupiah": b.reserved_rupiah,
        "invoiced_rupiah": v.invoiced_rupiah, "paid_rupiah": v.paid_rupiah,
        "formatted": _budget_amounts(b.allocation_rupiah, b.committed_rupiah, v.spent_to_date_rupiah,
                                     v.remaining_rupiah),
    }


def _budget(detail: service.BudgetDetail) -> dict[str, Any]:
    return {
        **_summary(detail.view),
        "lines": [FundingLineOut(line_id=x.line_id, source=x.source, amount_rupiah=x.amount_rupiah,
                                 legal_reference=x.legal_reference, amount=format_rupiah(x.amount_rupiah))
                  for x in detail.lines],
        "amendments": [AmendmentOut(revision=h.revision, line_id=h.line_id, change=h.change,
                                    source=h.source, amount_before_rupiah=h.amount_before_rupiah,
                                    amount_after_rupiah=h.amount_after_rupiah, legal_reference=h.legal_reference,
                                    changed_by=h.changed_by, changed_at=h.changed_at.isoformat())
                       for h in detail.amendments],
    }


def _invoices(invoices: service.Invoices, principal: Principal) -> dict[str, Any]:
    shown = [
        InvoiceOut(region_code=r.region_code, region_name=_region_name(r.region_code), members=r.members,
                   amount_rupiah=r.amount_rupiah, adjustment_members=r.adjustment_members,
                   adjustment_rupiah=r.adjustment_rupiah, amount_due_rupiah=r.amount_rupiah + r.adjustment_rupiah,
                   amount_due=format_rupiah(r.amount_rupiah + r.adjustment_rupiah))
        for r in invoices.lines if principal.may_act_in(r.region_code)
    ]
    total = sum(i.amount_due_rupiah for i in shown)
    closed_at = invoices.closed_at
    return {"fiscal_year": invoices.fiscal_year, "month": invoices.month,
            "status": "closed" if closed_at else "open", "closed_at": closed_at.isoformat() if closed_at else None,
            "invoices": shown, "total_due_rupiah": total, "total_due": format_rupiah(total)}


# --- routes ---

def _unknown_region() -> HttpProblem:
    return HttpProblem(422, "unknown_region", "No province or regency/city has this code.", field="region_code")


@router.put("/budgets/{region_code}/{year}/lines", summary="Record a budget's funding lines (APBD, APBD-P)",
            responses={409: {"model": ErrorBody, "description": "The lines add up to less than is already committed "
                                                                "(`allocation_below_committed`)"},
                       422: {"model": ErrorBody, "description": f"Invalid input, {UNKNOWN_REGION}, or two lines "
                                                                f"under one `line_id` (field `lines`)"}})
async def put_lines(region_code: RegionPath, year: YearPath, body: LinesIn, principal: Admin, database: DatabaseDep,
                    clock: ClockDep, pace_days: PaceDays, backdate_months: BackdateMonths) -> AmendedBudgetOut:
    forbid_outside(principal, region_code)
    wanted = [Line(x.line_id, x.source, x.amount_rupiah, x.legal_reference) for x in body.lines]
    try:
        changes = await service.record_lines(database, clock, region_code, year, wanted, principal,
                                             backdate_months=backdate_months, policy=body.funding_policy,
                                             backdate_late_grants=body.backdate_late_grants)
    except UnknownRegion:
        raise _unknown_region() from None
    except AllocationBelowCommitted as exc:
        raise HttpProblem(409, "allocation_below_committed",
                       f"The lines add up to {format_rupiah(exc.allocation)}, below the "
                       f"{format_rupiah(exc.committed)} already committed to registrations.", field="lines") from None
    detail = await service.read_budget(database, clock, pace_days, region_code, year)
    return AmendedBudgetOut(**_budget(detail), changes=[
        LineChangeOut(line_id=c.line_id, change=c.change, amount_before_rupiah=c.before,
                      amount_after_rupiah=c.after) for c in changes])


@router.get("/budgets/{region_code}", summary="A budget: allocation, committed, spent, remaining, projections")
async def get_budget(region_code: RegionPath, principal: Reader, database: DatabaseDep, clock: ClockDep,
                     pace_days: PaceDays, year: YearQuery = None) -> BudgetOut:
    forbid_outside(principal, region_code)
    year = year or clock.today().year
    try:
        detail = await service.read_budget(database, clock, pace_days, region_code, year)
    except BudgetNotFound:
        raise HttpProblem(404, "budget_not_found", f"No budget for this region in {year}.",
                          field="region_code") from None
    return BudgetOut(**_budget(detail))


@router.get("/budgets", summary="Every budget in a province: the province's own and its regencies/cities'")
async def list_budgets(principal: Reader, database: DatabaseDep, clock: ClockDep, pace_days: PaceDays,
                       province: Annotated[str, Query(pattern=PROVINCE_PATTERN, examples=["36"])],
                       year: YearQuery = None) -> ProvinceBudgetsOut:
    if not (principal.may_act_in(province)
            or any(g.startswith(province + ".") for g in principal.regions)):
        raise HttpProblem(403, "outside_region", "This key may not act in that region.")
    year = year or clock.today().year
    views = await service.read_province(database, clock, pace_days, province, year,
                                        principal.may_act_in)
    allocation = sum(v.budget.allocation_rupiah for v in views)
    committed = sum(v.budget.committed_rupiah for v in views)
    spent = sum(v.spent_to_date_rupiah for v in views)
    remaining = sum(v.remaining_rupiah for v in views)
    return ProvinceBudgetsOut(
        province_code=province, province_name=_region_name(province), fiscal_year=year,
        budgets=[BudgetSummaryOut(**_summary(v)) for v in views],
        totals=ProvinceTotals(allocation_rupiah=allocation, committed_rupiah=committed, spent_to_date_rupiah=spent,
                              remaining_rupiah=remaining, funded_members=sum(v.budget.funded_members for v in views),
                              formatted=_budget_amounts(allocation, committed, spent, remaining)),
    )


@router.get("/waiting/{regency_code}/{year}", summary="A regency/city's waiting list, in arrival order",
            responses={422: {"model": ErrorBody, "description": f"Invalid input, or {UNKNOWN_REGION}"}})
async def get_waiting(regency_code: Annotated[str, Path(pattern=REGENCY_PATTERN, examples=["36.72"])],
                      year: YearPath, principal: Reader, database: DatabaseDep,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> WaitingListOut:
    forbid_outside(principal, regency_code)
    try:
        total, queued = await service.read_waiting_list(database, regency_code, year, limit)
    except UnknownRegion:
        raise HttpProblem(422, "unknown_region", "No regency/city has this code.", field="regency_code") from None
    return WaitingListOut(
        regency_code=regency_code, region_name=_region_name(regency_code), fiscal_year=year, waiting=total,
        registrations=[WaitingOut(registration_id=q.registration_id, arrival=q.arrival, position=q.position,
                                  since=q.since.isoformat()) for q in queued])


@router.get("/budgets/{region_code}/{year}/renewal-cost",
            summary="What renewing members into a fiscal year costs at its rates, and what it leaves of its budget",
            responses={422: {"model": ErrorBody, "description": f"Invalid input, {UNKNOWN_REGION}, or months past "
                                                                f"December, or a month without a rate"}})
async def get_renewal_cost(region_code: RegionPath, year: YearPath, principal: Reader, database: DatabaseDep,
                           members: Annotated[int, Query(ge=0, le=10_000_000)],
                           start_month: Annotated[int, Query(ge=1, le=LAST_MONTH)] = 1,
                           months: Annotated[int, Query(ge=1, le=LAST_MONTH)] = LAST_MONTH) -> RenewalCostOut:
    forbid_outside(principal, region_code)
    if start_month + months - 1 > LAST_MONTH:
        raise HttpProblem(422, "months_out_of_range", "The months must end by December.", field="months")
    try:
        cost = await service.renewal_cost(database, region_code, year, members, start_month, months)
    except UnknownRegion:
        raise _unknown_region() from None
    except UnpricedMonth:
        raise HttpProblem(422, "unpriced_month", "No premium rate is in force in a month asked for.",
                          field="start_month") from None
    return RenewalCostOut(region_code=region_code, fiscal_year=year, members=members,
                          start_month=f"{year}-{start_month:02d}", months=months, cost_rupiah=cost.cost_rupiah,
                          remaining_rupiah=cost.remaining_rupiah, left_after_rupiah=cost.left_after_rupiah,
                          cost=format_rupiah(cost.cost_rupiah))


@router.get("/ledger/{region_code}/{year}", summary="Member-months and rupiah per month, with adjustments",
            responses={422: {"model": ErrorBody, "description": f"Invalid input, or {UNKNOWN_REGION}"}})
async def get_ledger(region_code: RegionPath, year: YearPath, principal: Reader, database: DatabaseDep) -> LedgerOut:
    forbid_outside(principal, region_code)
    try:
        ledger = await service.read_ledger(database, region_code, year)
    except UnknownRegion:
        raise _unknown_region() from None
    return LedgerOut(
        region_code=region_code, region_name=_region_name(region_code), fiscal_year=year,
        months=[LedgerMonthOut(
            month=m.month, members=m.members, amount_rupiah=m.amount_rupiah, adjustment_members=m.adjustment_members,
            adjustment_rupiah=m.adjustment_rupiah, amount_due_rupiah=m.amount_due_rupiah, closed=m.closed,
            formatted=LedgerAmounts(amount=format_rupiah(m.amount_rupiah),
                                    adjustment=format_rupiah(m.adjustment_rupiah),
                                    amount_due=format_rupiah(m.amount_due_rupiah)),
        ) for m in ledger.months],
        member_months=ledger.member_months, total_rupiah=ledger.total_rupiah,
        total=format_rupiah(ledger.total_rupiah),
        adjustments=[AdjustmentOut(
            registration_id=a.registration_id, covered_month=f"{a.covered_year}-{a.covered_month:02d}",
            billed_month=f"{a.billed_year}-{a.billed_month:02d}", members=a.members, amount_rupiah=a.amount_rupiah,
            recorded_at=a.recorded_at.isoformat(),
        ) for a in ledger.adjustments],
    )


@router.get("/invoices/{year}/{month}", summary="What each region owes BPJS Ketenagakerjaan for a month")
async def get_invoices(year: YearPath, month: MonthPath, principal: Reader, database: DatabaseDep) -> InvoicesOut:
    return InvoicesOut(**_invoices(await service.read_invoices(database, year, month), principal))


@router.post("/billing/{year}/{month}/close", summary="Freeze a month's invoices (idempotent)",
             responses={409: {"model": ErrorBody, "description": "The month has not begun (`month_not_started`)"}})
async def close(year: YearPath, month: MonthPath, principal: Admin, database: DatabaseDep, clock: ClockDep
                ) -> ClosedMonthOut:
    if not principal.national:
        raise HttpProblem(403, "outside_region", "Closing a month closes it for every region: a national key is "
                                              "required.")
    try:
        closed_now = await service.close_month(database, clock, year, month, principal)
    except MonthNotStarted:
        raise HttpProblem(409, "month_not_started", "A month can be closed once it has begun.", field="month") from None
    return ClosedMonthOut(**_invoices(await service.read_invoices(database, year, month), principal),
                          closed_now=closed_now)


@router.get("/rates", summary="Premium rates with their validity, and a year's month-by-month premium")
async def get_rates(principal: Reader, database: DatabaseDep, clock: ClockDep, programme: str = DEFAULT_PROGRAMME,
                    year: YearQuery = None) -> RatesOut:
    schedule = await service.read_rates(database, programme, year or clock.today().year)
    return RatesOut(
        rates=[RateOut(programme=r.programme, component=r.component, amount_rupiah=r.amount_rupiah,
                       amount=format_rupiah(r.amount_rupiah), valid_from=r.valid_from, valid_to=r.valid_to,
                       legal_reference=r.legal_reference) for r in schedule.rates],
        programme=schedule.programme, fiscal_year=schedule.fiscal_year,
        monthly=[MonthlyPremiumOut(month=m, amount_rupiah=amount,
                                   amount=format_rupiah(amount) if amount is not None else None)
                 for m, amount in schedule.monthly],
    )


# --- BPJS's bill and the payment ----------------------------------------------------------------------------------

REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ./_-]{0,63}$"


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paid_on: IsoDate = Field(description="When the region paid BPJS (YYYY-MM-DD)")
    reference: str = Field(pattern=REFERENCE_PATTERN, examples=["SP2D 00123/BKAD/2025"],
                           description="The payment's reference (SP2D or transfer number); never personal data")
    amount_rupiah: int = Field(ge=0, le=10**15, strict=True, description="What was paid, whole rupiah")


class PaymentOut(BaseModel):
    region_code: RegionCode
    region_name: RegionName
    fiscal_year: int
    month: Month
    invoiced_rupiah: int
    paid_rupiah: int
    paid: Formatted
    difference_rupiah: int = Field(description="Paid less invoiced")
    paid_on: str
    reference: str
    recorded_by: str = Field(description="The key that recorded it")
    recorded_by_name: str
    recorded_at: Instant


class BilledLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    row: int = Field(ge=1, le=10_000_000, strict=True, description="The line's row in BPJS's file")
    registration_id: uuid.UUID | None = Field(description="The member it was matched to; null when BPJS billed "
                                                          "someone Paritrana does not know in the region")
    amount_rupiah: int = Field(ge=0, le=10**12, strict=True)


class BillIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: int | None = Field(None, ge=0, le=10_000_000, strict=True,
                                description="Members billed (totals only); counted from the lines when given")
    amount_rupiah: int | None = Field(None, ge=0, le=10**15, strict=True,
                                      description="The bill's total; the lines' sum when absent")
    lines: list[BilledLineIn] | None = Field(None, max_length=200_000,
                                             description="Per-member lines, matched to registrations")


class MemberLineOut(BaseModel):
    registration_id: str | None
    row: int | None
    funded_rupiah: int
    billed_rupiah: int


class ReconciliationOut(BaseModel):
    region_code: RegionCode
    region_name: RegionName
    fiscal_year: int
    month: Month
    invoiced_members: int
    invoiced_rupiah: int
    invoiced: Formatted
    billed_members: int
    billed_rupiah: int
    billed: Formatted
    difference_rupiah: int = Field(description="Billed less invoiced")
    difference: Formatted
    per_member: bool
    differences: int = Field(description="Members billed but not funded, funded but not billed, and billed another "
                                         "amount; with totals only, 1 when the totals differ")
    matched: list[MemberLineOut]
    billed_not_funded: list[MemberLineOut]
    funded_not_billed: list[MemberLineOut]
    amount_differences: list[MemberLineOut]


def _signed_rupiah(amount: int) -> str:
    return ("-" if amount < 0 else "") + format_rupiah(abs(amount))


def _payment(p: Payment) -> dict[str, Any]:
    return {"region_code": p.region_code, "region_name": _region_name(p.region_code), "fiscal_year": p.fiscal_year,
            "month": p.month, "invoiced_rupiah": p.invoiced_rupiah, "paid_rupiah": p.paid_rupiah,
            "paid": format_rupiah(p.paid_rupiah), "difference_rupiah": p.paid_rupiah - p.invoiced_rupiah,
            "paid_on": p.paid_on.isoformat(), "reference": p.reference, "recorded_by": p.recorded_by,
            "recorded_by_name": p.recorded_by_name, "recorded_at": p.recorded_at.isoformat()}


def _not_closed() -> HttpProblem:
    return HttpProblem(409, "month_not_closed", "Close the month first: a bill is compared with, and a payment "
                                                "recorded for, a frozen invoice.", field="month")


def _no_invoice() -> HttpProblem:
    return HttpProblem(404, "no_invoice", "The closed month has no invoice for this region.", field="region_code")


@router.post("/invoices/{year}/{month}/{region_code}/payment", status_code=201, response_model=PaymentOut,
             summary="Record a frozen invoice as paid to BPJS Ketenagakerjaan",
             description="Marks the month paid for the region, with who recorded it, and publishes invoice.paid. A "
                         "paid month stays paid: later changes to it are adjustments billed in an open month. "
                         "Sending the same payment again answers 200 with it.",
             responses={200: {"model": PaymentOut, "description": "The same payment, recorded before"},
                        422: {"model": ErrorBody, "description": f"Invalid input, or {UNKNOWN_REGION}"},
                        404: {"model": ErrorBody, "description": "No invoice for the region that month (`no_invoice`)"},
                        409: {"model": ErrorBody, "description": "The month is not closed (`month_not_closed`), or "
                                                                 "was paid otherwise (`already_paid`)"}})
async def record_payment(year: YearPath, month: MonthPath, region_code: RegionPath, body: PaymentIn,
                         principal: Admin, database: DatabaseDep, clock: ClockDep, response: Response) -> Any:
    if region(region_code) is None:
        raise _unknown_region()
    forbid_outside(principal, region_code)
    try:
        payment, recorded = await service.record_payment(database, clock, year, month, region_code, body.paid_on,
                                                         body.reference, body.amount_rupiah, principal)
    except MonthNotClosed:
        raise _not_closed() from None
    except NoInvoice:
        raise _no_invoice() from None
    except AlreadyPaid:
        raise HttpProblem(409, "already_paid", "This invoice is recorded paid with another date, reference or "
                                               "amount.", field="reference") from None
    if not recorded:
        response.status_code = 200
    return _payment(payment)


@router.get("/invoices/{year}/{month}/{region_code}/payment", response_model=PaymentOut,
            summary="A region's payment of a month's invoice",
            responses={404: {"model": ErrorBody, "description": "Not paid (`not_paid`)"},
                       422: {"model": ErrorBody, "description": f"Invalid input, or {UNKNOWN_REGION}"}})
async def get_payment(year: YearPath, month: MonthPath, region_code: RegionPath, principal: Reader,
                      database: DatabaseDep) -> Any:
    if region(region_code) is None:
        raise _unknown_region()
    forbid_outside(principal, region_code)
    payment = await service.read_payment(database, year, month, region_code)
    if payment is None:
        raise HttpProblem(404, "not_paid", "No payment is recorded for this invoice.")
    return _payment(payment)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.post("/invoices/{year}/{month}/{region_code}/bill", response_model=ReconciliationOut,
             summary="Compare BPJS's bill (tagihan) with the frozen invoice",
             description="Totals, or per-member lines matched to registrations (`paritrana subsidy reconcile-bill` "
                         "matches BPJS's file by NIK or KPJ on the operator's machine). The report lists members "
                         "matched, billed but not funded, funded but not billed, and billed another amount; "
                         "`format=xlsx` gives it as a workbook, amounts written the Indonesian way.",
             responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}},
                        422: {"model": ErrorBody, "description": f"Invalid input, {UNKNOWN_REGION}, or no premium "
                                                                 "rate that month (`unpriced_month`)"},
                        404: {"model": ErrorBody, "description": "No invoice for the region that month (`no_invoice`)"},
                        409: {"model": ErrorBody, "description": "The month is not closed (`month_not_closed`)"}})
async def reconcile_bill(year: YearPath, month: MonthPath, region_code: RegionPath, body: BillIn, principal: Admin,
                         database: DatabaseDep, clock: ClockDep,
                         format: Literal["json", "xlsx"] = "json") -> Any:
    if region(region_code) is None:
        raise _unknown_region()
    forbid_outside(principal, region_code)
    lines = None if body.lines is None else [
        BilledLine(x.row, str(x.registration_id) if x.registration_id else None, x.amount_rupiah) for x in body.lines]
    try:
        result = await service.reconcile_bill(database, clock, year, month, region_code, lines, body.members,
                                              body.amount_rupiah, principal)
    except MonthNotClosed:
        raise _not_closed() from None
    except NoInvoice:
        raise _no_invoice() from None
    except UnpricedMonth:
        raise HttpProblem(422, "unpriced_month", "No premium rate is in force that month.", field="month") from None
    report = reconciliation_report(result, region_code, year, month)
    if format == "xlsx":
        return Response(reconciliation_workbook(report), media_type=XLSX, headers={
            "Content-Disposition": f'attachment; filename="rekonsiliasi-{region_code.replace(".", "")}-'
                                   f'{year:04d}-{month:02d}.xlsx"'})
    return report


def reconciliation_report(r: Reconciliation, region_code: str, year: int, month: int) -> dict[str, Any]:
    def members(items: list[MemberDifference]) -> list[dict[str, Any]]:
        return [vars(x) for x in items]

    return {"region_code": region_code, "region_name": _region_name(region_code), "fiscal_year": year,
            "month": month, "invoiced_members": r.invoiced_members, "invoiced_rupiah": r.invoiced_rupiah,
            "invoiced": format_rupiah(r.invoiced_rupiah), "billed_members": r.billed_members,
            "billed_rupiah": r.billed_rupiah, "billed": format_rupiah(r.billed_rupiah),
            "difference_rupiah": r.difference_rupiah, "difference": _signed_rupiah(r.difference_rupiah),
            "per_member": r.per_member, "differences": r.differences, "matched": members(r.matched),
            "billed_not_funded": members(r.billed_not_funded), "funded_not_billed": members(r.funded_not_billed),
            "amount_differences": members(r.amount_differences)}


SECTIONS = (("amount_differences", "Selisih nominal"), ("billed_not_funded", "Ditagih, tidak didanai"),
            ("funded_not_billed", "Didanai, tidak ditagih"), ("matched", "Cocok"))


def reconciliation_workbook(report: dict[str, Any]) -> bytes:
    """The report as a workbook for a treasurer: the totals, then one line per member by what was found."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Rekonsiliasi"
    sheet.append(["Wilayah", report["region_name"] or report["region_code"]])
    sheet.append(["Bulan", f"{report['fiscal_year']:04d}-{report['month']:02d}"])
    sheet.append(["Tagihan Paritrana", report["invoiced"], report["invoiced_members"]])
    sheet.append(["Tagihan BPJS", report["billed"], report["billed_members"]])
    sheet.append(["Selisih", report["difference"]])
    sheet.append([])
    sheet.append(["Hasil", "Baris tagihan", "ID Registrasi", "Didanai", "Ditagih", "Selisih"])
    for key, title in SECTIONS:
        for x in report[key]:
            sheet.append([title, x["row"], x["registration_id"], format_rupiah(x["funded_rupiah"]),
                          format_rupiah(x["billed_rupiah"]), _signed_rupiah(x["billed_rupiah"] - x["funded_rupiah"])])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
