"""What a valid registration is, how its input is normalised, how duplicates are told apart, and what its events
say. Pure rules: no database, no broker, no clock of its own (callers pass "now")."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

from lokal import parse_nik, parse_phone

from shared import regions
from shared.categories import category_code
from shared.clock import FISCAL_TZ
from shared.events import Envelope, WorkerEnded, WorkerRegistered, age_band, new_event
from shared.http import FieldError
from shared.settings import Settings
from shared.vocabulary import CHANNELS, DEFAULT_PROGRAMME, DISTRICT_CODE, FISCAL_MONTH, VILLAGE_CODE

SOURCE = "/paritrana/enrolment"

FIELDS = frozenset({
    "registration_id", "nik", "full_name", "phone", "category", "category_description", "regency_code",
    "district_code", "village_code", "programme", "coverage", "channel", "device_id", "officer_id", "captured_at",
})
COVERAGE_FIELDS = frozenset({"start_month", "months"})
NAME_MAX = 200
DESCRIPTION_MAX = 200
REFERENCE_MAX = 64

# Spaces, dots and dashes group a NIK's digits; a leading apostrophe is Excel's mark for "keep this cell as text",
# and reaches us when the cell was already Text or from a CSV written for Excel. None of them changes a digit.
_NIK_SEPARATORS = re.compile(r"[\s.\-]")
_NIK_TEXT_MARK = re.compile(r"^\s*'")
# A NIK some program held as a number, as it writes one out: 3.67201E+15 or 3,67201450190001E+15 (with the decimal
# mark of its locale), 367201450190001.0, 3.672.014.501.900.001. Excel keeps 15 significant digits of a number, so
# the last digit is already lost, and stripping the dots from the last two would even leave 16 digits that are not
# the person's.
_NIK_AS_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$|^\d+[.,]0+$|^\d{1,3}(?:[.,]\d{3}){4,}$")


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
    def from_settings(cls, settings: Settings) -> "IntakeRules":
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
class Registration:
    """A valid, normalised registration as submitted, plus what the NIK says (sex, birth date, place of issue)."""

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
    channel: str
    device_id: str | None
    officer_id: str | None
    captured_at: datetime
    # Derived, never submitted:
    worker_ref: str
    sex: str
    birth_date: date
    age_band: str
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

    def row(self, key_id: str, registered_at: datetime) -> dict[str, Any]:
        return {
            "registration_id": self.registration_id, "content_sha256": self.fingerprint, "nik": self.nik,
            "worker_ref": self.worker_ref, "full_name": self.full_name, "phone": self.phone, "sex": self.sex,
            "birth_date": self.birth_date, "age_band": self.age_band, "nik_district_code": self.nik_district_code,
            "category": self.category, "category_description": self.category_description,
            "province_code": self.province_code, "regency_code": self.regency_code,
            "district_code": self.district_code, "village_code": self.village_code, "programme": self.programme,
            "fiscal_year": self.fiscal_year, "start_month": self.start_month, "months": self.months,
            "channel": self.channel, "device_id": self.device_id, "officer_id": self.officer_id,
            "captured_at": self.captured_at, "key_id": key_id, "status": "pending_funding",
            "registered_at": registered_at, "updated_at": registered_at,
        }

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


def ended_event(row: Mapping[str, Any], reason: str, end_month: int, ended_at: datetime) -> Envelope[WorkerEnded]:
    data = WorkerEnded(
        registration_id=uuid.UUID(row["registration_id"]), worker_ref=row["worker_ref"],
        province_code=row["province_code"], regency_code=row["regency_code"], category=row["category"],
        sex=row["sex"], age_band=row["age_band"], programme=row["programme"], fiscal_year=row["fiscal_year"],
        end_month=end_month, reason=reason, ended_at=ended_at,
    )
    return new_event(data, source=SOURCE, subject=row["registration_id"], time=ended_at)


class _Problems:
    """Collects every problem of one item; messages name the rule, never the submitted value."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field_name: str | None, code: str, message: str) -> None:
        self.errors.append(FieldError(field=field_name, code=code, message=message))

    def text(self, raw: Mapping[str, Any], name: str, *, required: bool, max_length: int, label: str,
             path: str | None = None) -> str | None:
        """A string with its whitespace collapsed; blank counts as absent."""
        path = path or name
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(path, "missing", f"{label} is required.")
            return None
        if not isinstance(value, str):
            self.add(path, "type", f"{label} must be a string.")
            return None
        text = " ".join(value.split())
        if not text.isprintable():
            self.add(path, "invalid_characters", f"{label} must not contain control characters.")
            return None
        if len(text) > max_length:
            self.add(path, "too_long", f"{label} must be at most {max_length} characters.")
            return None
        return text


def month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def validate(raw: Any, rules: IntakeRules, now: datetime) -> tuple[Registration | None, list[FieldError]]:
    """Normalise one submitted registration and check every rule; returns it, or every problem found."""
    p = _Problems()
    if not isinstance(raw, dict):
        p.add("body", "type", "A registration must be a JSON object.")
        return None, p.errors
    today = now.astimezone(FISCAL_TZ).date()
    for name in sorted(set(raw) - FIELDS):
        p.add(str(name)[:64], "extra_forbidden", "This field is not allowed.")

    registration_id = _registration_id(raw, p)
    nik_info = _nik(raw, p, today, rules)
    full_name = p.text(raw, "full_name", required=True, max_length=NAME_MAX, label="The full name")
    if full_name is not None:
        if not any(c.isalpha() for c in full_name):
            p.add("full_name", "invalid_name", "The full name must contain letters.")
            full_name = None
        elif any(c.isdigit() for c in full_name):
            p.add("full_name", "invalid_name", "The full name must not contain digits.")
            full_name = None
        else:
            # Names are kept in capitals, as the KTP prints them, so a resend typed in another case is the same.
            full_name = full_name.upper()
    phone = _phone(raw, p)
    category, description = _category(raw, p)
    regency, district, village = _place(raw, p)
    programme = _programme(raw, p, rules)
    coverage = _coverage(raw, p, rules, today)
    channel = p.text(raw, "channel", required=True, max_length=32, label="The channel")
    if channel is not None and channel.lower() not in CHANNELS:
        p.add("channel", "unknown_channel", "The channel must be partner_app or field_kit.")
    device_id = p.text(raw, "device_id", required=False, max_length=REFERENCE_MAX, label="The device id")
    officer_id = p.text(raw, "officer_id", required=False, max_length=REFERENCE_MAX, label="The officer id")
    captured_at = _captured_at(raw, p, rules, now)

    if p.errors:
        return None, p.errors
    assert nik_info is not None and coverage is not None and captured_at is not None
    nik, sex, birth, band, nik_district = nik_info
    return Registration(
        registration_id=registration_id, nik=nik, full_name=full_name, phone=phone, category=category,  # type: ignore[arg-type]
        category_description=description, regency_code=regency, district_code=district,  # type: ignore[arg-type]
        village_code=village, programme=programme, fiscal_year=coverage[0], start_month=coverage[1],  # type: ignore[arg-type]
        months=coverage[2], channel=channel.lower(), device_id=device_id, officer_id=officer_id,  # type: ignore[union-attr]
        captured_at=captured_at, worker_ref=worker_ref(rules.worker_ref_key, nik), sex=sex, birth_date=birth,
        age_band=band, nik_district_code=nik_district,
    ), []


def _registration_id(raw: Mapping[str, Any], p: _Problems) -> str | None:
    value = p.text(raw, "registration_id", required=True, max_length=64, label="The registration id")
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        p.add("registration_id", "invalid_uuid", "The registration id must be a UUID.")
        return None


def _nik(raw: Mapping[str, Any], p: _Problems, today: date,
         rules: IntakeRules) -> tuple[str, str, date, str, str] | None:
    value = raw.get("nik")
    if value is None or (isinstance(value, str) and not value.strip()):
        p.add("nik", "missing", "The NIK is required.")
        return None
    if not isinstance(value, str):
        # A JSON number cannot carry all 16 digits safely, so only strings are taken.
        p.add("nik", "type", "The NIK must be a string of 16 digits.")
        return None
    text = _NIK_TEXT_MARK.sub("", value).strip()
    if _NIK_AS_NUMBER.match(text):
        p.add("nik", "nik_as_number", "The NIK was held as a number, of which a spreadsheet keeps only 15 significant "
                                      "digits: send its 16 digits as text.")
        return None
    digits = _NIK_SEPARATORS.sub("", text)
    if len(digits) != 16 or not (digits.isascii() and digits.isdigit()):
        p.add("nik", "nik_format", "The NIK must be exactly 16 digits (spaces, dots, dashes and a leading apostrophe "
                                   "are ignored).")
        return None
    info = parse_nik(digits, reference_date=today)
    problems = {issue.code for issue in info.errors}
    ok = True
    if problems & {"province", "wilayah"} or regions.district_name(info.district_code or "") is None:
        p.add("nik", "nik_unknown_district", "The NIK's first six digits are not a known district (kecamatan).")
        ok = False
    birth = date.fromisoformat(info.birth_date) if info.birth_date else None
    if birth is None or birth > today:
        p.add("nik", "nik_birth_date",
              "The NIK's birth-date digits (7-12, day plus 40 for women) are not a real date.")
        ok = False
    if "serial" in problems:
        p.add("nik", "nik_serial", "The NIK's serial number (digits 13-16) cannot be 0000.")
        ok = False
    if birth is not None and birth <= today:
        age = age_on(birth, today)
        if not rules.min_age <= age <= rules.max_age:
            p.add("nik", "age_out_of_range",
                  f"The worker must be {rules.min_age} to {rules.max_age} years old for this programme.")
            ok = False
    if not ok or birth is None or info.gender is None:
        return None
    return digits, info.gender, birth, age_band(age_on(birth, today)), info.district_code or ""


def _phone(raw: Mapping[str, Any], p: _Problems) -> str | None:
    value = p.text(raw, "phone", required=False, max_length=32, label="The phone number")
    if value is None:
        return None
    parsed = parse_phone(value)
    if not parsed.valid or parsed.e164 is None:
        p.add("phone", "invalid_phone", "The phone number is not a valid Indonesian number (0812…, +62812…).")
        return None
    return parsed.e164


def _category(raw: Mapping[str, Any], p: _Problems) -> tuple[str | None, str | None]:
    value = p.text(raw, "category", required=True, max_length=100, label="The category")
    description = p.text(raw, "category_description", required=False, max_length=DESCRIPTION_MAX,
                         label="The category description")
    if value is None:
        return None, description
    code = category_code(value)
    if code is None:
        p.add("category", "unknown_category", "The category is not a known worker category; see the API docs.")
    elif code == "other" and description is None:
        p.add("category_description", "missing", "A category description is required when the category is other.")
    return code, description


def _place(raw: Mapping[str, Any], p: _Problems) -> tuple[str | None, str | None, str | None]:
    regency = p.text(raw, "regency_code", required=True, max_length=16, label="The regency/city code")
    district = p.text(raw, "district_code", required=False, max_length=16, label="The district code")
    village = p.text(raw, "village_code", required=False, max_length=16, label="The village code")
    if regency is not None and not regions.is_regency(regency):
        p.add("regency_code", "unknown_regency", "The regency/city code must be a known PP.KK code.")
        regency = None
    if district is not None:
        if not DISTRICT_CODE.match(district) or regions.district_name(district) is None:
            p.add("district_code", "unknown_district", "The district code must be a known PP.KK.CC code.")
            district = None
        elif regency is not None and not district.startswith(regency + "."):
            p.add("district_code", "district_outside_regency", "The district is not in the given regency/city.")
            district = None
    if village is not None:
        if not VILLAGE_CODE.match(village) or regions.village_name(village) is None:
            p.add("village_code", "unknown_village", "The village code must be a known PP.KK.CC.DDDD code.")
            village = None
        elif regency is not None and not village.startswith(regency + "."):
            p.add("village_code", "village_outside_regency", "The village is not in the given regency/city.")
            village = None
        elif district is not None and not village.startswith(district + "."):
            p.add("village_code", "village_outside_district", "The village is not in the given district.")
            village = None
        elif raw.get("district_code") in (None, ""):
            # A village code names its district too.
            district = village[:8]
    return regency, district, village


def _programme(raw: Mapping[str, Any], p: _Problems, rules: IntakeRules) -> str | None:
    value = p.text(raw, "programme", required=False, max_length=64, label="The programme")
    programme = (value or DEFAULT_PROGRAMME).lower()
    if programme not in rules.programmes:
        p.add("programme", "unknown_programme", f"The programme must be one of: {', '.join(rules.programmes)}.")
        return None
    return programme


def _coverage(raw: Mapping[str, Any], p: _Problems, rules: IntakeRules,
              today: date) -> tuple[int, int, int] | None:
    coverage = raw.get("coverage")
    if coverage is None:
        p.add("coverage", "missing", "The coverage (start_month and months) is required.")
        return None
    if not isinstance(coverage, dict):
        p.add("coverage", "type", "The coverage must be an object with start_month and months.")
        return None
    for name in sorted(set(coverage) - COVERAGE_FIELDS):
        p.add(f"coverage.{str(name)[:64]}", "extra_forbidden", "This field is not allowed.")
    start = p.text(coverage, "start_month", required=True, max_length=16, label="The start month",
                   path="coverage.start_month")
    months = coverage.get("months")
    year = month = None
    if start is not None:
        match = FISCAL_MONTH.match(start)
        if match is None:
            p.add("coverage.start_month", "invalid_month", "The start month must be written YYYY-MM.")
        else:
            year, month = int(match.group(1)), int(match.group(2))
            current = month_index(today.year, today.month)
            if month_index(year, month) < current - rules.backdate_months:
                p.add("coverage.start_month", "start_month_too_early",
                      f"Coverage may start at most {rules.backdate_months} months before the current month.")
                year = None
            elif month_index(year, month) > current + rules.advance_months:
                p.add("coverage.start_month", "start_month_too_late",
                      f"Coverage may start at most {rules.advance_months} months after the current month.")
                year = None
    if months is None:
        p.add("coverage.months", "missing", "The number of months covered is required.")
        return None
    if isinstance(months, bool) or not isinstance(months, int):
        p.add("coverage.months", "type", "The number of months covered must be a whole number.")
        return None
    left = 13 - month if month is not None else 12
    if not 1 <= months <= left:
        p.add("coverage.months", "months_out_of_range",
              f"Coverage must be 1 to {left} months: the months left in the fiscal year from the start month."
              if month is not None else "Coverage must be 1 to 12 months.")
        return None
    if year is None or month is None:
        return None
    return year, month, months


def _captured_at(raw: Mapping[str, Any], p: _Problems, rules: IntakeRules, now: datetime) -> datetime | None:
    value = p.text(raw, "captured_at", required=True, max_length=64, label="The capture time")
    if value is None:
        return None
    try:
        captured = datetime.fromisoformat(value)
    except ValueError:
        p.add("captured_at", "invalid_datetime", "The capture time must be an ISO 8601 date-time.")
        return None
    if captured.tzinfo is None:
        # Devices that send local time without an offset are taken to be on WIB, where the fiscal calendar is kept.
        captured = captured.replace(tzinfo=FISCAL_TZ)
    captured = captured.astimezone(timezone.utc)
    if captured > now + rules.capture_max_skew:
        p.add("captured_at", "captured_in_future", "The capture time is in the future; check the device clock.")
        return None
    if captured < now - rules.capture_max_age:
        p.add("captured_at", "captured_too_long_ago",
              f"The capture time is more than {rules.capture_max_age.days} days ago; check the device clock.")
        return None
    return captured


# --- duplicates -------------------------------------------------------------------------------------------------

Verdict = Literal["accepted", "duplicate", "conflict"]


@dataclass
class Decision:
    verdict: Verdict
    code: str | None = None
    existing_registration_id: str | None = None
    errors: list[FieldError] = field(default_factory=list)


def id_conflict() -> Decision:
    return Decision("conflict", "registration_id_conflict", errors=[FieldError(
        field="registration_id", code="registration_id_conflict",
        message="This registration id was already used for a registration with different content.")])


def nik_conflict(existing: str) -> Decision:
    return Decision("conflict", "nik_already_registered", existing, [FieldError(
        field="nik", code="nik_already_registered",
        message="This NIK already has a live registration in this programme.")])


def decide(candidates: list[Registration], stored: dict[str, str],
           live: dict[tuple[str, str], str]) -> list[Decision]:
    """In submission order: a known id with the same content is a duplicate, with other content a conflict; a NIK
    with a live registration in the programme is a conflict naming it; the rest are accepted. `stored` maps
    registration ids to content fingerprints and `live` (nik, programme) to the live registration's id; both grow
    as items are accepted, so a batch is judged as if its items had arrived one by one."""
    stored, live = dict(stored), dict(live)
    decisions = []
    for c in candidates:
        if c.registration_id in stored:
            decision = Decision("duplicate") if stored[c.registration_id] == c.fingerprint else id_conflict()
        elif (c.nik, c.programme) in live:
            decision = nik_conflict(live[(c.nik, c.programme)])
        else:
            decision = Decision("accepted")
            stored[c.registration_id] = c.fingerprint
            live[(c.nik, c.programme)] = c.registration_id
        decisions.append(decision)
    return decisions


# --- ending -----------------------------------------------------------------------------------------------------

def end_month_for(requested: str | None, fiscal_year: int, start_month: int, months: int,
                  today: date) -> tuple[int | None, list[FieldError]]:
    """The last month still covered. Without a request it is the current month, held inside the coverage period
    (so ending before coverage started keeps its first month, and after it ran out, its last)."""
    last = start_month + months - 1
    if requested is None:
        if today.year != fiscal_year:
            return (start_month if today.year < fiscal_year else last), []
        return min(max(today.month, start_month), last), []
    match = FISCAL_MONTH.match(requested.strip())
    if match is None:
        return None, [FieldError(field="end_month", code="invalid_month", message="The end month must be YYYY-MM.")]
    year, month = int(match.group(1)), int(match.group(2))
    if year != fiscal_year or not start_month <= month <= last:
        return None, [FieldError(field="end_month", code="end_month_outside_coverage",
                                 message="The end month must fall within the registration's coverage period.")]
    return month, []
