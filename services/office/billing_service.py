"""The Billing page's use cases: the money movements of billing under maker-checker, and what the page reads.

Four kinds of change request, each submitted by an operator and applied through the other service's API only when a
verifier or head (never the submitter) approves it (service.decide calls the APPLIERS registered here):

- ``month_close``: subsidy's ``POST /v1/billing/{y}/{m}/close``. It freezes the month for every region, so subsidy
  wants a national key; the office likewise keeps it to national accounts (region ``*``).
- ``bpjs_payment``: subsidy's ``POST /v1/invoices/{y}/{m}/{region}/payment`` (paid_on, reference, amount).
- ``bpjs_results``: enrolment's ``POST /v1/bpjs/results``. The uploaded file's bytes wait in the change request; the
  approver sees its row counts only, never a NIK or a KPJ number.
- ``renewal``: enrolment's ``POST /v1/renewals``; the approver sees the dry run and subsidy's renewal cost.
"""

from __future__ import annotations

import base64
import io
import uuid
from datetime import date
from typing import Any

from services.office import repository as repo
from services.office.clients import Upstream, UpstreamError
from services.office.domain import NATIONAL, Refused, Staff
from services.office.service import APPLIERS, Actor, _audit
from shared import spreadsheet
from shared.clock import Clock
from shared.database import Database
from shared.vocabulary import ENROLLED_WORDS, REJECTED_WORDS, RESULT_HEADERS

MONTH_CLOSE = "month_close"
BPJS_PAYMENT = "bpjs_payment"
BPJS_RESULTS = "bpjs_results"
RENEWAL = "renewal"
KINDS = (MONTH_CLOSE, BPJS_PAYMENT, BPJS_RESULTS, RENEWAL)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_RESULT_FILE_BYTES = 4 * 1024 * 1024  # what enrolment accepts (enrolment_max_body_bytes)
# Who may download the member file (it holds members' personal data).
MEMBER_FILE_ROLES = frozenset({"head", "verifier"})


# --- calls to the other services ---

def _body(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return body


async def _call(up: Upstream, client: Any, method: str, path: str, ok: tuple[int, ...] = (200,),
                **kwargs: Any) -> dict[str, Any]:
    response = await up._call(client, method, path, **kwargs)
    if response.status_code not in ok:
        raise up._refused(response)
    return _body(response)


async def invoices(up: Upstream, year: int, month: int) -> dict[str, Any]:
    return await _call(up, up.subsidy, "GET", f"/v1/invoices/{year}/{month}")


async def payment(up: Upstream, year: int, month: int, region_code: str) -> dict[str, Any] | None:
    response = await up._call(up.subsidy, "GET", f"/v1/invoices/{year}/{month}/{region_code}/payment")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise up._refused(response)
    return _body(response)


async def reconcile(up: Upstream, year: int, month: int, region_code: str, members: int,
                    amount_rupiah: int) -> dict[str, Any]:
    return await _call(up, up.subsidy, "POST", f"/v1/invoices/{year}/{month}/{region_code}/bill",
                       json={"members": members, "amount_rupiah": amount_rupiah})


async def member_file(up: Upstream, region_code: str, year: int, month: int, fmt: str) -> tuple[bytes, str, int]:
    response = await up._call(up.enrolment, "GET", "/v1/bpjs/member-file",
                              params={"region": region_code, "year": year, "month": month, "format": fmt})
    if response.status_code != 200:
        raise up._refused(response)
    return response.content, response.headers.get("content-type", ""), int(response.headers.get("x-row-count", 0))


async def renewal_preview(up: Upstream, body: dict[str, Any]) -> dict[str, Any]:
    """Enrolment's dry run of the renewal and what renewing that many costs in subsidy's budget of to_year."""
    counted = await _call(up, up.enrolment, "POST", "/v1/renewals", json=body | {"dry_run": True})
    try:
        cost: dict[str, Any] = await _call(
            up, up.subsidy, "GET", f"/v1/budgets/{body['region_code']}/{body['to_year']}/renewal-cost",
            params={"members": counted["renewable"], "start_month": body["start_month"], "months": body["months"]})
    except UpstreamError as exc:
        if exc.status != 422:  # 422: no premium rate in force in to_year yet; the approver sees the counts only
            raise
        cost = {}
    return {"cohort": counted["cohort"], "renewable": counted["renewable"],
            "already_renewed": counted["already_renewed"], "skipped_live": counted["skipped_live"],
            "member_months": counted["member_months"], "cost_rupiah": cost.get("cost_rupiah"),
            "remaining_rupiah": cost.get("remaining_rupiah"), "left_after_rupiah": cost.get("left_after_rupiah")}


# --- what a BPJS result file holds, in counts ---

_RESULT_KNOWN = spreadsheet.by_header(RESULT_HEADERS)


def result_counts(raw: bytes, fmt: str) -> dict[str, int]:
    """Rows of a BPJS result file, and how many say enrolled or rejected: what the approver sees of it (no NIK, no
    KPJ number). Refused("result_unreadable_file" | "result_no_header") when enrolment would refuse it too."""
    try:
        _fmt, table = spreadsheet.read_table(raw, f".{fmt}", _RESULT_KNOWN)
    except Exception:
        raise Refused("result_unreadable_file") from None
    found = spreadsheet.find_header(table, _RESULT_KNOWN)
    if found is None or "status" not in found[1].values():
        raise Refused("result_no_header")
    start, mapping = found
    status_at = next(i for i, name in mapping.items() if name == "status")
    counts = {"rows": 0, "enrolled_rows": 0, "rejected_rows": 0, "other_rows": 0}
    for cells in table[start + 1:]:
        if not any(spreadsheet.cell(c) for c in cells):
            continue
        counts["rows"] += 1
        status = spreadsheet.cell(cells[status_at] if status_at < len(cells) else None).lower()
        key = "enrolled_rows" if status in ENROLLED_WORDS else "rejected_rows" if status in REJECTED_WORDS else \
            "other_rows"
        counts[key] += 1
    return counts


# --- submitting ---

def _check_maker(staff: Staff, region_code: str) -> None:
    if not staff.may("submit"):
        raise Refused("not_a_maker")
    if not staff.may_act_in(region_code):
        raise Refused("outside_region")


async def _submit(database: Database, clock: Clock, staff: Staff, ip: str | None, kind: str, region_code: str,
                  year: int, payload: dict[str, Any], before: dict[str, Any], shown: dict[str, Any]) -> str:
    """Store a pending change; the audit entry gets `shown` (never a file's bytes or personal data)."""
    _check_maker(staff, region_code)
    change_id = str(uuid.uuid4())
    async with database.transaction() as session:
        await repo.add_change(session, repo.ChangeRow(
            change_id, kind, region_code, year, payload, before, "pending", staff.staff_id, clock.now(), None, None,
            None, None))
        await _audit(session, clock, Actor.of(staff, ip), f"{kind}_submitted", region_code, change_id,
                     before=before, after=shown)
    return change_id


async def submit_month_close(database: Database, clock: Clock, up: Upstream, staff: Staff, ip: str | None,
                             year: int, month: int) -> str:
    """Closing a month closes it for every region: a national account submits it (and approves it)."""
    _check_maker(staff, NATIONAL)
    if (year, month) > (clock.today().year, clock.today().month):
        raise Refused("month_not_started")
    found = await invoices(up, year, month)
    if found["status"] == "closed":
        raise Refused("month_already_closed")
    before = {"year": year, "month": month, "status": found["status"], "regions": len(found["invoices"]),
              "total_due_rupiah": found["total_due_rupiah"]}
    return await _submit(database, clock, staff, ip, MONTH_CLOSE, NATIONAL, year, {"year": year, "month": month},
                         before, {"year": year, "month": month})


async def submit_payment(database: Database, clock: Clock, up: Upstream, staff: Staff, ip: str | None,
                         region_code: str, year: int, month: int, paid_on: date, reference: str,
                         amount_rupiah: int) -> str:
    _check_maker(staff, region_code)
    if paid_on > clock.today():
        raise Refused("paid_in_future")
    async with database.reading() as session:
        waiting = await repo.pending_changes(session, BPJS_PAYMENT, region_code, year)
    if any(c.payload["month"] == month for c in waiting):
        # Approving a second one could only fail (already_paid) once the first is applied.
        raise Refused("payment_pending")
    found = await invoices(up, year, month)
    if found["status"] != "closed":
        raise Refused("month_not_closed")
    mine = [i for i in found["invoices"] if i["region_code"] == region_code]
    if not mine:
        raise Refused("no_invoice")
    if await payment(up, year, month, region_code) is not None:
        raise Refused("already_paid")
    payload = {"year": year, "month": month, "paid_on": paid_on.isoformat(), "reference": reference,
               "amount_rupiah": amount_rupiah}
    before = {"year": year, "month": month, "invoiced_rupiah": mine[0]["amount_due_rupiah"],
              "members": mine[0]["members"]}
    return await _submit(database, clock, staff, ip, BPJS_PAYMENT, region_code, year, payload, before, payload)


async def submit_results(database: Database, clock: Clock, staff: Staff, ip: str | None, region_code: str,
                         year: int, raw: bytes, fmt: str) -> str:
    """Keep BPJS's result file in the change request until approval; the approver and the audit see counts only."""
    _check_maker(staff, region_code)
    if not raw:
        raise Refused("result_no_file")
    if len(raw) > MAX_RESULT_FILE_BYTES:
        raise Refused("result_file_too_large")
    counts = result_counts(raw, fmt)
    if not counts["rows"]:
        raise Refused("result_no_rows")
    payload = {"year": year, "format": fmt, "file": base64.b64encode(raw).decode()}
    before = {"year": year, "format": fmt, "bytes": len(raw), **counts}
    return await _submit(database, clock, staff, ip, BPJS_RESULTS, region_code, year, payload, before, before)


async def submit_renewal(database: Database, clock: Clock, up: Upstream, staff: Staff, ip: str | None,
                         region_code: str, from_year: int, category: str | None, start_month: int,
                         months: int) -> str:
    _check_maker(staff, region_code)
    if start_month + months - 1 > 12:
        raise Refused("months_out_of_range")
    body: dict[str, Any] = {"region_code": region_code, "from_year": from_year, "to_year": from_year + 1,
                            "start_month": start_month, "months": months}
    if category:
        body["category"] = category
    preview = await renewal_preview(up, body)
    if not preview["renewable"]:
        raise Refused("nothing_to_renew")
    return await _submit(database, clock, staff, ip, RENEWAL, region_code, from_year + 1, body, preview,
                         body | preview)


async def record_member_file_download(database: Database, clock: Clock, staff: Staff, ip: str | None,
                                      region_code: str, year: int, month: int, fmt: str, rows: int) -> None:
    async with database.transaction() as session:
        await _audit(session, clock, Actor.of(staff, ip), "bpjs_member_file_downloaded", region_code,
                     f"{year}-{month:02d}", after={"year": year, "month": month, "format": fmt, "rows": rows})


async def record_reconciliation(database: Database, clock: Clock, staff: Staff, ip: str | None, region_code: str,
                                year: int, month: int, report: dict[str, Any]) -> None:
    async with database.transaction() as session:
        await _audit(session, clock, Actor.of(staff, ip), "bill_reconciled", region_code, f"{year}-{month:02d}",
                     after={k: report[k] for k in ("invoiced_members", "invoiced_rupiah", "billed_members",
                                                   "billed_rupiah", "difference_rupiah", "differences")})


# --- applying, on approval ---

async def _apply_close(up: Upstream, change: repo.ChangeRow) -> dict[str, Any]:
    p = change.payload
    done = await _call(up, up.subsidy, "POST", f"/v1/billing/{p['year']}/{p['month']}/close")
    return {"closed_now": done["closed_now"], "regions": len(done["invoices"]),
            "total_due_rupiah": done["total_due_rupiah"]}


async def _apply_payment(up: Upstream, change: repo.ChangeRow) -> dict[str, Any]:
    p = change.payload
    done = await _call(up, up.subsidy, "POST", f"/v1/invoices/{p['year']}/{p['month']}/{change.region_code}/payment",
                       ok=(200, 201), json={k: p[k] for k in ("paid_on", "reference", "amount_rupiah")})
    return {"paid_rupiah": done["paid_rupiah"], "invoiced_rupiah": done["invoiced_rupiah"],
            "difference_rupiah": done["difference_rupiah"]}


async def _apply_results(up: Upstream, change: repo.ChangeRow) -> dict[str, Any]:
    p = change.payload
    media = XLSX if p["format"] == "xlsx" else "text/csv"
    done = await _call(up, up.enrolment, "POST", "/v1/bpjs/results",
                       params={"region": change.region_code, "year": p["year"]},
                       content=base64.b64decode(p["file"]), headers={"Content-Type": media})
    return {k: done[k] for k in ("import_id", "rows", "enrolled", "rejected", "unchanged", "mismatched",
                                 "rejections")}


async def _apply_renewal(up: Upstream, change: repo.ChangeRow) -> dict[str, Any]:
    done = await _call(up, up.enrolment, "POST", "/v1/renewals", json=change.payload | {"dry_run": False})
    return {k: done[k] for k in ("cohort", "renewable", "renewed", "already_renewed", "skipped_live",
                                 "member_months")}


APPLIERS.update({MONTH_CLOSE: _apply_close, BPJS_PAYMENT: _apply_payment, BPJS_RESULTS: _apply_results,
                 RENEWAL: _apply_renewal})


# --- the invoice as a workbook ---

def invoice_workbook(region_code: str, region_name: str, year: int, month: int, found: dict[str, Any],
                     paid: dict[str, Any] | None) -> bytes:
    """The month's invoice lines of the region (and, for a province, its regencies/cities) as an XLSX."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from services.office.i18n import rupiah

    book = Workbook()
    sheet = book.active
    sheet.title = f"Tagihan {year}-{month:02d}"
    sheet.append([f"Tagihan iuran BPJS Ketenagakerjaan {region_name} ({region_code}), bulan {year}-{month:02d}"])
    sheet.append(["Status", "ditutup" if found["status"] == "closed" else "terbuka (belum final)"])
    sheet.append([])
    sheet.append(["Kode wilayah", "Wilayah", "Peserta", "Iuran (Rp)", "Peserta penyesuaian", "Penyesuaian (Rp)",
                  "Total tagihan (Rp)", "Total tagihan"])
    total = 0
    for line in found["invoices"]:
        sheet.append([line["region_code"], line["region_name"], line["members"], line["amount_rupiah"],
                      line["adjustment_members"], line["adjustment_rupiah"], line["amount_due_rupiah"],
                      rupiah(line["amount_due_rupiah"])])
        total += line["amount_due_rupiah"]
    sheet.append(["Jumlah", "", "", "", "", "", total, rupiah(total)])
    if paid:
        sheet.append([])
        sheet.append(["Dibayar", paid["paid_on"], paid["reference"], paid["paid_rupiah"], "", "", "",
                      rupiah(paid["paid_rupiah"])])
    # Numbers stay numbers (to sum and check), shown with thousands separators, which Excel draws as dots in an
    # Indonesian locale; the header row is bold and the columns wide enough to read.
    for row in sheet.iter_rows(min_row=5):
        for cell in row[2:7]:
            if isinstance(cell.value, int):
                cell.number_format = "#,##0"
    for cell in sheet[4]:
        cell.font = Font(bold=True)
    for column, width in zip("ABCDEFGH", (14, 28, 10, 14, 12, 16, 18, 18), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def covers_line(region_code: str, line_region: str) -> bool:
    return line_region == region_code or line_region.startswith(region_code + ".")

