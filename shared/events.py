"""Event contracts: a CloudEvents 1.0 envelope and one pydantic model per (type, data version).

Events travel in CloudEvents' Kafka *structured* mode: the message value is the whole envelope as JSON, the
``content-type`` header is ``application/cloudevents+json``, and the key is the region code that orders it
(see ``shared.topics``). ``dataversion`` (a CloudEvents extension attribute) is the data schema's version; a
consumer that meets a (type, version) it does not know dead-letters it instead of guessing.

No personal data belongs here: a worker is a pseudonymous ``worker_ref``, never a NIK, name, phone or birth date.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json

from shared.vocabulary import (
    DEFAULT_PROGRAMME,
    Channel,
    DenialReason,
    DistrictCode,
    EndReason,
    Month,
    ProvinceCode,
    RegencyCode,
    RegionCode,
    Rupiah,
    Sex,
    VillageCode,
)

SPECVERSION: Literal["1.0"] = "1.0"
CONTENT_TYPE = "application/cloudevents+json"


# Age bands used in events and indicators, so an exact birth date never has to leave enrolment.
AGE_BANDS: tuple[tuple[AgeBand, int, int], ...] = (
    ("<18", 0, 17),
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55-64", 55, 64),
    ("65+", 65, 200),
)
AgeBand = Literal["<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def age_band(age: int) -> AgeBand:
    return next(name for name, low, high in AGE_BANDS if low <= age <= high)


class EventData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkerAttributes(EventData):
    """What every worker event says about the worker and the place of work: nothing that identifies a person."""

    registration_id: uuid.UUID
    worker_ref: str = Field(pattern=r"^[0-9a-f]{64}$", description="HMAC-SHA256 of the NIK, hex")
    province_code: ProvinceCode
    regency_code: RegencyCode
    category: str
    sex: Sex
    age_band: AgeBand
    programme: str = DEFAULT_PROGRAMME


class WorkerRegistered(WorkerAttributes):
    district_code: DistrictCode | None = None
    village_code: VillageCode | None = None
    fiscal_year: int = Field(ge=2000, le=2100)
    start_month: Month
    months: int = Field(ge=1, le=12)
    channel: Channel
    captured_at: datetime
    registered_at: datetime


class WorkerEnded(WorkerAttributes):
    fiscal_year: int = Field(ge=2000, le=2100)
    end_month: Month = Field(description="Last month still covered; later months are released")
    reason: EndReason
    ended_at: datetime


class MonthlyAmount(EventData):
    month: Month
    amount_rupiah: Rupiah


class SubsidyGranted(WorkerAttributes):
    fiscal_year: int
    start_month: Month
    months: int = Field(ge=1, le=12)
    amount_rupiah: Rupiah
    schedule: list[MonthlyAmount] = Field(description="What each covered month costs, at the rate then in force")
    funding_region_code: RegionCode = Field(description="The budget charged: the regency/city's or its province's")
    funding_line_id: str | None = None
    decided_at: datetime


class SubsidyDenied(WorkerAttributes):
    fiscal_year: int
    start_month: Month
    months: int = Field(ge=1, le=12)
    amount_rupiah: Rupiah = Field(description="What the coverage would have cost")
    reason: DenialReason
    remaining_rupiah: Rupiah = Field(description="What was left in the budget that was tried last")
    decided_at: datetime


class SubsidyReleased(WorkerAttributes):
    fiscal_year: int
    end_month: Month
    months_released: int = Field(ge=0, le=12)
    amount_rupiah: Rupiah = Field(description="Returned to the budget")
    schedule: list[MonthlyAmount]
    funding_region_code: RegionCode
    released_at: datetime


# Every event about one registration in one fiscal year: what award folds into its projection.
WORKER_EVENTS = (WorkerRegistered, WorkerEnded, SubsidyGranted, SubsidyDenied, SubsidyReleased)


class FundingLine(EventData):
    line_id: str
    source: str
    amount_rupiah: Rupiah
    legal_reference: str


class BudgetAllocated(EventData):
    region_code: RegionCode
    fiscal_year: int
    allocation_rupiah: Rupiah
    lines: list[FundingLine]
    changed_at: datetime


class BudgetThresholdCrossed(EventData):
    region_code: RegionCode
    fiscal_year: int
    threshold_percent: Literal[80, 95, 100]
    allocation_rupiah: Rupiah
    committed_rupiah: Rupiah
    crossed_at: datetime


class IndicatorsUpdated(EventData):
    region_code: str = Field(description="PP.KK, PP, or ID for the nation")
    level: Literal["regency", "province", "national"]
    fiscal_year: int
    values: dict[str, float | None] = Field(description="Indicator id -> value, as defined in the award config")
    score: float | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    as_of: datetime


# The versioned type list: (type, dataversion) -> data model. Add a version here, never change one in place.
EVENT_TYPES: dict[tuple[str, int], type[EventData]] = {
    ("worker.registered", 1): WorkerRegistered,
    ("worker.ended", 1): WorkerEnded,
    ("subsidy.granted", 1): SubsidyGranted,
    ("subsidy.denied", 1): SubsidyDenied,
    ("subsidy.released", 1): SubsidyReleased,
    ("budget.allocated", 1): BudgetAllocated,
    ("budget.threshold-crossed", 1): BudgetThresholdCrossed,
    ("indicators.updated", 1): IndicatorsUpdated,
}
TYPE_OF: dict[type[EventData], tuple[str, int]] = {model: key for key, model in EVENT_TYPES.items()}

D = TypeVar("D", bound=EventData)


class Envelope(BaseModel, Generic[D]):
    """CloudEvents 1.0 attributes around one data model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = SPECVERSION
    id: uuid.UUID
    source: str = Field(examples=["/paritrana/enrolment"])
    type: str
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    dataversion: int = Field(ge=1)
    data: D


# Envelope[Model] classes built once: pydantic's own lookup of a parametrised generic costs more than the event.
_ENVELOPES: dict[type[EventData], type[Envelope[Any]]] = {
    model: Envelope[model]  # type: ignore[valid-type]  # a model chosen at run time is no static type
    for model in EVENT_TYPES.values()}


def dataschema_uri(event_type: str, version: int) -> str:
    return f"urn:paritrana:schema:{event_type}:{version}"


def new_event(data: D, *, source: str, subject: str | None = None, event_id: uuid.UUID | None = None,
              time: datetime | None = None) -> Envelope[D]:
    event_type, version = TYPE_OF[type(data)]
    return _ENVELOPES[type(data)](
        id=event_id or uuid.uuid4(),
        source=source,
        type=event_type,
        time=time or datetime.now(UTC),
        subject=subject,
        dataschema=dataschema_uri(event_type, version),
        dataversion=version,
        data=data,
    )


class InvalidEvent(Exception):
    """A message that is not a known, valid event. Its text never quotes input values (they may be personal data)."""


def _describe(error: ValidationError) -> str:
    # Only locations and error types: pydantic's default message would echo the offending input.
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['type']}" for e in error.errors())


# Where an envelope names its type and data version; model_dump_json writes both ahead of "data".
_TYPE_FIELD = re.compile(rb'"type"\s*:\s*"([a-z.-]{1,64})"')
_VERSION_FIELD = re.compile(rb'"dataversion"\s*:\s*(\d{1,4})\b')


def _parse_as_named(raw: bytes) -> Envelope[Any] | None:
    """The envelope validated straight from its JSON, by the model its first "type" and "dataversion" name; None
    when those are missing or wrong, or it does not validate (parse_event's careful path then says why).

    Validating the bytes in one pass costs 12 µs against 20 µs for parsing to a dict and validating that: a fifth
    of a subsidy replay's time went to parsing. The check after validation keeps a "type" nested in the data from
    choosing the model."""
    named_type, named_version = _TYPE_FIELD.search(raw), _VERSION_FIELD.search(raw)
    if named_type is None or named_version is None:
        return None
    model = EVENT_TYPES.get((named_type.group(1).decode(), int(named_version.group(1))))
    if model is None:
        return None
    try:
        event = _ENVELOPES[model].model_validate_json(raw)
    except ValidationError:
        return None
    return event if (event.type, event.dataversion) == TYPE_OF[model] else None


def parse_event(raw: bytes | str) -> Envelope[Any]:
    """Decode a structured-mode CloudEvent into its typed envelope, or raise InvalidEvent."""
    if isinstance(raw, bytes) and (event := _parse_as_named(raw)) is not None:
        return event
    try:
        doc = from_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise InvalidEvent("envelope is not an object")
    event_type, version = doc.get("type"), doc.get("dataversion")
    model = EVENT_TYPES.get((event_type, version)) if isinstance(event_type, str) and isinstance(version, int) else None
    if model is None:
        raise InvalidEvent(f"unknown event type/version: {str(event_type)[:64]!r} v{str(version)[:8]}")
    try:
        return _ENVELOPES[model].model_validate(doc)
    except ValidationError as exc:
        raise InvalidEvent(f"{event_type} v{version} invalid: {_describe(exc)}") from None


def encode_event(event: Envelope[Any]) -> bytes:
    return event.model_dump_json().encode()


def json_schema(event_type: str, version: int) -> dict[str, Any]:
    """The JSON Schema of a whole envelope of this type: what a consumer in any language can validate against."""
    model = EVENT_TYPES[(event_type, version)]
    schema = Envelope[model].model_json_schema()  # type: ignore[valid-type]
    schema["$id"] = dataschema_uri(event_type, version)
    schema["title"] = f"{event_type} v{version}"
    props = schema["properties"]
    props["type"] = {"const": event_type, "type": "string"}
    props["dataversion"] = {"const": version, "type": "integer"}
    return schema
