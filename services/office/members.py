"""The Members pages: a region's registrations from enrolment's `GET /v1/registrations` (filters, search by name or
NIK for roles that see personal data, paging), a member's page with history, ending and replacing a member through
enrolment's API, and the filtered list as XLSX.

Personal data is shown only to roles allowed to see it (operator, verifier, head, admin); a viewer sees it masked
and cannot search by it. It is never logged and never written to the audit trail: entries name the registration
id only."""

from __future__ import annotations

import io
import re
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from services.office import service
from services.office.api import FormDep, PageError, RegionPath, Session, SessionDep, UpstreamDep, render, require, see
from services.office.clients import Upstream, UpstreamError
from shared.categories import CATEGORIES, CATEGORY_CODES, category_name
from shared.clock import Clock
from shared.database import Database
from shared.regions import district_name, districts_of, village_name, villages_of
from shared.service import ClockDep, DatabaseDep
from shared.vocabulary import END_REASONS, STATUSES

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
EXPORT_LIMIT = 20_000  # rows in one XLSX export; a region's list rarely comes near it
SEES_PERSONAL = frozenset({"operator", "verifier", "head", "admin"})
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DISTRICT = re.compile(r"^\d{2}\.\d{2}\.\d{2}$")
VILLAGE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")
RegistrationId = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$")]


# --- pure rules ---

def sees_personal(session: Session) -> bool:
    return session.staff.role in SEES_PERSONAL and not session.staff.disabled


def mask_nik(nik: str | None) -> str:
    """The district digits stay (where the NIK was issued); the birth date and serial are hidden."""
    return "–" if not nik else nik[:6] + "*" * (len(nik) - 6)


def mask_name(name: str | None) -> str:
    return "–" if not name else " ".join(part[:1] + "***" for part in name.split())


def shown_worker(worker: dict[str, Any] | None, personal: bool, missing: str = "–") -> dict[str, str]:
    """The worker's personal data as this reader may see it; `missing` for what is not known (a page's dash, a
    spreadsheet's empty cell)."""
    worker = worker or {}
    if personal:
        return {"nik": worker.get("nik") or missing, "full_name": worker.get("full_name") or missing,
                "phone": worker.get("phone") or missing, "kpj_number": worker.get("kpj_number") or missing}
    return {"nik": mask_nik(worker.get("nik")), "full_name": mask_name(worker.get("full_name")), "phone": "***",
            "kpj_number": "***" if worker.get("kpj_number") else missing}


def place_name(code: str | None) -> str:
    if not code:
        return "–"
    return (village_name(code) if VILLAGE.match(code) else district_name(code)) or code


# --- calls to enrolment ---

def _filters(region_code: str, status: str | None, category: str | None, district: str | None, village: str | None,
             search: str | None) -> dict[str, str]:
    wanted = {"region": region_code, "status": status, "category": category, "district": district,
              "village": village, "search": search}
    return {k: v for k, v in wanted.items() if v}


async def registrations_page(up: Upstream, filters: dict[str, str], cursor: str | None,
                             limit: int | None = None) -> dict[str, Any]:
    params = filters | {"limit": str(limit or PAGE_SIZE)} | ({"cursor": cursor} if cursor else {})
    page: dict[str, Any] = await up.json(up.enrolment, "GET", "/v1/registrations", params=params)
    return page


async def registration(up: Upstream, registration_id: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = await up.json(up.enrolment, "GET", f"/v1/registrations/{registration_id}")
    except UpstreamError as exc:
        if exc.status in (403, 404):
            return None
        raise
    return found


def in_region(record: dict[str, Any], region_code: str) -> bool:
    return bool(record["regency_code"] == region_code or record["province_code"] == region_code)


async def _audit(database: Database, clock: Clock, session: Session, action: str, region_code: str,
                 subject: str | None, before: Any = None, after: Any = None) -> None:
    async with database.transaction() as db:
        await service._audit(db, clock, service.Actor.of(session.staff, session.ip), action, region_code, subject,
                             before=before, after=after)


# --- pages ---

def _query_filters(status: str | None, category: str | None, district: str | None, village: str | None,
                   q: str | None, personal: bool) -> tuple[dict[str, str | None], str | None]:
    """The page's filters as the enrolment API takes them, and a problem code if one is not allowed."""
    problem = None
    q = (q or "").strip() or None
    if q and not personal:
        q, problem = None, "search_not_allowed"
    if q and len(q) < 2:
        q, problem = None, "search_too_short"
    return {"status": status if status in STATUSES else None,
            "category": category if category in CATEGORY_CODES else None,
            "district": district if district and DISTRICT.match(district) else None,
            "village": village if village and VILLAGE.match(village) else None, "search": q}, problem


@router.get("/regions/{region_code}/members")
async def members_page(request: Request, region_code: RegionPath, session: SessionDep, up: UpstreamDep,
                       status: Annotated[str | None, Query(max_length=32)] = None,
                       category: Annotated[str | None, Query(max_length=64)] = None,
                       district: Annotated[str | None, Query(max_length=16)] = None,
                       village: Annotated[str | None, Query(max_length=16)] = None,
                       q: Annotated[str | None, Query(max_length=100)] = None,
                       cursor: Annotated[str | None, Query(max_length=1000)] = None) -> HTMLResponse:
    require(session, "view", region_code)
    personal = sees_personal(session)
    chosen, problem = _query_filters(status, category, district, village, q, personal)
    filters = _filters(region_code, **{k: v for k, v in chosen.items()})
    page, unavailable = None, False
    try:
        page = await registrations_page(up, filters, cursor)
    except UpstreamError as exc:
        if exc.status == 422:
            problem = problem or "bad_filter"
        else:
            unavailable = True
    members = [{**r, "shown": shown_worker(r.get("worker"), personal)} for r in (page or {}).get("items", [])]
    # The page's own query names: the search is `q` here (enrolment calls it `search`).
    query = {("q" if k == "search" else k): v for k, v in chosen.items() if v}
    next_url = (f"/regions/{region_code}/members?" + urlencode(query | {"cursor": page["next_cursor"]})
                if page and page.get("next_cursor") else None)
    district_codes = districts_of(region_code) if region_code.count(".") == 1 else []
    villages = villages_of(chosen["district"]) if chosen["district"] else []
    return render(request, "members.html", session, region=region_code, members=members, chosen=chosen,
                  problem=problem, unavailable=unavailable, next_url=next_url,
                  first_url=None if cursor is None else f"/regions/{region_code}/members?" + urlencode(query),
                  export_url=f"/regions/{region_code}/members.xlsx?" + urlencode(query),
                  statuses=STATUSES, categories=CATEGORIES, districts=[(c, district_name(c) or c)
                                                                       for c in district_codes],
                  villages=[(v.code, v.name) for v in villages], personal=personal,
                  place_name=place_name)


@router.get("/regions/{region_code}/members.xlsx")
async def members_export(region_code: RegionPath, session: SessionDep, database: DatabaseDep, clock: ClockDep,
                         up: UpstreamDep,
                         status: Annotated[str | None, Query(max_length=32)] = None,
                         category: Annotated[str | None, Query(max_length=64)] = None,
                         district: Annotated[str | None, Query(max_length=16)] = None,
                         village: Annotated[str | None, Query(max_length=16)] = None,
                         q: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    """The filtered list, every page of it, as a workbook; NIKs (and KPJ numbers) are text cells, never numbers."""
    require(session, "view", region_code)
    personal = sees_personal(session)
    chosen, _problem = _query_filters(status, category, district, village, q, personal)
    filters = _filters(region_code, **chosen)
    rows: list[dict[str, Any]] = []
    cursor = None
    try:
        while len(rows) < EXPORT_LIMIT:
            page = await registrations_page(up, filters, cursor, limit=1000)
            rows += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
    except UpstreamError:
        raise PageError(503, "enrolment_unavailable") from None
    content = workbook(rows[:EXPORT_LIMIT], personal, session.lang)
    # The filters may hold a name or NIK searched for: the trail keeps only which filters were used and the count.
    await _audit(database, clock, session, "members_exported", region_code, None,
                 after={"rows": min(len(rows), EXPORT_LIMIT), "filters": sorted(k for k in chosen if chosen[k])})
    name = f"peserta-{region_code}-{clock.today().isoformat()}.xlsx"
    return StreamingResponse(io.BytesIO(content), headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


HEADERS_ID = ("ID pendaftaran", "NIK", "Nama", "Telepon", "Kategori", "Status", "Kecamatan", "Desa/Kelurahan",
              "Tahun anggaran", "Bulan mulai", "Jumlah bulan", "Bulan berakhir", "Nomor KPJ", "Status BPJS",
              "Didaftarkan")
HEADERS_EN = ("Registration id", "NIK", "Name", "Phone", "Category", "Status", "District", "Village",
              "Fiscal year", "Start month", "Months", "End month", "KPJ number", "BPJS status", "Registered")


def workbook(rows: list[dict[str, Any]], personal: bool, lang: str) -> bytes:
    from openpyxl import Workbook

    from services.office import i18n

    t = i18n.translator(lang)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Peserta" if lang == "id" else "Members"
    sheet.append(list(HEADERS_EN if lang == "en" else HEADERS_ID))
    for r in rows:
        # An empty cell, not the page's "–", which a filter or a VLOOKUP would take as a value.
        worker = shown_worker(r.get("worker"), personal, missing="")
        coverage = r.get("coverage") or {}
        sheet.append([r["registration_id"], worker["nik"], worker["full_name"], worker["phone"],
                      category_name(r["category"], lang), t("member_status_" + r["status"]),
                      place_name(r.get("district_code")), place_name(r.get("village_code")),
                      coverage.get("fiscal_year"), coverage.get("start_month"), coverage.get("months"),
                      coverage.get("end_month") or "", worker["kpj_number"], r.get("bpjs_status") or "",
                      str(r.get("registered_at") or "")[:10]])
    for row in sheet.iter_rows(min_row=2):
        for cell in (row[1], row[3], row[12]):  # NIK, phone, KPJ: text, so no leading zero or digit is lost
            cell.number_format = "@"
            cell.data_type = "s"
    for column, width in zip("ABCDEFGHIJKLMNO", (38, 20, 28, 16, 26, 18, 18, 22, 8, 10, 8, 10, 16, 14, 12),
                             strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@router.get("/regions/{region_code}/members/{registration_id}")
async def member_page(request: Request, region_code: RegionPath, registration_id: RegistrationId,
                      session: SessionDep, up: UpstreamDep, done: str | None = None,
                      problem: str | None = None) -> HTMLResponse:
    require(session, "view", region_code)
    try:
        record = await registration(up, registration_id)
    except UpstreamError:
        raise PageError(503, "enrolment_unavailable") from None
    if record is None or not in_region(record, region_code):
        raise PageError(404, "unknown_member")
    return _member_view(request, session, region_code, record, done=done, problem=problem)


def _member_view(request: Request, session: Session, region_code: str, record: dict[str, Any], *,
                 done: str | None = None, problem: str | None = None, entered: dict[str, str] | None = None,
                 status_code: int = 200) -> HTMLResponse:
    """A member's page; `entered` refills the replacement form with what the officer typed when it was refused."""
    linked = {key: record[key] for key in ("renews", "replaces", "replaced_by") if record.get(key)}
    return render(request, "member.html", session, status_code=status_code, region=region_code, member=record,
                  shown=shown_worker(record.get("worker"), sees_personal(session)), linked=linked,
                  may_act=session.staff.may("submit") and record["status"] in ("active", "pending_funding",
                                                                                "waiting_funding"),
                  end_reasons=END_REASONS, done=done, problem=problem, entered=entered or {},
                  place_name=place_name)


def _month_or_none(value: Any) -> str | None:
    text = str(value or "").strip()
    return text if MONTH.match(text) else None


@router.post("/regions/{region_code}/members/{registration_id}/end")
async def end_member(region_code: RegionPath, registration_id: RegistrationId, session: SessionDep, form: FormDep,
                     database: DatabaseDep, clock: ClockDep, up: UpstreamDep) -> Response:
    require(session, "submit", region_code)
    posted = form["_form"]
    reason = str(posted.get("reason") or "")
    if reason not in END_REASONS:
        return see(f"/regions/{region_code}/members/{registration_id}?problem=bad_reason")
    if posted.get("confirm") != "yes":  # ending cannot be undone: the form asks for a tick, and so does this
        return see(f"/regions/{region_code}/members/{registration_id}?problem=end_not_confirmed")
    record = await _member_in(up, region_code, registration_id)
    body: dict[str, Any] = {"reason": reason}
    if end_month := _month_or_none(posted.get("end_month")):
        body["end_month"] = end_month
    try:
        ended = await up.json(up.enrolment, "POST", f"/v1/registrations/{registration_id}/end", json=body)
    except UpstreamError as exc:
        return see(f"/regions/{region_code}/members/{registration_id}?problem={_refusal(exc)}")
    await _audit(database, clock, session, "member_ended", region_code, registration_id,
                 before={"status": record["status"]},
                 after={"status": ended["status"], "reason": reason,
                        "end_month": (ended.get("coverage") or {}).get("end_month")})
    return see(f"/regions/{region_code}/members/{registration_id}?done=ended")


@router.post("/regions/{region_code}/members/{registration_id}/replace")
async def replace_member(request: Request, region_code: RegionPath, registration_id: RegistrationId,
                         session: SessionDep, form: FormDep, database: DatabaseDep, clock: ClockDep,
                         up: UpstreamDep) -> Response:
    require(session, "submit", region_code)
    posted = form["_form"]
    record = await _member_in(up, region_code, registration_id)
    successor: dict[str, Any] = {
        "registration_id": str(uuid.uuid4()), "nik": str(posted.get("nik") or "").strip(),
        "full_name": str(posted.get("full_name") or "").strip(),
        "phone": str(posted.get("phone") or "").strip() or None, "channel": "partner_app",
        "captured_at": clock.now().isoformat(),
    }
    successor = {k: v for k, v in successor.items() if v is not None}
    body: dict[str, Any] = {"successor": successor}
    if end_month := _month_or_none(posted.get("end_month")):
        body["end_month"] = end_month
    try:
        made = await up.json(up.enrolment, "POST", f"/v1/registrations/{registration_id}/replace", ok=(200, 201),
                             json=body)
    except UpstreamError as exc:
        # Shown again with what was typed, so the officer corrects one field instead of typing all of them again.
        entered = {name: str(posted.get(name) or "").strip() for name in ("nik", "full_name", "phone", "end_month")}
        problem = _refusal(exc)
        return _member_view(request, session, region_code, record, problem=problem, entered=entered,
                            status_code=503 if problem == "enrolment_unavailable" else 422)
    await _audit(database, clock, session, "member_replaced", region_code, registration_id,
                 before={"status": record["status"]},
                 after={"successor": made["registration_id"], "successor_status": made["status"]})
    return see(f"/regions/{region_code}/members/{made['registration_id']}?done=replaced")


async def _member_in(up: Upstream, region_code: str, registration_id: str) -> dict[str, Any]:
    try:
        record = await registration(up, registration_id)
    except UpstreamError:
        raise PageError(503, "enrolment_unavailable") from None
    if record is None or not in_region(record, region_code):
        raise PageError(404, "unknown_member")
    return record


def _refusal(exc: UpstreamError) -> str:
    """Enrolment's error code as the page's problem (a code, never the submitted values)."""
    if exc.status == 0 or exc.status >= 500:
        return "enrolment_unavailable"
    return re.sub(r"[^a-z0-9_]", "", exc.code.lower())[:48] or "refused"
