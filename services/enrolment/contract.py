"""The intake contract: the request models. They check structure, types and the field constraints they declare (so
the OpenAPI document is the models themselves), and normalise what they read; the rules that need reference data
(the NIK's date and district, places, categories, the intake window) are the domain's.

Every check raises the project's own error code with a message that names the rule, never the value, so
`read_intake` can list every problem of an item at once, together with the domain's.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from services.enrolment.domain import IntakeForm, Problem
from shared.categories import CATEGORIES
from shared.clock import FISCAL_TZ
from shared.vocabulary import (
    CHANNELS,
    DEFAULT_PROGRAMME,
    DISTRICT_CODE,
    DISTRICT_PATTERN,
    FISCAL_MONTH,
    MONTH_PATTERN,
    REGENCY_CODE,
    REGENCY_PATTERN,
    REGION_PATTERN,
    VILLAGE_CODE,
    VILLAGE_PATTERN,
    Channel,
    EndReason,
)

NAME_MAX = 200
DESCRIPTION_MAX = 200
REFERENCE_MAX = 64
# A required text must hold something other than whitespace: blank counts as absent.
FILLED = r"\S"

# Spaces, dots and dashes group a NIK's digits; a leading apostrophe is Excel's mark for "keep this cell as text",
# and reaches us when the cell was already Text or from a CSV written for Excel. None of them changes a digit.
_NIK_SEPARATORS = re.compile(r"[\s.\-]")
_NIK_TEXT_MARK = re.compile(r"^\s*'")
# A NIK some program held as a number, as it writes one out: 3.67201E+15 or 3,67201450190001E+15 (with the decimal
# mark of its locale), 367201450190001.0, 3.672.014.501.900.001. Excel keeps 15 significant digits of a number, so
# the last digit is already lost, and stripping the dots from the last two would even leave 16 digits that are not
# the person's.
_NIK_AS_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$|^\d+[.,]0+$|^\d{1,3}(?:[.,]\d{3}){4,}$")


def _problem(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


def _text(label: str, max_length: int, *, required: bool = True, default: str | None = None,
          then: Callable[[str], Any] | None = None) -> BeforeValidator:
    """A string with its whitespace collapsed (blank counts as absent), then read by `then`. Each field's checks run
    here, ahead of the type and the constraints the field declares, so a problem gets the project's code."""

    def read(value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise _problem("missing", f"{label} is required.")
            return default
        if not isinstance(value, str):
            raise _problem("type", f"{label} must be a string.")
        text = " ".join(value.split())
        if not text.isprintable():
            raise _problem("invalid_characters", f"{label} must not contain control characters.")
        if len(text) > max_length:
            raise _problem("too_long", f"{label} must be at most {max_length} characters.")
        return then(text) if then else text

    return BeforeValidator(read)


def _matching(pattern: re.Pattern[str], code: str, message: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise _problem(code, message)
        return value

    return check


def _registration_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _problem("invalid_uuid", "The registration id must be a UUID.") from None


def _nik_digits(value: str) -> str:
    text = _NIK_TEXT_MARK.sub("", value).strip()
    if _NIK_AS_NUMBER.match(text):
        raise _problem("nik_as_number", "The NIK was held as a number, of which a spreadsheet keeps only 15 "
                                        "significant digits: send its 16 digits as text.")
    digits = _NIK_SEPARATORS.sub("", text)
    if len(digits) != 16 or not (digits.isascii() and digits.isdigit()):
        raise _problem("nik_format", "The NIK must be exactly 16 digits (spaces, dots, dashes and a leading "
                                     "apostrophe are ignored).")
    return digits


def _full_name(value: str) -> str:
    if not any(c.isalpha() for c in value):
        raise _problem("invalid_name", "The full name must contain letters.")
    if any(c.isdigit() for c in value):
        raise _problem("invalid_name", "The full name must not contain digits.")
    # Names are kept in capitals, as the KTP prints them, so a resend typed in another case is the same.
    return value.upper()


def _channel(value: str) -> str:
    if value.lower() not in CHANNELS:
        raise _problem("unknown_channel", "The channel must be partner_app or field_kit.")
    return value.lower()


def _months(value: Any) -> int:
    if value is None:
        raise _problem("missing", "The number of months covered is required.")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _problem("type", "The number of months covered must be a whole number.")
    if not 1 <= value <= 12:
        raise _problem("months_out_of_range", "Coverage must be 1 to 12 months.")
    return value


def _captured_at(value: str) -> datetime:
    try:
        captured = datetime.fromisoformat(value)
    except ValueError:
        raise _problem("invalid_datetime", "The capture time must be an ISO 8601 date-time.") from None
    if captured.tzinfo is None:
        # Devices that send local time without an offset are taken to be on WIB, where the fiscal calendar is kept.
        captured = captured.replace(tzinfo=FISCAL_TZ)
    return captured.astimezone(UTC)


# Each field's checks run in its `_text` (or other before-validator), ahead of the inner type and the constraints it
# declares for the OpenAPI document, which a value that passed the checks always meets.
RegistrationId = Annotated[uuid.UUID, _text("The registration id", REFERENCE_MAX, then=_registration_id)]
# Sixteen digits, perhaps grouped: what the checks read, though not every such string passes them (a number grouped
# in thousands, 3.672.011.203.900.010, is one a spreadsheet wrote, and refused).
NIK_PATTERN = r"^\s*'?[\s.\-]*([0-9][\s.\-]*){16}$"
Nik = Annotated[Annotated[str, Field(pattern=NIK_PATTERN, max_length=64)], _text("The NIK", 64, then=_nik_digits)]
FullName = Annotated[Annotated[str, Field(min_length=1, max_length=NAME_MAX, pattern=FILLED)],
                     _text("The full name", NAME_MAX, then=_full_name)]
Phone = Annotated[Annotated[str, Field(max_length=32)] | None, _text("The phone number", 32, required=False)]
Category = Annotated[Annotated[str, Field(min_length=1, max_length=100, pattern=FILLED)], _text("The category", 100)]
Description = Annotated[Annotated[str, Field(max_length=DESCRIPTION_MAX)] | None,
                        _text("The category description", DESCRIPTION_MAX, required=False)]
Regency = Annotated[Annotated[str, Field(pattern=REGENCY_PATTERN)], _text(
    "The regency/city code", 16,
    then=_matching(REGENCY_CODE, "unknown_regency", "The regency/city code must be a known PP.KK code."))]
District = Annotated[Annotated[str, Field(pattern=DISTRICT_PATTERN)] | None, _text(
    "The district code", 16, required=False,
    then=_matching(DISTRICT_CODE, "unknown_district", "The district code must be a known PP.KK.CC code."))]
Village = Annotated[Annotated[str, Field(pattern=VILLAGE_PATTERN)] | None, _text(
    "The village code", 16, required=False,
    then=_matching(VILLAGE_CODE, "unknown_village", "The village code must be a known PP.KK.CC.DDDD code."))]
Programme = Annotated[Annotated[str, Field(max_length=64)] | None,
                      _text("The programme", 64, required=False, default=DEFAULT_PROGRAMME, then=str.lower)]
StartMonth = Annotated[Annotated[str, Field(pattern=MONTH_PATTERN)], _text(
    "The start month", 16,
    then=_matching(FISCAL_MONTH, "invalid_month", "The start month must be written YYYY-MM."))]
Months = Annotated[Annotated[int, Field(ge=1, le=12)], BeforeValidator(_months)]
ChannelName = Annotated[Channel, _text("The channel", 32, then=_channel)]
Reference = Annotated[str, Field(max_length=REFERENCE_MAX)]
DeviceId = Annotated[Reference | None, _text("The device id", REFERENCE_MAX, required=False)]
OfficerId = Annotated[Reference | None, _text("The officer id", REFERENCE_MAX, required=False)]
CapturedAt = Annotated[datetime, _text("The capture time", 64, then=_captured_at)]


class CoverageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_month: StartMonth = Field(examples=["2025-03"], description=(
        "First covered month. At most a few months before or after the current month (settings "
        "enrolment_backdate_months / enrolment_advance_months)."))
    months: Months = Field(description="Months covered, 1 to the months left in that fiscal year (January-December "
                                       "of start_month's year).")


class RegistrationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registration_id: RegistrationId = Field(description="Generated by the client; resending it is always safe.")
    nik: Nik = Field(description="16 digits as a string; spaces, dots, dashes and a leading apostrophe are ignored. "
                                 "A JSON number, or a number as a spreadsheet writes it (3.67201E+15, "
                                 "367201450190001.0), is refused: it has lost a digit. Sex, birth date and region of "
                                 "issue are read from it; they must make a real birth date, a known district and an "
                                 "age the programme takes.", examples=["3672015507900001"])
    full_name: FullName = Field(description="Letters, no digits; stored in capitals, as on the KTP.")
    phone: Phone = Field(None, description="Indonesian number in any common form; stored as E.164.")
    category: Category = Field(description="A category code, name or alias: " + ", ".join(c.code for c in CATEGORIES))
    category_description: Description = Field(None, description="Required when category is other.")
    regency_code: Regency = Field(description="Regency/city of work, PP.KK, one the reference list knows")
    district_code: District = Field(None, description="Inside the regency")
    village_code: Village = Field(None, description="Inside the regency (and district); implies the district")
    programme: Programme = Field(DEFAULT_PROGRAMME, description="One of the programmes the service is configured "
                                                               "for (enrolment_programmes)")
    coverage: CoverageRequest
    channel: ChannelName
    device_id: DeviceId = Field(None, description="The field kit's device id")
    officer_id: OfficerId = None
    captured_at: CapturedAt = Field(description="The device's time of capture; without an offset it is read as WIB. "
                                                "Within the last 120 days and at most an hour ahead.")


def _as_sent(value: Any) -> Any:
    return value


# A request body typed in the OpenAPI document as a registration, but handed on as sent: `read_intake` checks it,
# so that a 422 (or a batch item's result) lists the contract's problems together with the domain's.
AsSent = PlainValidator(_as_sent, json_schema_input_type=RegistrationRequest)
SubmittedRegistration = Annotated[Any, AsSent]


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[SubmittedRegistration] = Field(
        description="Up to enrolment_batch_limit items (1,000 by default); each is judged on its own.",
        json_schema_extra={"maxItems": 1000})


class ReplaceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # An object read as a registration by the intake's own rules, so a 422 lists every problem of it at once.
    successor: dict[str, Any] = Field(description=(
        "The successor as a registration (see POST /v1/registrations). Its regency/city and category are the "
        "holder's (give them or leave them out), and its coverage is the holder's remaining months, so leave "
        "`coverage` out."))
    end_month: str | None = Field(None, pattern=MONTH_PATTERN,
                                  description="The holder's last covered month; default the current month")


class RenewalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region_code: str = Field(pattern=REGION_PATTERN, examples=["36.72"],
                             description="The cohort's regency/city (PP.KK) or province (PP)")
    from_year: int = Field(ge=2000, le=2099, strict=True, description="The fiscal year the members are covered in")
    to_year: int = Field(ge=2001, le=2100, strict=True, description="The year to renew them into: from_year + 1")
    category: str | None = Field(None, min_length=1, max_length=100, description="Only this category (code, name "
                                                                                  "or alias)")
    start_month: int = Field(1, ge=1, le=12, strict=True, description="First covered month of to_year")
    months: int = Field(12, ge=1, le=12, strict=True, description="Months covered, within to_year")
    dry_run: bool = Field(False, strict=True, description="Only say how many would be renewed, and what it covers")


class EndRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: EndReason
    end_month: str | None = Field(None, pattern=MONTH_PATTERN,
                                  description="Last covered month; default the current month, within the coverage")


MAX_LOOKUP = 50_000  # NIKs and KPJ numbers in one look-up: a large regency's whole bill


class LookupRequest(BaseModel):
    """The NIKs and KPJ numbers of a bill file, to find their registrations of a fiscal year."""

    model_config = ConfigDict(extra="forbid")

    fiscal_year: int = Field(ge=2000, le=2100, strict=True)
    niks: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=MAX_LOOKUP)
    kpj_numbers: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=MAX_LOOKUP)


# --- reading one item ----------------------------------------------------------------------------------------------

_MESSAGES = {
    "missing": "This field is required.",
    "extra_forbidden": "This field is not allowed.",
}


def _path(loc: tuple[int | str, ...]) -> str:
    # A field name is the client's own text: cut, so an error never carries a huge or personal key whole.
    return ".".join(str(part)[:64] for part in loc) or "body"


def _problems(error: ValidationError) -> list[Problem]:
    problems = []
    for e in error.errors(include_input=False, include_url=False):
        code = e["type"]
        if code in ("model_type", "model_attributes_type", "dict_type"):
            code, message = "type", ("A registration must be a JSON object." if not e["loc"] else
                                     "The coverage must be an object with start_month and months.")
        else:
            message = _MESSAGES.get(code, e["msg"])
        problems.append(Problem(_path(e["loc"]), code, message))
    return problems


@cache
def _field(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """One field's type with its checks and constraints, to read it alone when another field failed."""
    info = model.model_fields[name]
    annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(annotation)


def _fields(model: type[BaseModel], raw: Any, error: ValidationError) -> dict[str, Any]:
    """The fields of `raw` that passed, read as the model reads them, when others failed."""
    if not isinstance(raw, dict):
        return {}
    failed = {e["loc"][0] for e in error.errors() if e["loc"]}
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in failed:
            # A nested object (the coverage) keeps its own fields that passed, for the rules that join them.
            if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
                values[name] = _partial(info.annotation, raw.get(name))
            continue
        values[name] = _field(model, name).validate_python(raw[name]) if name in raw else info.get_default()
    return values


def _partial(model: type[BaseModel], raw: Any) -> dict[str, Any]:
    try:
        return dict(model.model_validate(raw))
    except ValidationError as error:
        return _fields(model, raw, error)


def read_intake(raw: Any) -> tuple[IntakeForm, list[Problem]]:
    """One submitted registration as the contract reads it: every field that passed (so the domain can judge it
    too), and a problem for each that did not."""
    try:
        values, problems = dict(RegistrationRequest.model_validate(raw)), []
    except ValidationError as error:
        values, problems = _fields(RegistrationRequest, raw, error), _problems(error)
    coverage = values.get("coverage")
    coverage = dict(coverage) if isinstance(coverage, CoverageRequest) else coverage or {}
    registration_id = values.get("registration_id")
    return IntakeForm(
        complete=not problems, registration_id=str(registration_id) if registration_id else None,
        nik=values.get("nik"), full_name=values.get("full_name"), phone=values.get("phone"),
        category=values.get("category"), category_description=values.get("category_description"),
        regency_code=values.get("regency_code"), district_code=values.get("district_code"),
        village_code=values.get("village_code"), programme=values.get("programme"),
        start_month=coverage.get("start_month"), months=coverage.get("months"), channel=values.get("channel"),
        device_id=values.get("device_id"), officer_id=values.get("officer_id"),
        captured_at=values.get("captured_at"),
    ), problems
