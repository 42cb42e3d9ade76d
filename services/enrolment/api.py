"""The enrolment REST API: intake one at a time (partner apps) or in batches (field kits), look-ups for staff,
ending coverage, and the region reference list."""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from services.enrolment import service
from services.enrolment.contract import (
    BatchRequest,
    EndRequest,
    LookupRequest,
    RenewalRequest,
    ReplaceRequest,
    SubmittedRegistration,
)
from services.enrolment.domain import IntakeRules, RegistrationRecord
from services.enrolment.repository import Registrations, ordered_by, utc
from shared import regions
from shared.access import Principal, region_covers, require_scope
from shared.access.dependencies import forbid_outside
from shared.clock import FISCAL_TZ
from shared.http import ErrorBody, FieldError, HttpProblem, error_response
from shared.service import ClockDep
from shared.vocabulary import PROVINCE_PATTERN, REGENCY_PATTERN, REGION_PATTERN, RegistrationStatus, Sex

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

WriteKey = Annotated[Principal, Depends(require_scope("registrations:write"))]
AdminKey = Annotated[Principal, Depends(require_scope("admin"))]
ReadKey = Annotated[Principal, Depends(require_scope("registrations:read"))]
_write_scope, _read_scope = require_scope("registrations:write"), require_scope("registrations:read")


async def _either_scope(request: Request) -> Principal:
    """Reference data for anyone who may write or read registrations."""
    try:
        return await _write_scope(request)
    except HttpProblem as exc:
        if exc.status != 403:
            raise
        return await _read_scope(request)


def _not_a_timestamp(value: Any) -> Any:
    """A date-time as ISO 8601 text, as the document says: a number such as 0.5 is not read as a Unix time."""
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        raise PydanticCustomError("invalid_datetime", "Give an ISO 8601 date-time, such as 2025-03-01T08:00:00+07:00.")
    return value


async def get_registrations(request: Request) -> Registrations:
    registrations: Registrations = request.app.state.registrations
    return registrations


async def get_intake_rules(request: Request) -> IntakeRules:
    rules: IntakeRules = request.app.state.intake_rules
    return rules


AnyKey = Annotated[Principal, Depends(_either_scope)]
Store = Annotated[Registrations, Depends(get_registrations)]
Rules = Annotated[IntakeRules, Depends(get_intake_rules)]


# --- responses -----------------------------------------------------------------------------------------------

class Coverage(BaseModel):
    fiscal_year: int
    start_month: str
    months: int
    end_month: str | None = Field(None, description="Last covered month, once ended")


class RegistrationSummary(BaseModel):
    """A registration without personal data: what a writing key gets back."""

    registration_id: str
    status: RegistrationStatus
    status_reason: str | None = Field(None, description="Why it is unfunded or ended")
    programme: str
    category: str
    category_description: str | None
    province_code: str
    regency_code: str
    district_code: str | None
    village_code: str | None
    coverage: Coverage
    channel: str
    sex: Sex
    age_band: str
    registered_at: datetime
    decided_at: datetime | None
    ended_at: datetime | None
    updated_at: datetime
    renews: str | None = Field(None, description="The previous fiscal year's registration this one renews")
    replaces: str | None = Field(None, description="The registration whose holder this one succeeds (mutasi)")
    waiting_position: int | None = Field(
        None, description="While waiting_funding: its place in its regency/city's waiting list, 1 funded first "
                          "(given when one registration is read)")
    bpjs_status: Literal["enrolled", "rejected"] | None = Field(
        None, description="BPJS Ketenagakerjaan's answer to the member file, once imported")


class Worker(BaseModel):
    nik: str
    full_name: str
    phone: str | None
    nik_district_code: str = Field(description="Where the NIK was issued (digits 1-6)")
    kpj_number: str | None = Field(None, description="The BPJS Ketenagakerjaan membership number, once BPJS has "
                                                     "enrolled the worker")


class RegistrationView(RegistrationSummary):
    """A registration as a key with registrations:read in its region sees it, personal data included."""

    worker: Worker
    replaced_by: str | None = Field(None, description="The registration that succeeds this one's holder (mutasi), "
                                                      "once it was replaced")
    device_id: str | None
    officer_id: str | None
    captured_at: datetime


class RenewalOut(BaseModel):
    region_code: str
    from_year: int
    to_year: int
    category: str | None
    start_month: str
    months: int
    dry_run: bool
    cohort: int = Field(description="Members funded and not ended in from_year (in the category, if given)")
    renewable: int = Field(description="Of them, not renewed yet: what this renewal renews")
    renewed: int = Field(description="Renewals registered now (0 in a dry run)")
    already_renewed: int
    skipped_live: int = Field(description="Not renewed: the person already has a live registration in to_year")
    member_months: int = Field(description="Member-months the renewals ask to be covered for; subsidy's "
                                           "GET /v1/budgets/{region_code}/{year}/renewal-cost prices them")


class BatchItemResult(BaseModel):
    index: int
    registration_id: str | None
    status: Literal["accepted", "duplicate", "conflict", "invalid"]
    errors: list[FieldError] | None = None
    existing_registration_id: str | None = None


class BatchResponse(BaseModel):
    results: list[BatchItemResult]
    counts: dict[str, int]


class Page(BaseModel):
    items: list[RegistrationView]
    next_cursor: str | None = Field(None, description="Pass as cursor, with the same filters, for the next page; "
                                                      "absent on the last")


class RegionItem(BaseModel):
    code: str
    name: str
    kind: str
    province_code: str | None = None


class RegionList(BaseModel):
    provinces: list[RegionItem]
    regencies: list[RegionItem]
    districts: list[RegionItem] | None = None


class KeyView(BaseModel):
    key_id: str
    name: str
    kind: str
    regions: list[str]
    scopes: list[str]
    may_read: bool = Field(description="Whether the key may read registrations back (their later status)")


class IntakeRuleView(BaseModel):
    min_age: int
    max_age: int
    programmes: list[str]
    backdate_months: int
    advance_months: int
    capture_max_age_days: int
    capture_max_skew_minutes: int
    batch_limit: int


class CategoryItem(BaseModel):
    code: str
    name_id: str
    name_en: str


class PlaceItem(BaseModel):
    code: str
    name: str


class RegencyItem(PlaceItem):
    kind: str


class ReferenceData(BaseModel):
    key: KeyView
    today: date = Field(description="The service's date (WIB), from which the intake window and ages count")
    rules: IntakeRuleView
    categories: list[CategoryItem]
    regencies: list[RegencyItem] = Field(description="The regencies/cities the key may act in")
    districts: list[PlaceItem] = Field(description="Their districts (kecamatan)")
    villages: list[PlaceItem] = Field(description="Their villages (kelurahan/desa); none for a national key")
    nik_districts: dict[str, str] = Field(description="Every known district, PP.KK.CC to its name and regency/city: "
                                                      "where a NIK may have been issued")


def _month(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def summary(record: RegistrationRecord, *, as_accepted: bool = False) -> dict[str, Any]:
    """as_accepted: the registration as it was when first accepted, so a resend gets the very body of the 201."""
    ended = not as_accepted and record.end_month is not None
    return {
        "registration_id": record.registration_id,
        "status": "pending_funding" if as_accepted else record.status,
        "status_reason": None if as_accepted else record.status_reason,
        "programme": record.programme, "category": record.category,
        "category_description": record.category_description, "province_code": record.province_code,
        "regency_code": record.regency_code, "district_code": record.district_code,
        "village_code": record.village_code,
        "coverage": {"fiscal_year": record.fiscal_year, "start_month": _month(record.fiscal_year, record.start_month),
                     "months": record.months,
                     "end_month": _month(record.fiscal_year, record.end_month)
                     if ended and record.end_month is not None else None},
        "channel": record.channel, "sex": record.sex, "age_band": record.age_band,
        "registered_at": record.registered_at,
        "decided_at": None if as_accepted else record.decided_at,
        "ended_at": None if as_accepted else record.ended_at,
        "updated_at": record.registered_at if as_accepted else record.updated_at,
        "renews": record.renews, "replaces": record.replaces,
        "bpjs_status": None if as_accepted else record.bpjs_status,
    }


def view(record: RegistrationRecord) -> dict[str, Any]:
    return summary(record) | {
        "worker": {"nik": record.nik, "full_name": record.full_name, "phone": record.phone,
                   "nik_district_code": record.nik_district_code, "kpj_number": record.kpj_number},
        "device_id": record.device_id, "officer_id": record.officer_id, "captured_at": record.captured_at,
    }


_MODE_MISMATCH = {
    "listing": "This cursor continues a listing: send it without updated_since, or start the change feed afresh.",
    "changes": "This cursor continues the change feed: send it with the same updated_since.",
}


def _cursor_check(mode: str, position: list[Any], filters: list[Any]) -> str:
    """Not a secret: it turns an edited cursor, or one sent with other filters, into a clear 422 rather than a page
    from somewhere else. The key's regions are checked on every page whatever the cursor says."""
    return hashlib.sha256(json.dumps([mode, position, filters]).encode()).hexdigest()[:16]


def _encode_cursor(record: RegistrationRecord, mode: str, filters: list[Any]) -> str:
    at: datetime = getattr(record, ordered_by(changes=mode == "changes"))
    position = [at.isoformat(), record.registration_id]
    raw = json.dumps([mode, *position, _cursor_check(mode, position, filters)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, mode: str, filters: list[Any]) -> tuple[datetime, str]:
    invalid = HttpProblem(422, "invalid_cursor", "The cursor is not one this API returned for these filters; start "
                                              "again without it.", field="cursor")
    try:
        cursor_mode, at, last_id, check = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = datetime.fromisoformat(at), str(uuid.UUID(last_id))
    except (ValueError, TypeError, AttributeError, binascii.Error):
        raise invalid from None
    other = "listing" if mode == "changes" else "changes"
    if cursor_mode == other:
        raise HttpProblem(422, "cursor_mode_mismatch", _MODE_MISMATCH[other], field="cursor")
    if check != _cursor_check(mode, [at, last_id], filters):
        raise invalid
    return position


# --- OpenAPI examples (synthetic NIKs and names) ----------------------------------------------------------------

EXAMPLE_ITEM = {
    "registration_id": "0f8e2a52-3c1d-4f7e-9a4b-5d6c7e8f9a01",
    "nik": "3672 0155 0790 0001",
    "full_name": "Siti Contoh",
    "phone": "0812-3456-7890",
    "category": "kader posyandu",
    "regency_code": "36.72",
    "district_code": "36.72.01",
    "coverage": {"start_month": "2025-03", "months": 10},
    "channel": "field_kit",
    "device_id": "kit-0042",
    "officer_id": "disnaker-cilegon-07",
    "captured_at": "2025-03-08T10:15:00+07:00",
}
EXAMPLE_OTHER = {
    "registration_id": "5b1c9d3e-7a2f-4c8b-8e6d-1a2b3c4d5e6f",
    "nik": "3271.0112.0385.0002",
    "full_name": "Budi Sampel",
    "category": "other",
    "category_description": "Juru parkir pasar",
    "regency_code": "32.71",
    "coverage": {"start_month": "2025-04", "months": 9},
    "channel": "partner_app",
    "captured_at": "2025-03-20T09:00:00+07:00",
}
_ERRORS = {"model": ErrorBody}

LISTING_MODES = """Two modes, chosen by `updated_since`:

- **Listing** (without `updated_since`), for officers who list or export a region's members: in order of
  registration, so every registration that existed when the first page was read comes exactly once, however many
  are ended or change status meanwhile. Registrations added meanwhile may be listed too, each at most once.
- **Change feed** (with `updated_since`), for clients that keep a copy in sync: registrations changed at or after
  that instant, in order of last change. A registration that changes while a client pages comes round again with
  its new state, so `updated_since` plus the cursor is a complete sync. Next time, start from the latest
  `updated_at` seen, less a minute for changes that were still being committed.

Each page has `next_cursor` until the last. A cursor belongs to its mode and filters: sent with others it gets a
422 on `cursor`."""


router = APIRouter(prefix="/v1", tags=["registrations"])

INTAKE_422 = {"model": ErrorBody, "description": "Every problem found, one entry per field and rule: the body's "
                                                 "structure, and what the reference data decides (a NIK's birth "
                                                 "date and district, the regency/city, district and village, the "
                                                 "category, the programme, the intake window)"}


@router.post(
    "/registrations", status_code=201, response_model=RegistrationSummary,
    summary="Register one worker",
    responses={
        200: {"model": RegistrationSummary, "description": "A resend of an accepted registration: the original "
                                                           "201 body, nothing stored again"},
        403: _ERRORS, 409: {"model": ErrorBody, "description": "registration_id_conflict, or "
                            "nik_already_registered with existing_registration_id"},
        422: INTAKE_422,
    },
)
async def register(
    payload: Annotated[SubmittedRegistration, Body(openapi_examples={
        "field kit": {"summary": "A Posyandu cadre registered on a field kit", "value": EXAMPLE_ITEM},
        "other": {"summary": "A category outside the list, described", "value": EXAMPLE_OTHER},
    })],
    principal: WriteKey, registrations: Store, rules: Rules, clock: ClockDep, response: Response,
) -> Any:
    result = await service.register_one(registrations, rules, principal, payload, clock.now())
    if result.outcome == "invalid":
        return error_response(422, service.field_errors(result.problems))
    if result.outcome == "conflict":
        extra = ({"existing_registration_id": result.existing_registration_id}
                 if result.existing_registration_id else None)
        return error_response(409, service.field_errors(result.problems), extra=extra)
    if result.outcome == "duplicate":
        response.status_code = 200
    assert result.accepted is not None
    return summary(result.accepted, as_accepted=True)


@router.post(
    "/registrations/batch", response_model=BatchResponse, summary="Register up to 1,000 workers",
    description="One result per item, in order: accepted, duplicate (a resend of a stored registration), "
                "conflict (registration_id_conflict, or nik_already_registered with "
                "existing_registration_id) or invalid (with errors, as a single registration's 422 lists them; an "
                "item outside the key's regions is invalid with outside_region). Never all-or-nothing: resend the "
                "whole batch when unsure.",
    responses={400: _ERRORS, 413: _ERRORS, 422: {"model": ErrorBody, "description": "No items list, or more "
                                                                                    "items than the limit"}},
)
async def register_batch(
    payload: Annotated[BatchRequest, Body(openapi_examples={
        "two items": {"summary": "A field kit's upload", "value": {"items": [EXAMPLE_ITEM, EXAMPLE_OTHER]}},
    })],
    principal: WriteKey, registrations: Store, rules: Rules, clock: ClockDep,
) -> Any:
    results = await service.register_batch(registrations, rules, principal, payload.items, clock.now())
    counts = {outcome: sum(r.outcome == outcome for r in results) for outcome in service.OUTCOMES}
    return {"results": [{"index": index, "registration_id": r.registration_id, "status": r.outcome,
                         "errors": service.field_errors(r.problems) or None,
                         "existing_registration_id": r.existing_registration_id}
                        for index, r in enumerate(results)],
            "counts": counts}


@router.get("/registrations/{registration_id}", response_model=RegistrationView, summary="One registration",
            responses={403: {"model": ErrorBody, "description": "Outside the key's regions, or unknown (a "
                                                                "regional key never learns which)"},
                       404: {"model": ErrorBody, "description": "Unknown (national keys only)"}})
async def registration(registration_id: str, principal: ReadKey, registrations: Store) -> Any:
    record = await service.visible(registrations, principal, registration_id)
    return view(record) | {"waiting_position": await registrations.waiting_position(record),
                           "replaced_by": await registrations.replaced_by(record)}


@router.get("/registrations", response_model=Page, summary="Registrations in the key's regions",
            description=LISTING_MODES,
            responses={422: {"model": ErrorBody, "description": "A bad filter (a category the reference list does "
                                                                "not know), or a cursor of the other mode "
                                                                "(cursor_mode_mismatch) or other filters"}})
async def list_registrations(
    principal: ReadKey, registrations: Store,
    region: Annotated[str | None, Query(pattern=REGION_PATTERN, description="PP or PP.KK")] = None,
    status: Annotated[RegistrationStatus | None, Query(
        description="The registration's status when its page is read")] = None,
    category: Annotated[str | None, Query(min_length=1, pattern=r"\S",
                                          description="A category code, name or alias")] = None,
    updated_since: Annotated[datetime | None, BeforeValidator(_not_a_timestamp), Query(description=(
        "Selects the change feed, for syncing clients: registrations changed at or after this ISO date-time "
        "(no offset means WIB), in order of last change; one that changes while you page comes again. Leave "
        "it out for the listing: every registration once, in order of registration."))] = None,
    cursor: Annotated[str | None, Query(description=(
        "next_cursor of the previous page, sent with the same filters. A listing's cursor is refused by the "
        "change feed and the other way round (422 on cursor)."))] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    district: Annotated[str | None, Query(pattern=r"^\d{2}\.\d{2}\.\d{2}$",
                                          description="Only this district (kecamatan), PP.KK.DD")] = None,
    village: Annotated[str | None, Query(pattern=r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$",
                                         description="Only this village (desa/kelurahan), PP.KK.DD.VVVV")] = None,
    search: Annotated[str | None, Query(min_length=2, max_length=100, pattern=r"\S", description=(
        "A whole NIK (16 digits), or part of the worker's name (any case)"))] = None,
) -> Any:
    grants = principal.province_filter()
    if region is not None and grants is not None and not any(
            region_covers(g, region) or region_covers(region, g) for g in grants):
        forbid_outside(principal, region)
    code = service.category_filter(category)
    if updated_since is not None and updated_since.tzinfo is None:
        updated_since = updated_since.replace(tzinfo=FISCAL_TZ)
    mode = "changes" if updated_since is not None else "listing"
    search = search.strip() if search else None
    filters = [region, status, code, utc(updated_since).isoformat() if updated_since else None]
    if district or village or search:  # only then, so cursors issued before these filters existed stay valid
        filters += [district, village, search]
    records = await registrations.page(grants=grants, region=region, status=status, category=code,
                                       district=district, village=village, search=search or None,
                                       updated_since=updated_since,
                                       after=_decode_cursor(cursor, mode, filters) if cursor else None,
                                       limit=limit + 1)
    more = len(records) > limit
    records = records[:limit]
    return {"items": [view(r) for r in records],
            "next_cursor": _encode_cursor(records[-1], mode, filters) if more else None}


class RegistrationRef(BaseModel):
    """What a bill line is matched on: a registration's id, place, status and dates, without the person."""

    registration_id: str
    regency_code: str
    province_code: str
    status: RegistrationStatus
    decided_at: datetime | None
    registered_at: datetime


class LookupOut(BaseModel):
    by_nik: dict[str, list[RegistrationRef]]
    by_kpj_number: dict[str, list[RegistrationRef]]


def _refs(found: dict[str, list[RegistrationRecord]]) -> dict[str, list[RegistrationRef]]:
    return {key: [RegistrationRef(registration_id=r.registration_id, regency_code=r.regency_code,
                                  province_code=r.province_code, status=r.status, decided_at=r.decided_at,
                                  registered_at=r.registered_at) for r in records]
            for key, records in found.items()}


@router.post("/registrations/lookup", response_model=LookupOut,
             summary="Find the registrations of a fiscal year by NIK and by KPJ number",
             description="For matching BPJS's per-member bill: each NIK and KPJ number sent that has registrations "
                         "of the fiscal year in the key's regions, with their ids, places, statuses and dates, and "
                         "nothing else of the person. Unknown or malformed values are simply not in the answer.",
             responses={403: _ERRORS, 422: _ERRORS})
async def lookup(body: LookupRequest, principal: ReadKey, registrations: Store) -> Any:
    by_nik, by_kpj = await service.lookup(registrations, principal, body.fiscal_year, body.niks, body.kpj_numbers)
    return LookupOut(by_nik=_refs(by_nik), by_kpj_number=_refs(by_kpj))


@router.post("/registrations/{registration_id}/end", response_model=RegistrationSummary,
             summary="End a registration's coverage",
             description="Publishes worker.ended; the months after end_month are released. Resending the same "
                         "end is answered with the ended registration.",
             responses={403: _ERRORS, 404: _ERRORS, 409: {"model": ErrorBody, "description": "Not live: unfunded, "
                                                                                           "or ended otherwise"},
                        422: {"model": ErrorBody, "description": "A bad body, or an end_month outside the "
                                                                 "registration's coverage"}})
async def end(registration_id: str, body: EndRequest, principal: WriteKey, registrations: Store,
              clock: ClockDep) -> Any:
    ended = await service.end(registrations, principal, registration_id, body.reason, body.end_month, clock.now())
    return summary(ended)


@router.post("/registrations/{registration_id}/replace", status_code=201, response_model=RegistrationSummary,
             summary="Replace a member by a successor (mutasi)",
             description="Ends the holder (reason `replaced`, the months after end_month released) and registers the "
                         "successor in the same regency/city and category for the holder's remaining months of that "
                         "fiscal year, in one transaction: both or neither. The released months fund the successor "
                         "first, ahead of the waiting list. Resending the same replacement answers 200 with the "
                         "successor.",
             responses={200: {"model": RegistrationSummary, "description": "A resend: the successor"},
                        403: _ERRORS, 404: _ERRORS,
                        409: {"model": ErrorBody, "description": "The holder is not live, or the successor's "
                                                                 "registration_id or NIK conflicts"},
                        422: {"model": ErrorBody, "description": "Every problem of the successor (fields under "
                                                                 "`successor.`), or no month left to hand over"}})
async def replace(registration_id: str, body: ReplaceRequest, principal: WriteKey, registrations: Store,
                  rules: Rules, clock: ClockDep, response: Response) -> Any:
    successor, created = await service.replace(registrations, rules, principal, registration_id, body.successor,
                                               body.end_month, clock.now())
    if not created:
        response.status_code = 200
    return summary(successor)


@router.post("/renewals", response_model=RenewalOut, tags=["renewals"],
             summary="Renew a region's members into the next fiscal year",
             description="Every member of the region (and category) funded and not ended in from_year gets a "
                         "registration in to_year, linked to the one it renews, that passes to_year's funding gate "
                         "and waiting list like any other; before to_year has a budget, renewals wait for it. "
                         "Idempotent: nobody is renewed twice. `dry_run` only counts.",
             responses={403: _ERRORS, 422: {"model": ErrorBody, "description": "A bad body, an unknown region or "
                                                                               "category, or to_year not the next "
                                                                               "year"}})
async def renew(body: RenewalRequest, principal: AdminKey, registrations: Store, clock: ClockDep) -> Any:
    result = await service.renew(registrations, principal, body.region_code, body.from_year, body.to_year,
                                 body.category, body.start_month, body.months, body.dry_run, clock.now())
    return {"region_code": body.region_code, "from_year": body.from_year, "to_year": body.to_year,
            "category": body.category, "start_month": _month(body.to_year, body.start_month), "months": body.months,
            "dry_run": result.dry_run, "cohort": result.cohort, "renewable": result.renewable,
            "renewed": result.renewed, "already_renewed": result.already_renewed,
            "skipped_live": result.skipped_live, "member_months": result.member_months}


@router.get("/regions", response_model=RegionList, response_model_exclude_none=True, tags=["reference"],
            summary="Provinces and regencies/cities with their codes; optionally one regency's districts",
            responses={401: _ERRORS, 403: _ERRORS, 404: {"model": ErrorBody, "description": "Unknown province or "
                                                                                          "regency/city"},
                       429: _ERRORS})
async def region_list(
    principal: AnyKey,
    province: Annotated[str | None, Query(pattern=PROVINCE_PATTERN, description="Only this province")] = None,
    districts_of: Annotated[str | None, Query(pattern=REGENCY_PATTERN,
                                              description="Also list this regency/city's districts")] = None,
) -> Any:
    provinces = [p for p in regions.provinces() if province in (None, p.code)]
    if province is not None and not provinces:
        raise HttpProblem(404, "unknown_province", "No province has this code.", field="province")
    result: dict[str, Any] = {
        "provinces": [{"code": p.code, "name": p.name, "kind": p.kind} for p in provinces],
        "regencies": [{"code": r.code, "name": r.name, "kind": r.kind, "province_code": r.province_code}
                      for r in regions.regencies() if province in (None, r.province_code)],
    }
    if districts_of is not None:
        if not regions.is_regency(districts_of):
            raise HttpProblem(404, "unknown_regency", "No regency/city has this code.", field="districts_of")
        result["districts"] = [{"code": c, "name": regions.district_name(c) or "", "kind": "kecamatan",
                                "province_code": districts_of[:2]} for c in regions.districts_of(districts_of)]
    return result


@router.get("/reference", response_model=ReferenceData, tags=["reference"],
            summary="What a field kit needs to check a registration offline",
            description="The key's regencies/cities with their districts and villages, every district a NIK may "
                        "name, the categories, and the intake rules with the service's date. The field kit at "
                        "/kit/ caches it, so its checks match the service's while it has no signal.",
            responses={401: _ERRORS, 403: _ERRORS, 429: _ERRORS})
async def reference(request: Request, principal: AnyKey, rules: Rules, clock: ClockDep) -> Any:
    body = ReferenceData.model_validate(service.reference_for(principal, rules, clock.today())).model_dump_json()
    # About 350 kB of JSON (the nation's districts for the NIK check), 60 kB gzipped, fetched by phones on weak
    # signal; the other answers stay uncompressed, as the intake's throughput was measured.
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(gzip.compress(body.encode(), compresslevel=6), media_type="application/json",
                        headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(body, media_type="application/json", headers={"Vary": "Accept-Encoding"})


# --- the BPJS Ketenagakerjaan exchange ----------------------------------------------------------------------------

class ResultMismatchOut(BaseModel):
    row: int = Field(description="The row's number in the file, as Excel shows it")
    code: str
    message: str


class ResultImportOut(BaseModel):
    import_id: int
    region_code: str
    fiscal_year: int
    rows: int
    enrolled: int = Field(description="Registrations that got their KPJ number now")
    rejected: int = Field(description="Members ended now with reason rejected_by_bpjs, every month released")
    unchanged: int = Field(description="Rows already applied (a file imported again changes nothing)")
    mismatched: int
    rejections: dict[str, int] = Field(description="Rejections applied now by category of reason")
    mismatches: list[ResultMismatchOut] = Field(description="Rows not applied: unknown NIK, another region, a "
                                                            "different KPJ already recorded, a NIK stored as a "
                                                            "number, ... (row number and code only)")
    report: str | None = Field(None, description="Where to download the mismatches as CSV or XLSX")


class DownloadOut(BaseModel):
    key_id: str
    key_name: str
    format: str
    rows: int
    downloaded_at: datetime


class DownloadsOut(BaseModel):
    region_code: str
    fiscal_year: int
    month: int
    downloads: list[DownloadOut]


class BpjsSummaryOut(BaseModel):
    region_code: str
    fiscal_year: int
    funded: int = Field(description="Members funded in the year (active, or ended after being funded)")
    enrolled: int = Field(description="Of them, enrolled by BPJS with a KPJ number")
    rejected: int = Field(description="Rejected by BPJS (ended, rejected_by_bpjs)")
    unanswered: int = Field(description="Not answered by BPJS yet")
    rejections: dict[str, int] = Field(description="Rejections by category of reason: wage_earner, "
                                                   "already_member, data_mismatch, deceased, other")


def get_mapping(request: Request) -> Any:
    return request.app.state.bpjs_mapping


bpjs_router = APIRouter(prefix="/v1/bpjs", tags=["bpjs"])
FileFormat = Literal["xlsx", "csv"]
YearQuery = Annotated[int, Query(ge=2000, le=2100, description="Fiscal year")]
_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {service.MEDIA_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
                      "text/csv": {"schema": {"type": "string"}}}},
    403: _ERRORS, 404: _ERRORS, 422: _ERRORS}


@bpjs_router.get("/member-file", summary="The month's member file for BPJS Ketenagakerjaan (personal data)",
                 description="New, renewed, replacing and ended members of the region in the month, with what BPJS "
                             "needs to enrol a BPU member, in the columns and headers of the mapping file (Bahasa "
                             "Indonesia by default). Only an admin key for the region; every download is recorded "
                             "(who, when, region, month, rows).",
                 response_class=Response, responses=_FILE_RESPONSES)
async def member_file(principal: AdminKey, registrations: Store, clock: ClockDep, request: Request,
                      region: Annotated[str, Query(pattern=REGION_PATTERN, description="PP.KK or PP")],
                      year: YearQuery, month: Annotated[int, Query(ge=1, le=12)],
                      format: FileFormat = "xlsx") -> Response:
    made = await service.member_file(registrations, principal, get_mapping(request), region, year, month, format,
                                     clock.now())
    return Response(made.content, media_type=made.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{made.filename}"',
                             "X-Row-Count": str(made.rows), "Cache-Control": "no-store"})


@bpjs_router.get("/member-file/downloads", response_model=DownloadsOut,
                 summary="Who downloaded a region's member file for a month, and when",
                 responses={403: _ERRORS, 422: _ERRORS})
async def member_file_downloads(principal: AdminKey, registrations: Store,
                                region: Annotated[str, Query(pattern=REGION_PATTERN)], year: YearQuery,
                                month: Annotated[int, Query(ge=1, le=12)]) -> Any:
    if regions.region(region) is None:
        raise HttpProblem(422, "unknown_region", "No province or regency/city has this code.", field="region")
    forbid_outside(principal, region)
    return {"region_code": region, "fiscal_year": year, "month": month,
            "downloads": await registrations.downloads(region, year, month)}


@bpjs_router.post("/results", response_model=ResultImportOut,
                  summary="Import BPJS's result file: KPJ numbers and rejections",
                  description="The body is the file itself, sent as text/csv or as the XLSX media type, with "
                              "columns NIK, KPJ, Status "
                              "(terdaftar/enrolled or ditolak/rejected) and Alasan, found below any title rows as the "
                              "bulk import finds them. Enrolled members get their KPJ number; rejected ones are "
                              "ended (rejected_by_bpjs) and their months released to the budget, which funds the "
                              "waiting list. Rows that do not match are reported, never applied; importing the "
                              "same file again changes nothing.",
                  openapi_extra={"requestBody": {"required": True, "content": {
                      "text/csv": {"schema": {"type": "string"}},
                      service.MEDIA_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}}}}},
                  responses={403: _ERRORS, 413: _ERRORS, 422: _ERRORS})
async def import_results(request: Request, principal: AdminKey, registrations: Store, clock: ClockDep,
                         region: Annotated[str, Query(pattern=REGION_PATTERN, description="PP.KK or PP")],
                         year: YearQuery) -> Any:
    raw = await request.body()
    fmt = "xlsx" if request.headers.get("content-type", "").startswith(service.MEDIA_TYPES["xlsx"]) else "csv"
    done = await service.import_results(registrations, principal, region, year, raw, f"hasil.{fmt}", clock.now())
    return {"import_id": done.import_id, "region_code": region, "fiscal_year": year, "rows": done.rows,
            "enrolled": done.enrolled, "rejected": done.rejected, "unchanged": done.unchanged,
            "mismatched": len(done.mismatches), "rejections": done.rejections,
            "mismatches": [vars(m) for m in done.mismatches],
            "report": f"/v1/bpjs/results/{done.import_id}/mismatches" if done.mismatches else None}


@bpjs_router.get("/results/{import_id}/mismatches", summary="An import's rows that were not applied, as a file",
                 response_class=Response, responses=_FILE_RESPONSES)
async def result_mismatches(import_id: Annotated[int, PathParam(ge=1, le=2**62)], principal: AdminKey,
                            registrations: Store, format: FileFormat = "xlsx") -> Response:
    made = await service.result_report(registrations, principal, import_id, format)
    return Response(made.content, media_type=made.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{made.filename}"'})


@bpjs_router.get("/summary", response_model=BpjsSummaryOut,
                 summary="Where BPJS's answers stand for a region's year (counts, no personal data)",
                 responses={403: _ERRORS, 422: _ERRORS})
async def bpjs_summary(principal: ReadKey, registrations: Store,
                       region: Annotated[str, Query(pattern=REGION_PATTERN, description="PP.KK or PP")],
                       year: YearQuery) -> Any:
    found = await service.bpjs_summary(registrations, principal, region, year)
    return {"region_code": region, "fiscal_year": year} | vars(found)
