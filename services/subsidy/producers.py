"""Decisions and budget changes as CloudEvents for the outbox.

Event ids are name-based (UUIDv5) on what caused them: the worker event's id for a decision or release, the budget
and threshold for a crossing, the budget's revision for an allocation. A replay of the same worker events therefore
publishes the same decisions under the same ids, and consumers' inboxes drop them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.subsidy.domain import Denied, FundingDecision, Granted, Line, Released, ThresholdCrossed
from shared.events import (
    BudgetAllocated,
    BudgetThresholdCrossed,
    Envelope,
    FundingLine,
    MonthlyAmount,
    SubsidyDenied,
    SubsidyGranted,
    SubsidyReleased,
    WorkerAttributes,
    new_event,
)

SOURCE = "/paritrana/subsidy"
NAMESPACE = uuid.UUID("5d3f3c0e-8a7b-4f0e-9a43-7c1d2b6e9f10")
ATTRIBUTES = tuple(WorkerAttributes.model_fields)


def event_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts))


def _attributes(data: WorkerAttributes) -> dict[str, Any]:
    return {name: getattr(data, name) for name in ATTRIBUTES}


def _schedule(schedule: Sequence[tuple[int, int]]) -> list[MonthlyAmount]:
    return [MonthlyAmount(month=m, amount_rupiah=a) for m, a in schedule]


def decision_events(decisions: Sequence[FundingDecision], now: datetime) -> list[tuple[Envelope[Any], str]]:
    """(event, key) pairs: subsidy.* keyed by the registration's regency/city, budget.* by the budget's region."""
    out: list[tuple[Envelope[Any], str]] = []
    for d in decisions:
        if isinstance(d, Granted):
            data = d.event.data
            out.append((new_event(SubsidyGranted(
                **_attributes(data), fiscal_year=data.fiscal_year, start_month=d.schedule[0][0],
                months=len(d.schedule), amount_rupiah=d.amount_rupiah, schedule=_schedule(d.schedule),
                funding_region_code=d.budget.region_code, funding_line_id=d.line_id, decided_at=now,
            ), source=SOURCE, subject=str(data.registration_id), event_id=event_id("decision", d.event.id),
                time=now), data.regency_code))
        elif isinstance(d, Denied):
            data = d.event.data
            out.append((new_event(SubsidyDenied(
                **_attributes(data), fiscal_year=data.fiscal_year, start_month=d.schedule[0][0],
                months=len(d.schedule), amount_rupiah=d.amount_rupiah, reason=d.reason,
                remaining_rupiah=d.remaining_rupiah, decided_at=now,
            ), source=SOURCE, subject=str(data.registration_id), event_id=event_id("decision", d.event.id),
                time=now), data.regency_code))
        elif isinstance(d, Released):
            ending = d.event.data
            out.append((new_event(SubsidyReleased(
                **_attributes(ending), fiscal_year=d.registration.fiscal_year, end_month=min(12, max(1, d.end_month)),
                months_released=len(d.schedule), amount_rupiah=d.amount_rupiah, schedule=_schedule(d.schedule),
                funding_region_code=d.registration.funding_region_code, released_at=now,
            ), source=SOURCE, subject=str(ending.registration_id), event_id=event_id("released", d.event.id),
                time=now), ending.regency_code))
        elif isinstance(d, ThresholdCrossed):
            out.append(threshold_event(d, now))
    return out


def threshold_event(d: ThresholdCrossed, now: datetime) -> tuple[Envelope[Any], str]:
    return (new_event(BudgetThresholdCrossed(
        region_code=d.region_code, fiscal_year=d.fiscal_year, threshold_percent=d.threshold_percent,
        allocation_rupiah=d.allocation_rupiah, committed_rupiah=d.committed_rupiah, crossed_at=now,
    ), source=SOURCE, subject=f"{d.region_code}/{d.fiscal_year}",
        event_id=event_id("threshold", d.region_code, d.fiscal_year, d.threshold_percent), time=now), d.region_code)


def allocated_event(region_code: str, fiscal_year: int, revision: int, allocation: int, lines: Sequence[Line],
                    now: datetime) -> tuple[Envelope[Any], str]:
    return (new_event(BudgetAllocated(
        region_code=region_code, fiscal_year=fiscal_year, allocation_rupiah=allocation,
        lines=[FundingLine(line_id=x.line_id, source=x.source, amount_rupiah=x.amount_rupiah,
                           legal_reference=x.legal_reference) for x in lines],
        changed_at=now,
    ), source=SOURCE, subject=f"{region_code}/{fiscal_year}",
        event_id=event_id("allocated", region_code, fiscal_year, revision), time=now), region_code)
