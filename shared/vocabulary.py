"""The project's one vocabulary: the codes and literals that events, API models, validators and storage share.

Region codes are Kemendagri's, dotted: province ``PP``, regency/city ``PP.KK``, district ``PP.KK.CC``, village
``PP.KK.CC.DDDD``; the nation is ``ID``. A fiscal month is written ``YYYY-MM``. Each status mapping between the
services is written here once.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

# --- region codes and months ---

PROVINCE_PATTERN = r"^\d{2}$"
REGENCY_PATTERN = r"^\d{2}\.\d{2}$"
REGION_PATTERN = r"^\d{2}(\.\d{2})?$"  # a province or a regency/city: what a budget or an API key is for
DISTRICT_PATTERN = r"^\d{2}\.\d{2}\.\d{2}$"
VILLAGE_PATTERN = r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$"
NATIONAL_CODE = "ID"
INDICATOR_REGION_PATTERN = r"^(\d{2}(\.\d{2})?|ID)$"  # award's indicators also exist for the nation
MONTH_PATTERN = r"^(\d{4})-(0[1-9]|1[0-2])$"

REGENCY_CODE = re.compile(REGENCY_PATTERN)
REGION_CODE = re.compile(REGION_PATTERN)
DISTRICT_CODE = re.compile(DISTRICT_PATTERN)
VILLAGE_CODE = re.compile(VILLAGE_PATTERN)
FISCAL_MONTH = re.compile(MONTH_PATTERN)

ProvinceCode = Annotated[str, Field(pattern=PROVINCE_PATTERN, examples=["36"])]
RegencyCode = Annotated[str, Field(pattern=REGENCY_PATTERN, examples=["36.72"])]
RegionCode = Annotated[str, Field(pattern=REGION_PATTERN, examples=["36.72", "36"])]
DistrictCode = Annotated[str, Field(pattern=DISTRICT_PATTERN, examples=["36.72.01"])]
VillageCode = Annotated[str, Field(pattern=VILLAGE_PATTERN, examples=["36.72.01.1001"])]
Month = Annotated[int, Field(ge=1, le=12)]
FiscalMonth = Annotated[str, Field(pattern=MONTH_PATTERN, examples=["2025-03"])]
LAST_MONTH = 12
Rupiah = Annotated[int, Field(ge=0, description="Whole rupiah")]

# --- the programme ---

# The BPU package BPJS Ketenagakerjaan sells to informal workers: work accident (JKK) and death (JKM) cover.
DEFAULT_PROGRAMME = "bpu-jkk-jkm"

# --- registrations ---

Sex = Literal["L", "P"]  # laki-laki / perempuan, as the NIK encodes it
Channel = Literal["partner_app", "field_kit"]
CHANNELS: tuple[str, ...] = get_args(Channel)
EndReason = Literal["died", "moved", "no_longer_in_category", "request"]  # what an office may ask for
END_REASONS: tuple[str, ...] = get_args(EndReason)
# Ends as events carry them (worker.ended v2): also a holder ended by replacing them with a successor (mutasi), and a
# member BPJS Ketenagakerjaan refused to enrol (for example one already covered as a wage earner through an employer).
EndedReason = Literal["died", "moved", "no_longer_in_category", "request", "replaced", "rejected_by_bpjs"]
# What BPJS Ketenagakerjaan answered for a registration sent in a member file.
BpjsStatus = Literal["enrolled", "rejected"]
RegistrationStatus = Literal["pending_funding", "waiting_funding", "active", "unfunded", "ended"]
STATUSES: tuple[str, ...] = get_args(RegistrationStatus)
# A live registration holds the worker's place in the programme for its fiscal year: a second one for the same NIK
# and year is refused.
LIVE_STATUSES = ("pending_funding", "waiting_funding", "active")

# --- funding decisions ---

Decision = Literal["granted", "denied"]
DenialReason = Literal["no_allocation", "budget_exhausted"]  # subsidy.denied v1
# subsidy.denied v2 adds the ends of waiting: the fiscal year ran out, or so did every month the registration asked
# to be covered for.
DenialReasonV2 = Literal["no_allocation", "budget_exhausted", "fiscal_year_ended", "coverage_passed"]
# A budget's choice for a registration it cannot cover now: wait for money in arrival order, or be denied at once.
FundingPolicy = Literal["wait", "deny"]
FUNDING_POLICIES: tuple[str, ...] = get_args(FundingPolicy)
DEFAULT_FUNDING_POLICY: FundingPolicy = "wait"
# A registration in subsidy: decided (granted, denied), waiting for money, or withdrawn (ended while it waited).
SubsidyStatus = Literal["granted", "denied", "waiting", "withdrawn"]
FINAL_DECISIONS: tuple[SubsidyStatus, ...] = ("granted", "denied")
# What each subsidy decision event does to a registration in enrolment; other events change nothing there. A
# decision moves a pending or waiting registration, waitlisting only a pending one.
STATUS_AFTER_DECISION: dict[str, RegistrationStatus] = {
    "subsidy.granted": "active", "subsidy.denied": "unfunded", "subsidy.waitlisted": "waiting_funding"}
# The subsidy states an enrolment status can stand on (an end can overtake a decision still in flight).
DECISIONS_BEHIND_STATUS: dict[RegistrationStatus, frozenset[SubsidyStatus]] = {
    "pending_funding": frozenset(), "waiting_funding": frozenset({"waiting"}), "active": frozenset({"granted"}),
    "unfunded": frozenset({"denied"}), "ended": frozenset({"granted", "denied", "withdrawn"}),
}

# --- API keys ---

KeyKind = Literal["partner_app", "field_kit", "staff"]
KEY_KINDS: tuple[str, ...] = get_args(KeyKind)

# --- numbers, dates and times in JSON bodies ---

def _json_integer(value: object) -> object:
    # JSON Schema's integer is a number without a fraction (2025 or 2025.0), never true or "2025", which Pydantic's
    # lax int would also take.
    if isinstance(value, (bool, str, bytes)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


JsonInteger = Annotated[int, BeforeValidator(_json_integer)]

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_text(value: object) -> object:
    # JSON has no dates: the schema's format says text. Pydantic would also take a number (seconds since 1970), and
    # for a date a timestamp at midnight, which the schema does not allow.
    if isinstance(value, (int, float)):  # bool is an int
        raise PydanticCustomError("date_type", "Input should be a date or time as ISO 8601 text")
    if isinstance(value, str) and ISO_DATE.fullmatch(value[:10]) is None:
        raise PydanticCustomError("date_type", "Input should be a date or time as ISO 8601 text")
    return value


def _day_text(value: object) -> object:
    if isinstance(value, str) and ISO_DATE.fullmatch(value) is None:
        raise PydanticCustomError("date_type", "Input should be a date as YYYY-MM-DD")
    return _date_text(value)


IsoDate = Annotated[date, BeforeValidator(_day_text)]
IsoDateTime = Annotated[datetime, BeforeValidator(_date_text)]

# C0 controls and DEL, less tab, line feed and carriage return: PostgreSQL cannot store NUL in text, and the others
# only ever arrive by accident (a pasted cell, a broken encoder).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError("control_character", "Text should not contain control characters")
    return value


# Text people typed (titles, notes, sources, references): any language and punctuation, no control characters.
# The schema says so too, so that clients (and the schema fuzzing) know what is refused before they send it.
FreeText = Annotated[str, AfterValidator(_printable),
                     Field(json_schema_extra={"pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"})]


# --- BPJS Ketenagakerjaan's result file: its header names and status words, as branches write them. Enrolment
# imports the file; the office counts a file's rows before it asks for approval. ---

RESULT_HEADERS: dict[str, tuple[str, ...]] = {
    "nik": ("nik", "no ktp", "nomor ktp", "nomor induk kependudukan", "no nik", "nomor nik", "nik peserta"),
    "kpj_number": ("kpj", "no kpj", "nomor kpj", "no kartu", "nomor kartu", "nomor kartu peserta", "no peserta",
                   "nomor peserta", "kpj number", "membership number"),
    "status": ("status", "status kepesertaan", "hasil", "keterangan status", "result"),
    "reason": ("alasan", "keterangan", "alasan penolakan", "catatan", "reason"),
}
ENROLLED_WORDS = frozenset({"enrolled", "terdaftar", "diterima", "aktif", "berhasil", "sukses", "ok"})
REJECTED_WORDS = frozenset({"rejected", "ditolak", "tolak", "gagal", "tidak terdaftar", "tidak diterima"})
