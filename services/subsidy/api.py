"""The subsidy API: budgets and their funding lines, the monthly ledger, invoices, rates and the monthly close.

Reads need registrations:read (or admin); changes need admin. A key only sees the regions it may act in, and a
region outside them answers 403 whether or not anything exists there.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from lokal import format_rupiah
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.access import Principal, require_scope
from shared.access.dependencies import forbid_outside
from shared.http import ApiError, ErrorBody
from shared.outbox import enqueue
from shared.regions import region
from shared.service import Runtime

from services.subsidy import repository
from services.subsidy.domain import (
    DEFAULT_PROGRAMME, LAST_MONTH, THRESHOLDS, BudgetState, Line, RateBook, ThresholdCrossed, UnpricedMonth,
    amend, fundable_members, projected_exhaustion, spent_to_date, utilisation,
)
from services.subsidy.metrics import record_utilisation
from services.subsidy.models import outbox
from services.subsidy.producers import allocated_event, threshold_event

Reader = Annotated[Principal, Depends(require_scope("registrations:read"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]
RegionPath = Annotated[str, Path(pattern=r"^\d{2}(\.\d{2})?$", examples=["36.72"])]
YearPath = Annotated[int, Path(ge=2000, le=2100)]
MonthPath = Annotated[int, Path(ge=1, le=12)]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody},
    422: {"model": ErrorBody},
}


class FundingLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", examples=["apbd-2024"],
                         description="Your name for the line; the same id in a later PUT amends it")
    source: Literal["apbd_kabkota", "apbd_provinsi", "dana_desa", "csr"]
    amount_rupiah: int = Field(ge=0, le=10**15, strict=True, description="Whole rupiah")
    legal_reference: str = Field(min_length=1, max_length=200, examples=["Perda Kota Cilegon 5/2023 (APBD 2024)"])


class LinesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[FundingLineIn] = Field(max_length=100, description="Every line of the budget after this amendment")

    @field_validator("lines")
    @classmethod
    def _unique_ids(cls, lines: list[FundingLineIn]) -> list[FundingLineIn]:
        ids = [line.line_id for line in lines]
        if len(ids) != len(set(ids)):
            raise ValueError("line_id values must be unique")
        return lines


def _formatted(**amounts: int) -> dict[str, str]:
    return {name: format_rupiah(value) for name, value in amounts.items()}


def _region_name(code: str) -> str | None:
    r = region(code)
    return r.name if r else None


def _known_region(code: str) -> None:
    if region(code) is None:
        raise ApiError(422, "unknown_region", "No province or regency/city has this code.", field="region_code")


def routes(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1", responses=ERRORS)
    database, clock = runtime.database, runtime.clock
    pace_days = runtime.settings.subsidy_pace_days

    async def views(session: Any, rows: list[Any], book: RateBook) -> list[dict[str, Any]]:
        """Budget summaries with batch queries: one for the ledgers, two for the recent pace."""
        today, now = clock.today(), clock.now()
        ledgers = await repository.ledger_of(session, [r.region_code for r in rows], rows[0].fiscal_year) if rows \
            else {}
        pace = await repository.committed_since(session, [r.id for r in rows], now - timedelta(days=pace_days))
        out = []
        for r in rows:
            remaining = max(0, r.allocation_rupiah - r.committed_rupiah)
            spent = spent_to_date({m: x.amount_rupiah for m, x in ledgers.get(r.region_code, {}).items()},
                                  r.fiscal_year, today)
            out.append({
                "region_code": r.region_code,
                "region_name": _region_name(r.region_code),
                "fiscal_year": r.fiscal_year,
                "allocation_rupiah": r.allocation_rupiah,
                "committed_rupiah": r.committed_rupiah,
                "spent_to_date_rupiah": spent,
                "remaining_rupiah": remaining,
                "funded_members": r.funded_members,
                "utilisation_percent": round(100 * utilisation(r.committed_rupiah, r.allocation_rupiah), 2),
                "projected_exhaustion_month": projected_exhaustion(remaining, pace.get(r.id, 0), pace_days,
                                                                   r.fiscal_year, today),
                "fundable_members_rest_of_year": fundable_members(remaining, book, DEFAULT_PROGRAMME,
                                                                  r.fiscal_year, today),
                "thresholds_crossed": [t for i, t in enumerate(THRESHOLDS) if r.thresholds_published & (1 << i)],
                "as_of": today.isoformat(),
                "formatted": _formatted(allocation=r.allocation_rupiah, committed=r.committed_rupiah,
                                        spent_to_date=spent, remaining=remaining),
            })
        return out

    async def budget_detail(session: Any, row: Any) -> dict[str, Any]:
        [view] = await views(session, [row], await repository.rate_book(session))
        view["lines"] = [
            {"line_id": x.line_id, "source": x.source, "amount_rupiah": x.amount_rupiah,
             "legal_reference": x.legal_reference, "amount": format_rupiah(x.amount_rupiah)}
            for x in await repository.current_lines(session, row.id)
        ]
        view["amendments"] = [
            {"revision": h.revision, "line_id": h.line_id, "change": h.change, "source": h.source,
             "amount_before_rupiah": h.amount_before_rupiah, "amount_after_rupiah": h.amount_after_rupiah,
             "legal_reference": h.legal_reference, "changed_by": h.changed_by,
             "changed_at": h.changed_at.isoformat()}
            for h in await repository.line_history(session, row.id)
        ]
        return view

    @router.put("/budgets/{region_code}/{year}/lines", summary="Record a budget's funding lines (APBD, APBD-P)")
    async def put_lines(region_code: RegionPath, year: YearPath, body: LinesIn, principal: Admin) -> dict[str, Any]:
        forbid_outside(principal, region_code)
        _known_region(region_code)
        wanted = [Line(x.line_id, x.source, x.amount_rupiah, x.legal_reference) for x in body.lines]
        now = clock.now()
        async with database.transaction() as session:
            budget = await repository.open_budget(session, region_code, year, now)
            changes = amend(await repository.current_lines(session, budget.id), wanted)
            if changes:
                try:
                    budget = await repository.replace_lines(session, budget, wanted, changes, principal.key_id, now)
                except repository.AllocationBelowCommitted as exc:
                    total = sum(x.amount_rupiah for x in wanted)
                    raise ApiError(409, "allocation_below_committed",
                                   f"The lines add up to {format_rupiah(total)}, below the "
                                   f"{format_rupiah(exc.committed)} already committed to registrations.",
                                   field="lines") from None
                state = BudgetState(budget.id, region_code, year, budget.allocation_rupiah, budget.committed_rupiah,
                                    budget.funded_members, budget.thresholds_published)
                crossed = state.newly_crossed()
                if crossed:
                    await repository.mark_thresholds(session, budget.id, state.thresholds_published)
                await enqueue(session, outbox, [
                    allocated_event(region_code, year, budget.revision, budget.allocation_rupiah, wanted, now),
                    *(threshold_event(ThresholdCrossed(region_code, year, t, state.allocation, state.committed), now)
                      for t in crossed),
                ])
        if changes:
            record_utilisation(region_code, year, budget.committed_rupiah, budget.allocation_rupiah)
        async with database.reading() as session:
            view = await budget_detail(session, await repository.budget_row(session, region_code, year))
        view["changes"] = [{"line_id": c.line_id, "change": c.change, "amount_before_rupiah": c.before,
                            "amount_after_rupiah": c.after} for c in changes]
        return view

    @router.get("/budgets/{region_code}", summary="A budget: allocation, committed, spent, remaining, projections")
    async def get_budget(region_code: RegionPath, principal: Reader,
                         year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> dict[str, Any]:
        forbid_outside(principal, region_code)
        year = year or clock.today().year
        async with database.reading() as session:
            row = await repository.budget_row(session, region_code, year)
            if row is None:
                raise ApiError(404, "budget_not_found", f"No budget for this region in {year}.",
                               field="region_code")
            return await budget_detail(session, row)

    @router.get("/budgets", summary="Every budget in a province: the province's own and its regencies/cities'")
    async def list_budgets(principal: Reader, province: Annotated[str, Query(pattern=r"^\d{2}$")],
                           year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> dict[str, Any]:
        if not (principal.may_act_in(province)
                or any(g.startswith(province + ".") for g in principal.regions)):
            raise ApiError(403, "outside_region", "This key may not act in that region.")
        year = year or clock.today().year
        async with database.reading() as session:
            rows = [r for r in await repository.budgets_in(session, province, year)
                    if principal.may_act_in(r.region_code)]
            summaries = await views(session, rows, await repository.rate_book(session))
        totals = {name: sum(s[f"{name}_rupiah"] for s in summaries)
                  for name in ("allocation", "committed", "spent_to_date", "remaining")}
        return {
            "province_code": province, "province_name": _region_name(province), "fiscal_year": year,
            "budgets": summaries,
            "totals": {**{f"{k}_rupiah": v for k, v in totals.items()},
                       "funded_members": sum(s["funded_members"] for s in summaries),
                       "formatted": _formatted(**totals)},
        }

    @router.get("/ledger/{region_code}/{year}", summary="Member-months and rupiah per month, with adjustments")
    async def get_ledger(region_code: RegionPath, year: YearPath, principal: Reader) -> dict[str, Any]:
        forbid_outside(principal, region_code)
        _known_region(region_code)
        async with database.reading() as session:
            months = (await repository.billed_ledger(session, year, [region_code])).get(region_code, {})
            closed = await repository.closed_in(session, year)
            carried = await repository.adjustments_billed_in(session, region_code, year)
        rows = []
        for m in range(1, LAST_MONTH + 1):
            x = months.get(m)
            members, amount = (x.members, x.amount_rupiah) if x else (0, 0)
            adj_members, adj_amount = (x.adjustment_members, x.adjustment_rupiah) if x else (0, 0)
            rows.append({"month": m, "members": members, "amount_rupiah": amount, "adjustment_members": adj_members,
                         "adjustment_rupiah": adj_amount, "amount_due_rupiah": amount + adj_amount,
                         "closed": m in closed, "formatted": _formatted(amount=amount, adjustment=adj_amount,
                                                                        amount_due=amount + adj_amount)})
        total = sum(r["amount_due_rupiah"] for r in rows)
        return {
            "region_code": region_code, "region_name": _region_name(region_code), "fiscal_year": year,
            "months": rows,
            "member_months": sum(r["members"] + r["adjustment_members"] for r in rows),
            "total_rupiah": total, "total": format_rupiah(total),
            "adjustments": [
                {"registration_id": a.registration_id, "covered_month": f"{a.covered_year}-{a.covered_month:02d}",
                 "billed_month": f"{a.billed_year}-{a.billed_month:02d}", "members": a.members,
                 "amount_rupiah": a.amount_rupiah, "recorded_at": a.recorded_at.isoformat()}
                for a in carried
            ],
        }

    async def invoice_document(session: Any, year: int, month: int, principal: Principal) -> dict[str, Any]:
        state, rows = await repository.invoice_lines(session, year, month)
        closed = state is not None and state.closed_at is not None
        invoices = [
            {"region_code": r.region_code, "region_name": _region_name(r.region_code), "members": r.members,
             "amount_rupiah": r.amount_rupiah, "adjustment_members": r.adjustment_members,
             "adjustment_rupiah": r.adjustment_rupiah, "amount_due_rupiah": r.amount_rupiah + r.adjustment_rupiah,
             "amount_due": format_rupiah(r.amount_rupiah + r.adjustment_rupiah)}
            for r in rows if principal.may_act_in(r.region_code)
        ]
        total = sum(i["amount_due_rupiah"] for i in invoices)
        return {"fiscal_year": year, "month": month, "status": "closed" if closed else "open",
                "closed_at": state.closed_at.isoformat() if closed else None, "invoices": invoices,
                "total_due_rupiah": total, "total_due": format_rupiah(total)}

    @router.get("/invoices/{year}/{month}", summary="What each region owes BPJS Ketenagakerjaan for a month")
    async def get_invoices(year: YearPath, month: MonthPath, principal: Reader) -> dict[str, Any]:
        async with database.reading() as session:
            return await invoice_document(session, year, month, principal)

    @router.post("/billing/{year}/{month}/close", summary="Freeze a month's invoices (idempotent)")
    async def close(year: YearPath, month: MonthPath, principal: Admin) -> dict[str, Any]:
        if not principal.national:
            raise ApiError(403, "outside_region", "Closing a month closes it for every region: a national key is "
                                                  "required.")
        today = clock.today()
        if (year, month) > (today.year, today.month):
            raise ApiError(409, "month_not_started", "A month can be closed once it has begun.", field="month")
        async with database.transaction() as session:
            closed_now = await repository.close_month(session, year, month, clock.now())
        async with database.reading() as session:
            document = await invoice_document(session, year, month, principal)
        return {**document, "closed_now": closed_now}

    @router.get("/rates", summary="Premium rates with their validity, and a year's month-by-month premium")
    async def get_rates(principal: Reader, programme: str = DEFAULT_PROGRAMME,
                        year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> dict[str, Any]:
        async with database.reading() as session:
            rates = await repository.load_rates(session)
        book = RateBook(rates)
        year = year or clock.today().year
        schedule = []
        for m in range(1, LAST_MONTH + 1):
            try:
                amount = book.monthly(programme, year, m)
            except UnpricedMonth:
                amount = None
            schedule.append({"month": m, "amount_rupiah": amount,
                             "amount": format_rupiah(amount) if amount is not None else None})
        return {
            "rates": [{"programme": r.programme, "component": r.component, "amount_rupiah": r.amount_rupiah,
                       "amount": format_rupiah(r.amount_rupiah), "valid_from": r.valid_from.isoformat(),
                       "valid_to": r.valid_to.isoformat() if r.valid_to else None,
                       "legal_reference": r.legal_reference} for r in rates],
            "programme": programme, "fiscal_year": year, "monthly": schedule,
        }

    return router
