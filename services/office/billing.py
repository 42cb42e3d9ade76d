"""The Billing page: a region's months with their BPJS invoice, payment and budget figures; the invoice as XLSX; the
BPJS member file (heads and verifiers); bill reconciliation; and, as change requests a second person approves,
closing a month, recording a payment, importing BPJS's result file and renewing a cohort."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.office import bill_lines, service
from services.office import billing_service as billing
from services.office.api import (
    FormDep,
    PageError,
    RegionPath,
    Session,
    SessionDep,
    UpstreamDep,
    render,
    require,
    see,
)
from services.office.clients import Upstream, UpstreamError
from services.office.domain import NATIONAL, Refused, parse_amount
from services.office.invoice_pdf import invoice_pdf
from shared.categories import CATEGORIES, CATEGORY_CODES
from shared.regions import region_name
from shared.service import ClockDep, DatabaseDep

router = APIRouter(include_in_schema=False)

YearPath = Annotated[int, Path(ge=2000, le=2100)]
MonthPath = Annotated[int, Path(ge=1, le=12)]
REFERENCE_MAX = 64


def _unavailable(exc: UpstreamError) -> bool:
    return exc.status == 0 or exc.status >= 500 or exc.status in (401, 403, 429)


async def _months(up: Upstream, region_code: str, year: int, last_month: int) -> list[dict[str, Any]]:
    """Each month of the year up to `last_month`: open or closed, the region's members and amount due, and its
    payment once the month is closed."""
    shown = []
    for month in range(1, last_month + 1):
        found = await billing.invoices(up, year, month)
        lines = [i for i in found["invoices"] if billing.covers_line(region_code, i["region_code"])]
        paid = None
        own = any(i["region_code"] == region_code for i in lines)
        if found["status"] == "closed" and own:
            paid = await billing.payment(up, year, month, region_code)
        shown.append({"month": month, "key": f"{year}-{month:02d}", "status": found["status"],
                      "members": sum(i["members"] for i in lines),
                      "adjustment_rupiah": sum(i["adjustment_rupiah"] for i in lines),
                      "amount_due_rupiah": sum(i["amount_due_rupiah"] for i in lines), "own_invoice": own,
                      "payment": paid})
    return shown


async def _page(request: Request, session: Session, database: Any, clock: Any, up: Upstream, region_code: str,
                year: int, *, done: str | None = None, problem: str | None = None,
                reconciliation: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    today = clock.today()
    last_month = 12 if year < today.year else (today.month if year == today.year else 0)
    months, budget, unavailable = [], None, False
    try:
        months = await _months(up, region_code, year, last_month)
        budget = await up.budget(region_code, year)
    except UpstreamError:
        unavailable = True
    pending = [c for c in await service.changes_for(database, session.staff, "pending")
               if c.kind in billing.KINDS and c.region_code in (region_code, NATIONAL)]
    staff = session.staff
    return render(request, "billing.html", session, status_code=status_code, region=region_code, year=year,
                  months=months, budget=budget, unavailable=unavailable, pending=pending, done=done,
                  problem=problem, reconciliation=reconciliation, may_submit=staff.may("submit"),
                  may_close=staff.may("submit") and staff.may_act_in(NATIONAL),
                  may_member_file=staff.role in billing.MEMBER_FILE_ROLES and not staff.disabled,
                  may_reconcile=staff.may("submit") or staff.may("approve"), today=today, categories=CATEGORIES)


@router.get("/regions/{region_code}/billing")
async def billing_page(request: Request, region_code: RegionPath, session: SessionDep, database: DatabaseDep,
                       clock: ClockDep, up: UpstreamDep,
                       year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
                       done: Annotated[str | None, Query(max_length=48)] = None,
                       problem: Annotated[str | None, Query(max_length=48)] = None) -> HTMLResponse:
    require(session, "view", region_code)
    return await _page(request, session, database, clock, up, region_code, year or clock.today().year, done=done,
                       problem=problem)


def _back(region_code: str, year: int, *, done: str | None = None, problem: str | None = None) -> Response:
    outcome = f"&done={done}" if done else f"&problem={problem}" if problem else ""
    return see(f"/regions/{region_code}/billing?year={year}{outcome}")


async def _submitted(call: Any, region_code: str, year: int) -> Response:
    """Run a submission: back to the page with `done=submitted`, or with the refusal's code."""
    try:
        await call
    except Refused as refused:
        if refused.code in ("outside_region", "not_a_maker"):
            raise PageError(403, refused.code) from None
        return _back(region_code, year, problem=refused.code)
    except UpstreamError as exc:
        return _back(region_code, year, problem="upstream_unavailable" if _unavailable(exc) else exc.code)
    return _back(region_code, year, done="submitted")


@router.get("/regions/{region_code}/billing/{year}/{month}/invoice.xlsx")
async def invoice_download(region_code: RegionPath, year: YearPath, month: MonthPath, session: SessionDep,
                           up: UpstreamDep) -> Response:
    require(session, "view", region_code)
    try:
        found = await billing.invoices(up, year, month)
        paid = await billing.payment(up, year, month, region_code) if found["status"] == "closed" else None
    except UpstreamError:
        raise PageError(503, "upstream_unavailable") from None
    found["invoices"] = [i for i in found["invoices"] if billing.covers_line(region_code, i["region_code"])]
    content = billing.invoice_workbook(region_code, region_name(region_code), year, month, found, paid)
    return Response(content, media_type=billing.XLSX, headers={
        "Content-Disposition": f'attachment; filename="tagihan-{region_code.replace(".", "")}-{year}-{month:02d}.xlsx"',
        "Cache-Control": "no-store"})


@router.get("/regions/{region_code}/billing/{year}/{month}/invoice.pdf")
async def invoice_pdf_download(region_code: RegionPath, year: YearPath, month: MonthPath, session: SessionDep,
                               up: UpstreamDep, clock: ClockDep) -> Response:
    """The month's invoice of the region as a PDF: the same data gives the same bytes (see invoice_pdf)."""
    require(session, "view", region_code)
    try:
        found = await billing.invoices(up, year, month)
        paid = await billing.payment(up, year, month, region_code) if found["status"] == "closed" else None
    except UpstreamError:
        raise PageError(503, "upstream_unavailable") from None
    found["invoices"] = [i for i in found["invoices"] if billing.covers_line(region_code, i["region_code"])]
    content = invoice_pdf(region_code, region_name(region_code), year, month, found, paid, session.lang,
                          now=clock.now())
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="tagihan-{region_code.replace(".", "")}-{year}-{month:02d}.pdf"',
        "Cache-Control": "no-store"})


def _month(form: Any) -> int | None:
    """The form's month (1..12), or None."""
    text = str(form.get("month") or "")
    return int(text) if text.isdigit() and 1 <= int(text) <= 12 else None


@router.post("/regions/{region_code}/billing/{year}/close")
async def request_close(region_code: RegionPath, year: YearPath, session: SessionDep, form: FormDep,
                        database: DatabaseDep, clock: ClockDep, up: UpstreamDep) -> Response:
    require(session, "submit", region_code)
    if not session.staff.may_act_in(NATIONAL):
        raise PageError(403, "national_only")
    month = _month(form["_form"])
    if month is None:
        return _back(region_code, year, problem="bad_month")
    return await _submitted(billing.submit_month_close(database, clock, up, session.staff, session.ip, year, month),
                            region_code, year)


@router.post("/regions/{region_code}/billing/{year}/payment")
async def request_payment(region_code: RegionPath, year: YearPath, session: SessionDep, form: FormDep,
                          database: DatabaseDep, clock: ClockDep, up: UpstreamDep) -> Response:
    require(session, "submit", region_code)
    posted = form["_form"]
    month = _month(posted)
    if month is None:
        return _back(region_code, year, problem="bad_month")
    amount = parse_amount(str(posted.get("amount") or ""))
    reference = str(posted.get("reference") or "").strip()
    try:
        paid_on = date.fromisoformat(str(posted.get("paid_on") or ""))
    except ValueError:
        return _back(region_code, year, problem="bad_paid_on")
    if amount is None:
        return _back(region_code, year, problem="bad_amount")
    if not reference or len(reference) > REFERENCE_MAX:
        return _back(region_code, year, problem="bad_reference")
    return await _submitted(billing.submit_payment(database, clock, up, session.staff, session.ip, region_code, year,
                                                   month, paid_on, reference, amount), region_code, year)


@router.post("/regions/{region_code}/billing/{year}/results")
async def request_results_import(region_code: RegionPath, year: YearPath, session: SessionDep, form: FormDep,
                                 database: DatabaseDep, clock: ClockDep) -> Response:
    require(session, "submit", region_code)
    upload = form["_form"].get("file")
    if upload is None or isinstance(upload, str):
        return _back(region_code, year, problem="result_no_file")
    name = (upload.filename or "").lower()
    fmt = "xlsx" if name.endswith((".xlsx", ".xlsm")) else "csv" if name.endswith((".csv", ".txt")) else ""
    if not fmt:
        return _back(region_code, year, problem="unsupported_file")
    raw = await upload.read(billing.MAX_RESULT_FILE_BYTES + 1)
    return await _submitted(billing.submit_results(database, clock, session.staff, session.ip, region_code, year,
                                                   raw, fmt), region_code, year)


@router.post("/regions/{region_code}/renewals")
async def request_renewal(region_code: RegionPath, session: SessionDep, form: FormDep, database: DatabaseDep,
                          clock: ClockDep, up: UpstreamDep) -> Response:
    require(session, "submit", region_code)
    posted = form["_form"]
    try:
        from_year = int(str(posted.get("from_year") or ""))
        start_month = int(str(posted.get("start_month") or "1"))
        months = int(str(posted.get("months") or "12"))
    except ValueError:
        return _back(region_code, clock.today().year, problem="bad_renewal")
    if not (2000 <= from_year < 2100 and 1 <= start_month <= 12 and 1 <= months <= 12):
        return _back(region_code, clock.today().year, problem="bad_renewal")
    category = str(posted.get("category") or "").strip()[:100] or None
    if category is not None and category not in CATEGORY_CODES:
        return _back(region_code, clock.today().year, problem="unknown_category")
    return await _submitted(billing.submit_renewal(database, clock, up, session.staff, session.ip, region_code,
                                                   from_year, category, start_month, months),
                            region_code, from_year)


@router.get("/regions/{region_code}/billing/{year}/{month}/member-file")
async def member_file(region_code: RegionPath, year: YearPath, month: MonthPath, session: SessionDep,
                      database: DatabaseDep, clock: ClockDep, up: UpstreamDep,
                      format: Annotated[str, Query(pattern="^(xlsx|csv)$")] = "xlsx") -> Response:
    """Members' personal data for BPJS: heads and verifiers only. Enrolment records the download under the office's
    key; the office's audit trail names the staff member."""
    require(session, "view", region_code)
    if session.staff.role not in billing.MEMBER_FILE_ROLES:
        raise PageError(403, "forbidden")
    try:
        content, media, rows = await billing.member_file(up, region_code, year, month, format)
    except UpstreamError as exc:
        raise PageError(503 if _unavailable(exc) else 422, "upstream_unavailable" if _unavailable(exc) else exc.code
                        ) from None
    await billing.record_member_file_download(database, clock, session.staff, session.ip, region_code, year, month,
                                              format, rows)
    return Response(content, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="peserta-bpjs-{region_code.replace(".", "")}-{year}-'
                               f'{month:02d}.{format}"', "Cache-Control": "no-store"})


@router.post("/regions/{region_code}/billing/{year}/bill")
async def reconcile_bill(request: Request, region_code: RegionPath, year: YearPath, session: SessionDep,
                         form: FormDep, database: DatabaseDep, clock: ClockDep, up: UpstreamDep) -> Response:
    """BPJS's bill (its totals) against the frozen invoice: the differences are shown on the page."""
    require(session, "view", region_code)
    if not (session.staff.may("submit") or session.staff.may("approve")):
        raise PageError(403, "forbidden")
    posted = form["_form"]
    members, amount = parse_amount(str(posted.get("members") or "")), parse_amount(str(posted.get("amount") or ""))
    month = _month(posted)
    if members is None or amount is None or month is None:
        return await _page(request, session, database, clock, up, region_code, year, problem="bad_bill",
                           status_code=422)
    try:
        report = await billing.reconcile(up, year, month, region_code, members, amount)
    except UpstreamError as exc:
        code = "upstream_unavailable" if _unavailable(exc) else exc.code
        return await _page(request, session, database, clock, up, region_code, year, problem=code,
                           status_code=503 if _unavailable(exc) else 409)
    await billing.record_reconciliation(database, clock, session.staff, session.ip, region_code, year, month, report)
    return await _page(request, session, database, clock, up, region_code, year, reconciliation=report)


@router.post("/regions/{region_code}/billing/{year}/bill-file")
async def reconcile_bill_file(request: Request, region_code: RegionPath, year: YearPath, session: SessionDep,
                              form: FormDep, database: DatabaseDep, clock: ClockDep, up: UpstreamDep) -> Response:
    """BPJS's per-member bill file against the frozen invoice: rows matched to registrations by KPJ or NIK here, sent
    to subsidy as row numbers, ids and amounts; the page shows the differences by row number and id only."""
    require(session, "view", region_code)
    if not (session.staff.may("submit") or session.staff.may("approve")):
        raise PageError(403, "forbidden")
    posted = form["_form"]
    month, upload = _month(posted), posted.get("file")
    if month is None or upload is None or isinstance(upload, str):
        return await _page(request, session, database, clock, up, region_code, year, problem="bad_bill",
                           status_code=422)
    name = upload.filename or ""
    if not name.lower().endswith((".xlsx", ".xlsm", ".csv", ".txt")):
        return await _page(request, session, database, clock, up, region_code, year, problem="unsupported_file",
                           status_code=422)
    raw = await upload.read(bill_lines.MAX_BILL_FILE_BYTES + 1)
    try:
        lines = await bill_lines.bill_lines(up, raw, name, region_code, year)
        report = await bill_lines.reconcile_lines(up, year, month, region_code, lines)
    except Refused as refused:
        return await _page(request, session, database, clock, up, region_code, year, problem=refused.code,
                           status_code=422)
    except UpstreamError as exc:
        code = "upstream_unavailable" if _unavailable(exc) else exc.code
        return await _page(request, session, database, clock, up, region_code, year, problem=code,
                           status_code=503 if _unavailable(exc) else 409)
    await billing.record_reconciliation(database, clock, session.staff, session.ip, region_code, year, month, report)
    return await _page(request, session, database, clock, up, region_code, year, reconciliation=report)
