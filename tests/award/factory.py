"""Synthetic worker and subsidy events for the award tests, published on the real broker like enrolment and
subsidy would. No personal data: a worker_ref is a hash of a random id."""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.events import (
    BudgetAllocated,
    Envelope,
    FundingLine,
    MonthlyAmount,
    SubsidyDenied,
    SubsidyGranted,
    SubsidyReleased,
    WorkerEnded,
    WorkerRegistered,
    new_event,
)
from shared.kafka import EventProducer

PREMIUM = 16_800


@dataclass
class Worker:
    regency_code: str
    category: str = "farmer"
    sex: str = "L"
    age_band: str = "25-34"
    fiscal_year: int = 2025
    registration_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def attributes(self) -> dict[str, Any]:
        return {
            "registration_id": self.registration_id,
            "worker_ref": hashlib.sha256(self.registration_id.bytes).hexdigest(),
            "province_code": self.regency_code[:2], "regency_code": self.regency_code,
            "category": self.category, "sex": self.sex, "age_band": self.age_band,
        }

    def registered(self, at: datetime, start_month: int = 1, months: int = 12) -> WorkerRegistered:
        return WorkerRegistered(**self.attributes(), fiscal_year=self.fiscal_year, start_month=start_month,
                                months=months, channel="partner_app", captured_at=at, registered_at=at)

    def granted(self, at: datetime, start_month: int = 1, months: int = 12,
                funding_region_code: str | None = None) -> SubsidyGranted:
        schedule = [MonthlyAmount(month=m, amount_rupiah=PREMIUM) for m in range(start_month, start_month + months)]
        return SubsidyGranted(**self.attributes(), fiscal_year=self.fiscal_year, start_month=start_month,
                              months=months, amount_rupiah=PREMIUM * months, schedule=schedule,
                              funding_region_code=funding_region_code or self.regency_code, decided_at=at)

    def denied(self, at: datetime, start_month: int = 1, months: int = 12) -> SubsidyDenied:
        return SubsidyDenied(**self.attributes(), fiscal_year=self.fiscal_year, start_month=start_month,
                             months=months, amount_rupiah=PREMIUM * months, reason="budget_exhausted",
                             remaining_rupiah=0, decided_at=at)

    def ended(self, at: datetime, end_month: int) -> WorkerEnded:
        return WorkerEnded(**self.attributes(), fiscal_year=self.fiscal_year, end_month=end_month, reason="moved",
                           ended_at=at)

    def released(self, at: datetime, end_month: int, funding_region_code: str | None = None) -> SubsidyReleased:
        schedule = [MonthlyAmount(month=m, amount_rupiah=PREMIUM) for m in range(end_month + 1, 13)]
        return SubsidyReleased(**self.attributes(), fiscal_year=self.fiscal_year, end_month=end_month,
                               months_released=len(schedule), amount_rupiah=PREMIUM * len(schedule),
                               schedule=schedule, funding_region_code=funding_region_code or self.regency_code,
                               released_at=at)


def allocation(region_code: str, rupiah: int, at: datetime, fiscal_year: int = 2025) -> BudgetAllocated:
    return BudgetAllocated(region_code=region_code, fiscal_year=fiscal_year, allocation_rupiah=rupiah, changed_at=at,
                           lines=[FundingLine(line_id="apbd-1", source="APBD", amount_rupiah=rupiah,
                                              legal_reference="DPA 2025")])


def envelope(data: Any) -> Envelope[Any]:
    source = "/paritrana/enrolment" if isinstance(data, (WorkerRegistered, WorkerEnded)) else "/paritrana/subsidy"
    return new_event(data, source=source)


def key_of(data: Any) -> str:
    return getattr(data, "regency_code", None) or data.region_code


async def publish(producer: EventProducer, events: list[Envelope[Any]]) -> None:
    await producer.publish([(e, key_of(e.data)) for e in events])


WIB = timezone(timedelta(hours=7))


def at(day: int, month: int = 3, year: int = 2025, hour: int = 9) -> datetime:
    return datetime(year, month, day, hour, tzinfo=WIB)


def shuffled(items: list[Any], seed: int) -> list[Any]:
    out = list(items)
    random.Random(seed).shuffle(out)
    return out
