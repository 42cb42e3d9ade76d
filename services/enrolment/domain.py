"""The intake rules that need reference data or the clock (the NIK's birth date and district, places, categories,
programmes, the intake window), how duplicates are told apart, and what the events say. The request models
(contract.py) check structure and types first. Pure rules: no database, no broker, no clock of its own (callers
pass "now")."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, Literal, cast

from lokal import parse_nik, parse_phone

from shared import regions
from shared.categories import category_code
from shared.clock import FISCAL_TZ
from shared.events import (
    AgeBand,
    Envelope,
    WorkerEnded,
    WorkerEndedV2,
    WorkerRegistered,
    WorkerRegisteredV2,
    age_band,
    new_event,
)
from shared.settings import Settings
from shared.vocabulary import (
    DEFAULT_PROGRAMME,
    END_REASONS,
    ENROLLED_WORDS,
    LAST_MONTH,
    REJECTED_WORDS,
    BpjsStatus,
    Channel,
    EndedReason,
    EndReason,
    RegistrationStatus,
    Sex,
)

SOURCE = "/paritrana/enrolment"


@dataclass(frozen=True)
class Problem:
    """One problem of a submitted item: the field (a dotted path), a code, and a message that names the rule, never
    the submitted value."""

    field: str | None
    code: str
    message: str


@dataclass(frozen=True)
class IntakeRules:
    worker_ref_key: str
    min_age: int = 18
    max_age: int = 65
    programmes: tuple[str, ...] = (DEFAULT_PROGRAMME,)
    backdate_months: int = 2
    advance_months: int = 3
    capture_max_age: timedelta = timedelta(days=120)
    capture_max_skew: timedelta = timedelta(minutes=60)
    batch_limit: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeRules:
        return cls(
            worker_ref_key=settings.worker_ref_key,
            min_age=settings.enrolment_min_age,
            max_age=settings.enrolment_max_age,
            programmes=tuple(p.strip().lower() for p in settings.enrolment_programmes),
            backdate_months=settings.enrolment_backdate_months,
            advance_months=settings.enrolment_advance_months,
            capture_max_age=timedelta(days=settings.enrolment_capture_max_age_days),
            capture_max_skew=timedelta(minutes=settings.enrolment_capture_max_skew_minutes),
            batch_limit=settings.enrolment_batch_limit,
        )


@dataclass(frozen=True)
class ValidIntake:
    """A registration that passed the contract and the rules, normalised, plus what the NIK says (sex, birth date,
    place of issue): what is stored and published."""

    registration_id: str
    nik: str
    full_name: str
    phone: str | None
    category: str
    category_description: str | None
    regency_code: str
    district_code: str | None
    village_code: str | None
    programme: str
    fiscal_year: int
    start_month: int
    months: int
    channel: Channel
    device_id: str | None
    officer_id: str | None
    captured_at: datetime
    # Derived, never submitted:
    worker_ref: str
    sex: Sex
    birth_date: date
    age_band: AgeBand
    nik_district_code: str

    @property
    def province_code(self) -> str:
        return regions.province_of(self.regency_code)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the submitted content after normalisation: a resend is "the same" exactly when this matches.
        Normalised text holds no control characters, so neither the separator nor the None marker can occur."""
        content = (
            self.registration_id, self.nik, self.full_name, self.phone, self.category, self.category_description,
            self.regency_code, self.district_code, self.village_code, self.programme, self.fiscal_year,
            self.start_month, self.months, self.channel, self.device_id, self.officer_id,
            self.captured_at.isoformat(),
        )
        return hashlib.sha256("\x1f".join("\x00" if v is None else str(v) for v in content).encode()).hexdigest()

    def record(self, key_id: str, registered_at: datetime, replaces: str | None = None) -> RegistrationRecord:
        """The registration as stored when it is accepted: pending its funding decision."""
        return RegistrationRecord(
            registration_id=self.registration_id, nik=self.nik, worker_ref=self.worker_ref,
            full_name=self.full_name, phone=self.phone, sex=self.sex, birth_date=self.birth_date,
            age_band=self.age_band, nik_district_code=self.nik_district_code, category=self.category,
            category_description=self.category_description, province_code=self.province_code,
            regency_code=self.regency_code, district_code=self.district_code, village_code=self.village_code,
            programme=self.programme, fiscal_year=self.fiscal_year, start_month=self.start_month,
            months=self.months, channel=self.channel, device_id=self.device_id, officer_id=self.officer_id,
            captured_at=self.captured_at, key_id=key_id, status="pending_funding", status_reason=None,
            decided_at=None, end_month=None, ended_at=None, registered_at=registered_at, updated_at=registered_at,
            replaces=replaces,
        )

    def row(self, key_id: str, registered_at: datetime, replaces: str | None = None) -> dict[str, Any]:
        # The record's own fields, not `asdict`: that deep-copies every value, a cost per row that showed in the
        # batch intake's profile.
        return vars(self.record(key_id, registered_at, replaces)) | {"content_sha256": self.fingerprint}


def worker_ref(key: str, nik: str) -> str:
    """The pseudonym events carry instead of the NIK; without the key it cannot be reversed or recomputed."""
    return hmac.new(key.encode(), nik.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class RegistrationRecord:
    """A stored registration as read back, personal data included. Timestamps are UTC."""

    registration_id: str
    nik: str
    worker_ref: str
    full_name: str
    phone: str | None
    sex: Sex
    birth_date: date
    age_band: AgeBand
    nik_district_code: str
    category: str
    category_description: str | None
    province_code: str
    regency_code: str
    district_code: str | None
    village_code: str | None
    programme: str
    fiscal_year: int
    start_month: int
    months: int
    channel: Channel
    device_id: str | None
    officer_id: str | None
    captured_at: datetime
    key_id: str
    status: RegistrationStatus
    status_reason: str | None
    decided_at: datetime | None
    end_month: int | None
    ended_at: datetime | None
    registered_at: datetime
    updated_at: datetime
    renews: str | None = None  # the previous fiscal year's registration this one renews
    replaces: str | None = None  # the holder this one succeeds (mutasi)
    waiting_arrival: int | None = None  # its place in arrival order on subsidy's waiting list
    # BPJS Ketenagakerjaan's answer to the member file: the membership number (KPJ, personal data) or a rejection.
    kpj_number: str | None = None
    bpjs_status: BpjsStatus | None = None
    bpjs_reason: str | None = None
    bpjs_rejection: str | None = None  # the rejection reason's category: no personal data, counted


def registered_event(record: RegistrationRecord) -> Envelope[WorkerRegistered]:
    """worker.registered for a stored registration: v2 when it renews or replaces another, so v1 consumers keep
    reading every plain registration."""
    fields: dict[str, Any] = dict(
        registration_id=uuid.UUID(record.registration_id), worker_ref=record.worker_ref,
        province_code=record.province_code, regency_code=record.regency_code, category=record.category, sex=record.sex,
        age_band=record.age_band, programme=record.programme, district_code=record.district_code,
        village_code=record.village_code, fiscal_year=record.fiscal_year, start_month=record.start_month,
        months=record.months, channel=record.channel, captured_at=record.captured_at,
        registered_at=record.registered_at)
    data = WorkerRegisteredV2(**fields, renews=uuid.UUID(record.renews) if record.renews else None,
                              replaces=uuid.UUID(record.replaces) if record.replaces else None) \
        if record.renews or record.replaces else WorkerRegistered(**fields)
    return new_event(data, source=SOURCE, subject=record.registration_id, time=record.registered_at)


def ended_event(record: RegistrationRecord, reason: EndedReason, end_month: int,
                ended_at: datetime) -> Envelope[WorkerEnded]:
    fields: dict[str, Any] = dict(
        registration_id=uuid.UUID(record.registration_id), worker_ref=record.worker_ref,
        province_code=record.province_code, regency_code=record.regency_code, category=record.category,
        sex=record.sex, age_band=record.age_band, programme=record.programme, fiscal_year=record.fiscal_year,
        end_month=end_month, ended_at=ended_at,
    )
    # v1 carries the reasons an office may ask for; the others (replaced, rejected_by_bpjs) need v2.
    data = WorkerEnded(**fields, reason=cast(EndReason, reason)) if reason in END_REASONS \
        else WorkerEndedV2(**fields, reason=reason)
    return new_event(data, source=SOURCE, subject=record.registration_id, time=ended_at)


# --- renewal and replacement -------------------------------------------------------------------------------------

RENEWAL_NAMESPACE = uuid.UUID("0f1c5e56-7d0e-4b43-9b1f-2f6a4c9e8d21")


def renewal_id(registration_id: str, fiscal_year: int) -> str:
    """A renewal's id follows from what it renews and the year, so renewing a cohort again renews nobody twice."""
    return str(uuid.uuid5(RENEWAL_NAMESPACE, f"{registration_id}:{fiscal_year}"))


def renewal_of(record: RegistrationRecord, fiscal_year: int, start_month: int, months: int, key_id: str,
               now: datetime) -> dict[str, Any]:
    """The stored row of a member's renewal: the same person and place, next year's coverage, pending funding."""
    renewal = replace(record, registration_id=renewal_id(record.registration_id, fiscal_year), fiscal_year=fiscal_year,
                      start_month=start_month, months=months, key_id=key_id, status="pending_funding",
                      status_reason=None, decided_at=None, end_month=None, ended_at=None, registered_at=now,
                      updated_at=now, renews=record.registration_id, replaces=None, waiting_arrival=None,
                      bpjs_status=None, bpjs_reason=None, bpjs_rejection=None)
    fingerprint = hashlib.sha256(f"renewal\x1f{renewal.registration_id}".encode()).hexdigest()
    return vars(renewal) | {"content_sha256": fingerprint}


def remaining_months(record: RegistrationRecord, end_month: int) -> tuple[int, int] | None:
    """(start month, months) a successor covers after a holder's last month: the rest of the holder's coverage in
    its fiscal year, or None when nothing is left."""
    last = min(LAST_MONTH, record.start_month + record.months - 1)
    if end_month >= last:
        return None
    return end_month + 1, last - end_month


def month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class IntakeForm:
    """A submitted registration as the contract read it, normalised: each field is None where it was absent or the
    contract refused it. `complete` says the contract found no problem, so the rules may admit it."""

    complete: bool
    registration_id: str | None = None
    nik: str | None = None  # 16 digits
    full_name: str | None = None
    phone: str | None = None
    category: str | None = None
    category_description: str | None = None
    regency_code: str | None = None  # PP.KK
    district_code: str | None = None
    village_code: str | None = None
    programme: str | None = None
    start_month: str | None = None  # YYYY-MM
    months: int | None = None  # 1-12
    channel: Channel | None = None
    device_id: str | None = None
    officer_id: str | None = None
    captured_at: datetime | None = None  # UTC


def judge_intake(form: IntakeForm, rules: IntakeRules,
                 now: datetime) -> tuple[ValidIntake | None, list[Problem]]:
    """Check every rule on what the contract read; the intake, or every problem found."""
    problems: list[Problem] = []
    today = now.astimezone(FISCAL_TZ).date()
    nik_info = _nik(form.nik, problems, today, rules) if form.nik is not None else None
    phone = _phone(form.phone, problems)
    category = _category(form, problems)
    regency, district, village = _place(form, problems)
    programme = _programme(form.programme, problems, rules)
    coverage = _coverage(form, problems, rules, today)
    captured_at = _captured_at(form.captured_at, problems, rules, now)
    if problems or not form.complete:
        return None, problems
    assert nik_info is not None and coverage is not None and captured_at is not None
    assert form.registration_id and form.nik and form.full_name and category and regency and programme
    assert form.channel is not None
    nik, sex, birth, band, nik_district = nik_info
    return ValidIntake(
        registration_id=form.registration_id, nik=nik, full_name=form.full_name, phone=phone, category=category,
        category_description=form.category_description, regency_code=regency, district_code=district,
        village_code=village, programme=programme, fiscal_year=coverage[0], start_month=coverage[1],
        months=coverage[2], channel=form.channel, device_id=form.device_id, officer_id=form.officer_id,
        captured_at=captured_at, worker_ref=worker_ref(rules.worker_ref_key, nik), sex=sex, birth_date=birth,
        age_band=band, nik_district_code=nik_district,
    ), []


def _nik(digits: str, problems: list[Problem], today: date,
         rules: IntakeRules) -> tuple[str, Sex, date, AgeBand, str] | None:
    info = parse_nik(digits, reference_date=today)
    issues = {issue.code for issue in info.errors}
    before = len(problems)
    if issues & {"province", "wilayah"} or regions.district_name(info.district_code or "") is None:
        problems.append(Problem("nik", "nik_unknown_district",
                                "The NIK's first six digits are not a known district (kecamatan)."))
    birth = date.fromisoformat(info.birth_date) if info.birth_date else None
    if birth is None or birth > today:
        problems.append(Problem("nik", "nik_birth_date",
                                "The NIK's birth-date digits (7-12, day plus 40 for women) are not a real date."))
    if "serial" in issues:
        problems.append(Problem("nik", "nik_serial", "The NIK's serial number (digits 13-16) cannot be 0000."))
    if birth is not None and birth <= today:
        age = age_on(birth, today)
        if not rules.min_age <= age <= rules.max_age:
            problems.append(Problem("nik", "age_out_of_range",
                                    f"The worker must be {rules.min_age} to {rules.max_age} years old for this "
                                    "programme."))
    if len(problems) > before or birth is None or info.gender not in ("L", "P"):
        return None
    sex: Sex = "P" if info.gender == "P" else "L"
    return digits, sex, birth, age_band(age_on(birth, today)), info.district_code or ""


def _phone(value: str | None, problems: list[Problem]) -> str | None:
    if value is None:
        return None
    parsed = parse_phone(value)
    if not parsed.valid or parsed.e164 is None:
        problems.append(Problem("phone", "invalid_phone",
                                "The phone number is not a valid Indonesian number (0812…, +62812…)."))
        return None
    return parsed.e164


def _category(form: IntakeForm, problems: list[Problem]) -> str | None:
    if form.category is None:
        return None
    code = category_code(form.category)
    if code is None:
        problems.append(Problem("category", "unknown_category",
                                "The category is not a known worker category; see the API docs."))
    elif code == "other" and form.category_description is None:
        problems.append(Problem("category_description", "missing",
                                "A category description is required when the category is other."))
    return code


def _place(form: IntakeForm, problems: list[Problem]) -> tuple[str | None, str | None, str | None]:
    regency, district, village = form.regency_code, form.district_code, form.village_code
    if regency is not None and not regions.is_regency(regency):
        problems.append(Problem("regency_code", "unknown_regency", "The regency/city code must be a known PP.KK code."))
        regency = None
    if district is not None:
        if regions.district_name(district) is None:
            problems.append(Problem("district_code", "unknown_district",
                                    "The district code must be a known PP.KK.CC code."))
            district = None
        elif regency is not None and not district.startswith(regency + "."):
            problems.append(Problem("district_code", "district_outside_regency",
                                    "The district is not in the given regency/city."))
            district = None
    if village is not None:
        if regions.village_name(village) is None:
            problems.append(Problem("village_code", "unknown_village",
                                    "The village code must be a known PP.KK.CC.DDDD code."))
            village = None
        elif regency is not None and not village.startswith(regency + "."):
            problems.append(Problem("village_code", "village_outside_regency",
                                    "The village is not in the given regency/city."))
            village = None
        elif district is not None and not village.startswith(district + "."):
            problems.append(Problem("village_code", "village_outside_district",
                                    "The village is not in the given district."))
            village = None
        elif form.district_code is None:
            # A village code names its district too.
            district = village[:8]
    return regency, district, village


def _programme(programme: str | None, problems: list[Problem], rules: IntakeRules) -> str | None:
    if programme is not None and programme not in rules.programmes:
        problems.append(Problem("programme", "unknown_programme",
                                f"The programme must be one of: {', '.join(rules.programmes)}."))
        return None
    return programme


def _coverage(form: IntakeForm, problems: list[Problem], rules: IntakeRules,
              today: date) -> tuple[int, int, int] | None:
    year = month = None
    if form.start_month is not None:
        year, month = int(form.start_month[:4]), int(form.start_month[5:7])
        current = month_index(today.year, today.month)
        if month_index(year, month) < current - rules.backdate_months:
            problems.append(Problem("coverage.start_month", "start_month_too_early",
                                    f"Coverage may start at most {rules.backdate_months} months before the current "
                                    "month."))
            year = None
        elif month_index(year, month) > current + rules.advance_months:
            problems.append(Problem("coverage.start_month", "start_month_too_late",
                                    f"Coverage may start at most {rules.advance_months} months after the current "
                                    "month."))
            year = None
    if form.months is None or month is None:
        return None
    left = 13 - month
    if form.months > left:
        problems.append(Problem("coverage.months", "months_out_of_range",
                                f"Coverage must be 1 to {left} months: the months left in the fiscal year from the "
                                "start month."))
        return None
    if year is None:
        return None
    return year, month, form.months


def _captured_at(captured: datetime | None, problems: list[Problem], rules: IntakeRules,
                 now: datetime) -> datetime | None:
    if captured is None:
        return None
    if captured > now + rules.capture_max_skew:
        problems.append(Problem("captured_at", "captured_in_future",
                                "The capture time is in the future; check the device clock."))
        return None
    if captured < now - rules.capture_max_age:
        problems.append(Problem("captured_at", "captured_too_long_ago",
                                f"The capture time is more than {rules.capture_max_age.days} days ago; check the "
                                "device clock."))
        return None
    return captured


# --- duplicates -------------------------------------------------------------------------------------------------

Verdict = Literal["accepted", "duplicate", "conflict"]


@dataclass
class IntakeVerdict:
    """What became of one intake next to the registrations already stored: accepted, a duplicate (a resend of a
    stored one) or a conflict, with the problem that names it."""

    verdict: Verdict
    code: str | None = None
    existing_registration_id: str | None = None
    problems: list[Problem] = field(default_factory=list)


def id_conflict() -> IntakeVerdict:
    return IntakeVerdict("conflict", "registration_id_conflict", problems=[Problem(
        "registration_id", "registration_id_conflict",
        "This registration id was already used for a registration with different content.")])


def nik_conflict(existing: str) -> IntakeVerdict:
    return IntakeVerdict("conflict", "nik_already_registered", existing, [Problem(
        "nik", "nik_already_registered",
        "This NIK already has a live registration in this programme and fiscal year.")])


LiveKey = tuple[str, str, int]  # (nik, programme, fiscal_year)


def judge_arrivals(intakes: list[ValidIntake], stored: dict[str, str],
                   live: dict[LiveKey, str]) -> list[IntakeVerdict]:
    """In submission order: a known id with the same content is a duplicate, with other content a conflict; a NIK
    with a live registration in the programme and fiscal year is a conflict naming it; the rest are accepted.
    `stored` maps registration ids to content fingerprints and `live` (nik, programme, fiscal_year) to the live
    registration's id; both grow as items are accepted, so a batch is judged as if its items had arrived one by
    one."""
    stored, live = dict(stored), dict(live)
    verdicts = []
    for c in intakes:
        key = (c.nik, c.programme, c.fiscal_year)
        if c.registration_id in stored:
            verdict = IntakeVerdict("duplicate") if stored[c.registration_id] == c.fingerprint else id_conflict()
        elif key in live:
            verdict = nik_conflict(live[key])
        else:
            verdict = IntakeVerdict("accepted")
            stored[c.registration_id] = c.fingerprint
            live[key] = c.registration_id
        verdicts.append(verdict)
    return verdicts


# --- ending -----------------------------------------------------------------------------------------------------

def end_month_for(requested: str | None, fiscal_year: int, start_month: int, months: int,
                  today: date) -> tuple[int | None, list[Problem]]:
    """The last month still covered. Without a request it is the current month, held inside the coverage period
    (so ending before coverage started keeps its first month, and after it ran out, its last). `requested` is
    YYYY-MM, as the request model checked it."""
    last = start_month + months - 1
    if requested is None:
        if today.year != fiscal_year:
            return (start_month if today.year < fiscal_year else last), []
        return min(max(today.month, start_month), last), []
    year, month = int(requested[:4]), int(requested[5:7])
    if year != fiscal_year or not start_month <= month <= last:
        return None, [Problem("end_month", "end_month_outside_coverage",
                              "The end month must fall within the registration's coverage period.")]
    return month, []


# --- the BPJS Ketenagakerjaan exchange ----------------------------------------------------------------------------

MemberChange = Literal["new", "renewed", "replaced", "ended"]
MEMBER_FIELDS = ("change", "nik", "full_name", "birth_place", "birth_date", "sex", "province", "regency", "district",
                 "village", "occupation", "phone", "programme", "coverage_start", "coverage_end", "months",
                 "premium_rupiah", "total_rupiah", "kpj_number", "registration_id")


class BadMapping(ValueError):
    """The member file's mapping is not usable; the message names what is wrong."""


@dataclass(frozen=True)
class MemberFileMapping:
    """The member file's columns (field, header) in order, and what changes, sexes and programmes are called."""

    sheet: str
    columns: tuple[tuple[str, str], ...]
    changes: dict[str, str]
    sexes: dict[str, str]
    programmes: dict[str, tuple[str, int]]  # code -> (name, monthly premium in rupiah)

    @classmethod
    def parse(cls, raw: Any) -> MemberFileMapping:
        if not isinstance(raw, dict) or not isinstance(raw.get("columns"), list) or not raw["columns"]:
            raise BadMapping("the mapping needs a list of columns")
        columns = []
        for column in raw["columns"]:
            if not isinstance(column, dict) or column.get("field") not in MEMBER_FIELDS or not column.get("header"):
                raise BadMapping(f"each column needs a header and a field among {', '.join(MEMBER_FIELDS)}")
            columns.append((str(column["field"]), str(column["header"])))
        changes = {str(k): str(v) for k, v in (raw.get("changes") or {}).items()}
        programmes = {str(code): (str(p.get("name", code)), int(p.get("premium_rupiah", 0)))
                      for code, p in (raw.get("programmes") or {}).items()}
        return cls(str(raw.get("sheet") or "Peserta"), tuple(columns), changes,
                   {str(k): str(v) for k, v in (raw.get("sexes") or {}).items()}, programmes)

    @property
    def headers(self) -> list[str]:
        return [header for _, header in self.columns]


@dataclass(frozen=True)
class MemberChangeRow:
    change: MemberChange
    record: RegistrationRecord


def member_changes(records: list[RegistrationRecord], month: int) -> list[MemberChangeRow]:
    """A month's changes for BPJS among a region's registrations of the year: members whose funded coverage starts in
    the month (new, renewed, or replacing a holder) and members ended with the month as their last covered one.
    Never-funded registrations, and members BPJS itself rejected, are not BPJS's business."""
    starts, ends = [], []
    for r in records:
        funded = r.decided_at is not None and r.status in ("active", "ended")
        if not funded or r.bpjs_status == "rejected" or r.status_reason == "rejected_by_bpjs":
            continue
        if r.start_month == month:
            kind: MemberChange = "renewed" if r.renews else "replaced" if r.replaces else "new"
            starts.append(MemberChangeRow(kind, r))
        if r.status == "ended" and r.end_month == month:
            ends.append(MemberChangeRow("ended", r))
    order = {"new": 0, "renewed": 1, "replaced": 2, "ended": 3}
    return sorted(starts + ends, key=lambda c: (order[c.change], c.record.registered_at, c.record.registration_id))


def _ym(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def member_row(change: MemberChangeRow, mapping: MemberFileMapping) -> list[Any]:
    """One line of the member file, in the mapping's columns. Text stays text: a NIK is never a number."""
    r = change.record
    programme, premium = mapping.programmes.get(r.programme, (r.programme, 0))
    last = r.end_month if change.change == "ended" and r.end_month is not None \
        else min(LAST_MONTH, r.start_month + r.months - 1)
    months = max(0, last - r.start_month + 1)
    regency = regions.region(r.regency_code)
    province = regions.region(r.province_code)
    values: dict[str, Any] = {
        "change": mapping.changes.get(change.change, change.change),
        "nik": r.nik, "full_name": r.full_name,
        "birth_place": regions.district_name(r.nik_district_code) or "",
        "birth_date": r.birth_date.isoformat(),
        "sex": mapping.sexes.get(r.sex, r.sex),
        "province": province.name if province else r.province_code,
        "regency": regency.name if regency else r.regency_code,
        "district": regions.district_name(r.district_code) or "" if r.district_code else "",
        "village": regions.village_name(r.village_code) or "" if r.village_code else "",
        "occupation": _occupation(r),
        "phone": r.phone or "",
        "programme": programme,
        "coverage_start": _ym(r.fiscal_year, r.start_month),
        "coverage_end": _ym(r.fiscal_year, last) if months else "",
        "months": months, "premium_rupiah": premium, "total_rupiah": premium * months,
        "kpj_number": r.kpj_number or "", "registration_id": r.registration_id,
    }
    return [values[name] for name, _ in mapping.columns]


def _occupation(r: RegistrationRecord) -> str:
    from shared.categories import CATEGORIES

    name = next((c.name_id for c in CATEGORIES if c.code == r.category), r.category)
    return f"{name}: {r.category_description}" if r.category_description else name


# BPJS's answer to a member file: one row per NIK. A rejection's reason is free text from BPJS; it is counted by
# category (never with personal data) so the award service and offices see why members were refused.
KPJ_PATTERN = re.compile(r"^[0-9A-Z]{8,20}$")
RejectionCategory = Literal["wage_earner", "already_member", "data_mismatch", "deceased", "other"]
_REJECTION_WORDS: tuple[tuple[RejectionCategory, tuple[str, ...]], ...] = (
    ("wage_earner", ("pu", "penerima upah", "wage earner", "perusahaan", "pemberi kerja", "employer")),
    ("already_member", ("sudah terdaftar", "terdaftar aktif", "already", "ganda", "duplikat", "duplicate")),
    ("data_mismatch", ("tidak sesuai", "tidak valid", "dukcapil", "mismatch", "nik tidak", "data")),
    ("deceased", ("meninggal", "deceased", "died")),
)


def rejection_category(reason: str) -> RejectionCategory:
    words = f" {re.sub(r'[^a-z0-9 ]+', ' ', reason.lower())} "
    for category, needles in _REJECTION_WORDS:
        if any(f" {n} " in words for n in needles):
            return category
    return "other"


@dataclass(frozen=True)
class ResultRow:
    """One row of BPJS's result file as read: its number in the sheet and its cells as text."""

    number: int
    nik: str
    kpj_number: str
    status: str
    reason: str


@dataclass(frozen=True)
class ResultMismatch:
    """A row not applied, by its number in the file and a code: never the NIK or KPJ number it holds."""

    row: int
    code: str
    message: str


RESULT_MESSAGES = {
    "nik_as_number": "NIK tersimpan sebagai angka, yang bisa mengubah digit terakhirnya; baris ini tidak dicocokkan.",
    "nik_format": "NIK harus 16 digit angka.",
    "unknown_status": "Status harus terdaftar (enrolled) atau ditolak (rejected).",
    "kpj_format": "Nomor KPJ harus 8-20 huruf/angka.",
    "unknown_nik": "NIK tidak dikenal di antara peserta yang didanai tahun ini.",
    "other_region": "NIK terdaftar di wilayah lain.",
    "kpj_differs": "NIK sudah dijawab BPJS dengan nomor KPJ lain.",
    "already_rejected": "Peserta ini sudah ditolak BPJS sebelumnya.",
    "already_enrolled": "Peserta ini sudah terdaftar dengan nomor KPJ; penolakan tidak diterapkan.",
    "not_live": "Peserta ini sudah berhenti; penolakan tidak diterapkan.",
    "repeated_nik": "NIK muncul lebih dari sekali dalam berkas.",
}


@dataclass(frozen=True)
class Enrol:
    registration_id: str
    kpj_number: str


@dataclass(frozen=True)
class Reject:
    record: RegistrationRecord
    reason: str
    category: RejectionCategory


@dataclass
class ResultPlan:
    """What an import of BPJS's result file does: who is enrolled, who is rejected, what is unchanged (a file imported
    again), and the rows not applied."""

    enrolled: list[Enrol] = field(default_factory=list)
    rejected: list[Reject] = field(default_factory=list)
    unchanged: int = 0
    mismatches: list[ResultMismatch] = field(default_factory=list)

    def mismatch(self, row: ResultRow, code: str) -> None:
        self.mismatches.append(ResultMismatch(row.number, code, RESULT_MESSAGES[code]))


def read_result_status(text: str) -> BpjsStatus | None:
    words = " ".join(re.sub(r"[^a-z ]+", " ", text.lower()).split())
    if words in ENROLLED_WORDS:
        return "enrolled"
    if words in REJECTED_WORDS:
        return "rejected"
    return None


def judge_results(rows: list[ResultRow], region_code: str, fiscal_year: int,
                  known: dict[str, list[RegistrationRecord]]) -> ResultPlan:
    """Match each row to the NIK's funded registration of the fiscal year in the region. `known` holds every
    registration of the file's NIKs in that fiscal year, any region. Mismatches are reported, never applied; a row
    that repeats what is stored is unchanged, so importing the same file twice changes nothing."""
    plan = ResultPlan()
    seen: set[str] = set()
    for row in rows:
        nik = row.nik.replace(" ", "").replace(".", "")
        if re.fullmatch(r"\d(\.\d+)?E\+\d+", row.nik.upper()):
            plan.mismatch(row, "nik_as_number")
            continue
        if not re.fullmatch(r"\d{16}", nik):
            plan.mismatch(row, "nik_format")
            continue
        if nik in seen:
            plan.mismatch(row, "repeated_nik")
            continue
        seen.add(nik)
        status = read_result_status(row.status)
        if status is None:
            plan.mismatch(row, "unknown_status")
            continue
        kpj = re.sub(r"[\s.\-]", "", row.kpj_number).upper()
        if status == "enrolled" and not KPJ_PATTERN.fullmatch(kpj):
            plan.mismatch(row, "kpj_format")
            continue
        candidates = [r for r in known.get(nik, []) if r.decided_at is not None and r.status in ("active", "ended")]
        mine = [r for r in candidates if regions.province_of(r.regency_code) == region_code
                or r.regency_code == region_code]
        if not mine:
            plan.mismatch(row, "other_region" if candidates else "unknown_nik")
            continue
        # The live one if any, otherwise the latest ended.
        record = sorted(mine, key=lambda r: (r.status == "active", r.registered_at))[-1]
        if status == "enrolled":
            if record.bpjs_status == "rejected":
                plan.mismatch(row, "already_rejected")
            elif record.kpj_number and record.bpjs_status == "enrolled":
                if record.kpj_number == kpj:
                    plan.unchanged += 1
                else:
                    plan.mismatch(row, "kpj_differs")
            else:
                plan.enrolled.append(Enrol(record.registration_id, kpj))
        else:
            if record.bpjs_status == "rejected":
                plan.unchanged += 1
            elif record.bpjs_status == "enrolled":
                plan.mismatch(row, "already_enrolled")
            elif record.status != "active":
                plan.mismatch(row, "not_live")
            else:
                reason = row.reason.strip()[:200]
                plan.rejected.append(Reject(record, reason, rejection_category(reason)))
    return plan


def rejection_end_month(record: RegistrationRecord) -> int:
    """A rejected member was never covered: the last covered month is the one before coverage began (0 for a
    January start, which worker.ended v2 allows for rejected_by_bpjs), so every month is released."""
    return record.start_month - 1
