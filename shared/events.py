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
from datetime import UTC, date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json

from shared.vocabulary import (
    DEFAULT_PROGRAMME,
    Channel,
    DenialReason,
    DenialReasonV2,
    DistrictCode,
    EndedReason,
    EndReason,
    FundingPolicy,
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


class WorkerRegisteredV2(WorkerRegistered):
    """A registration that continues another: a renewal of last year's, or a successor in a holder's place."""

    renews: uuid.UUID | None = Field(None, description="The previous fiscal year's registration this one renews")
    replaces: uuid.UUID | None = Field(
        None, description="The registration whose holder this one succeeds (mutasi), in the same fiscal year")


class WorkerEnded(WorkerAttributes):
    fiscal_year: int = Field(ge=2000, le=2100)
    end_month: Month = Field(description="Last month still covered; later months are released")
    reason: EndReason
    ended_at: datetime


class WorkerEndedV2(WorkerEnded):
    """An end whose reason v1 cannot carry: a holder replaced by a successor, or a member BPJS Ketenagakerjaan
    rejected, whose coverage never began: then end_month is the month before the first covered one (0 for a
    January start) and every month is released."""

    end_month: int = Field(ge=0, le=12, description="Last month still covered; later months are released. "
                                                    "0 only for rejected_by_bpjs of a January start")
    reason: EndedReason  # type: ignore[assignment]  # v2 widens v1's reasons


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


class SubsidyDeniedV2(SubsidyDenied):
    """A denial whose reason v1 cannot carry: the end of waiting."""

    reason: DenialReasonV2  # type: ignore[assignment]  # v2 widens v1's reasons


class SubsidyWaitlisted(WorkerAttributes):
    """No budget covers the registration now, and its budget's policy is to wait: it waits for money, in arrival
    order, until it is granted or its fiscal year ends."""

    fiscal_year: int
    start_month: Month
    months: int = Field(ge=1, le=12)
    amount_rupiah: Rupiah = Field(description="What the coverage asked for would cost now")
    arrival: int = Field(ge=1, description="Its place in arrival order: lower arrived earlier")
    position: int = Field(ge=1, description="Its place in its regency/city's waiting list when it arrived")
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
WORKER_EVENTS = (WorkerRegistered, WorkerEnded, SubsidyGranted, SubsidyDenied, SubsidyReleased, SubsidyWaitlisted)


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


class BudgetAllocatedV2(BudgetAllocated):
    """A budget's lines with its funding policy: what a registration it cannot cover now does."""

    funding_policy: FundingPolicy
    backdate_late_grants: bool = Field(description="Late grants cover from as far back as intake's backdating allows")


class BudgetThresholdCrossed(EventData):
    region_code: RegionCode
    fiscal_year: int
    threshold_percent: Literal[80, 95, 100]
    allocation_rupiah: Rupiah
    committed_rupiah: Rupiah
    crossed_at: datetime


class InvoiceIssued(EventData):
    """A month's invoice frozen: what the budget's region owes BPJS Ketenagakerjaan for that month."""

    region_code: RegionCode = Field(description="The budget charged: a regency/city's or a province's")
    fiscal_year: int
    month: Month
    members: int = Field(ge=0, description="Member-months billed")
    amount_rupiah: Rupiah
    issued_at: datetime


class InvoicePaid(EventData):
    """A month's invoice recorded as paid to BPJS Ketenagakerjaan, with what BPJS billed beside it."""

    region_code: RegionCode
    fiscal_year: int
    month: Month
    invoiced_rupiah: Rupiah = Field(description="Paritrana's invoice for the month")
    paid_rupiah: Rupiah = Field(description="What the region paid BPJS")
    paid_on: date
    reference: str = Field(description="The payment's reference (SP2D or transfer number); never personal data")
    paid_at: datetime = Field(description="When the payment was recorded")


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
    ("worker.registered", 2): WorkerRegisteredV2,
    ("worker.ended", 1): WorkerEnded,
    ("worker.ended", 2): WorkerEndedV2,
    ("subsidy.granted", 1): SubsidyGranted,
    ("subsidy.denied", 1): SubsidyDenied,
    ("subsidy.denied", 2): SubsidyDeniedV2,
    ("subsidy.waitlisted", 1): SubsidyWaitlisted,
    ("subsidy.released", 1): SubsidyReleased,
    ("budget.allocated", 1): BudgetAllocated,
    ("budget.allocated", 2): BudgetAllocatedV2,
    ("budget.threshold-crossed", 1): BudgetThresholdCrossed,
    ("invoice.issued", 1): InvoiceIssued,
    ("invoice.paid", 1): InvoicePaid,
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
