"""The intake rules that need reference data or the clock (the NIK's birth date and district, places, categories,
programmes, the intake window), how duplicates are told apart, and what the events say. The request models
(contract.py) check structure and types first. Pure rules: no database, no broker, no clock of its own (callers
pass "now")."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from lokal import parse_nik, parse_phone

from shared import regions
from shared.categories import category_code
from shared.clock import FISCAL_TZ
from shared.events import AgeBand, Envelope, WorkerEnded, WorkerRegistered, age_band, new_event
from shared.settings import Settings
from shared.vocabulary import DEFAULT_PROGRAMME, Channel, EndReason, RegistrationStatus, Sex

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

    def record(self, key_id: str, registered_at: datetime) -> RegistrationRecord:
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
        )

    def row(self, key_id: str, registered_at: datetime) -> dict[str, Any]:
        return asdict(self.record(key_id, registered_at)) | {"content_sha256": self.fingerprint}

    def registered_event(self, registered_at: datetime) -> Envelope[WorkerRegistered]:
        data = WorkerRegistered(
            registration_id=uuid.UUID(self.registration_id), worker_ref=self.worker_ref,
            province_code=self.province_code, regency_code=self.regency_code, category=self.category, sex=self.sex,
            age_band=self.age_band, programme=self.programme, district_code=self.district_code,
            village_code=self.village_code, fiscal_year=self.fiscal_year, start_month=self.start_month,
            months=self.months, channel=self.channel, captured_at=self.captured_at, registered_at=registered_at,
        )
        return new_event(data, source=SOURCE, subject=self.registration_id, time=registered_at)


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


def ended_event(record: RegistrationRecord, reason: EndReason, end_month: int,
                ended_at: datetime) -> Envelope[WorkerEnded]:
    data = WorkerEnded(
        registration_id=uuid.UUID(record.registration_id), worker_ref=record.worker_ref,
        province_code=record.province_code, regency_code=record.regency_code, category=record.category,
        sex=record.sex, age_band=record.age_band, programme=record.programme, fiscal_year=record.fiscal_year,
        end_month=end_month, reason=reason, ended_at=ended_at,
    )
    return new_event(data, source=SOURCE, subject=record.registration_id, time=ended_at)


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
        "nik", "nik_already_registered", "This NIK already has a live registration in this programme.")])


def judge_arrivals(intakes: list[ValidIntake], stored: dict[str, str],
                   live: dict[tuple[str, str], str]) -> list[IntakeVerdict]:
    """In submission order: a known id with the same content is a duplicate, with other content a conflict; a NIK
    with a live registration in the programme is a conflict naming it; the rest are accepted. `stored` maps
    registration ids to content fingerprints and `live` (nik, programme) to the live registration's id; both grow
    as items are accepted, so a batch is judged as if its items had arrived one by one."""
    stored, live = dict(stored), dict(live)
    verdicts = []
    for c in intakes:
        if c.registration_id in stored:
            verdict = IntakeVerdict("duplicate") if stored[c.registration_id] == c.fingerprint else id_conflict()
        elif (c.nik, c.programme) in live:
            verdict = nik_conflict(live[(c.nik, c.programme)])
        else:
            verdict = IntakeVerdict("accepted")
            stored[c.registration_id] = c.fingerprint
            live[(c.nik, c.programme)] = c.registration_id
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
