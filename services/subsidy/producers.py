"""Decisions and budget changes as CloudEvents for the outbox.

Event ids are name-based (UUIDv5) on what caused them: the worker event's id for a decision or release, the budget
and threshold for a crossing, the budget's revision for an allocation. A replay of the same worker events therefore
publishes the same decisions under the same ids, and consumers' inboxes drop them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from services.subsidy.domain import (
    Denied,
    FundingDecision,
    Granted,
    LateGranted,
    Line,
    Released,
    ThresholdCrossed,
    WaitEnded,
    Waiter,
    Waitlisted,
)
from shared.events import (
    BudgetAllocatedV2,
    BudgetThresholdCrossed,
    Envelope,
    FundingLine,
    InvoiceIssued,
    InvoicePaid,
    MonthlyAmount,
    SubsidyDenied,
    SubsidyDeniedV2,
    SubsidyGranted,
    SubsidyReleased,
    SubsidyWaitlisted,
    WorkerAttributes,
    new_event,
)
from shared.vocabulary import FundingPolicy

SOURCE = "/paritrana/subsidy"
NAMESPACE = uuid.UUID("5d3f3c0e-8a7b-4f0e-9a43-7c1d2b6e9f10")
ATTRIBUTES = tuple(WorkerAttributes.model_fields)


def event_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts))


def _attributes(data: WorkerAttributes) -> dict[str, Any]:
    return {name: getattr(data, name) for name in ATTRIBUTES}


def _schedule(schedule: Sequence[tuple[int, int]]) -> list[MonthlyAmount]:
    return [MonthlyAmount(month=m, amount_rupiah=a) for m, a in schedule]


def _waiter_attributes(w: Waiter) -> dict[str, Any]:
    return {"registration_id": uuid.UUID(w.registration_id), "worker_ref": w.worker_ref,
            "province_code": w.province_code, "regency_code": w.regency_code, "category": w.category, "sex": w.sex,
            "age_band": w.age_band, "programme": w.programme}


def decision_events(decisions: Sequence[FundingDecision], now: datetime,
                    arrivals: dict[str, tuple[int, int]] | None = None) -> list[tuple[Envelope[Any], str]]:
    """(event, key) pairs: subsidy.* keyed by the registration's regency/city, budget.* by the budget's region.
    ``arrivals`` gives each newly waiting registration its (arrival, position)."""
    out: list[tuple[Envelope[Any], str]] = []
    for d in decisions:
        if isinstance(d, LateGranted):
            w = d.waiter
            out.append((new_event(SubsidyGranted(
                **_waiter_attributes(w), fiscal_year=w.fiscal_year, start_month=d.schedule[0][0],
                months=len(d.schedule), amount_rupiah=d.amount_rupiah, schedule=_schedule(d.schedule),
                funding_region_code=d.budget.region_code, funding_line_id=d.line_id, decided_at=now,
            ), source=SOURCE, subject=w.registration_id, event_id=event_id("late-decision", w.registration_id),
                time=now), w.regency_code))
        elif isinstance(d, WaitEnded):
            w = d.waiter
            out.append((new_event(SubsidyDeniedV2(
                **_waiter_attributes(w), fiscal_year=w.fiscal_year, start_month=w.start_month,
                months=w.last_month - w.start_month + 1, amount_rupiah=d.amount_rupiah, reason=d.reason,
                remaining_rupiah=0, decided_at=now,
            ), source=SOURCE, subject=w.registration_id, event_id=event_id("late-decision", w.registration_id),
                time=now), w.regency_code))
        elif isinstance(d, Waitlisted):
            data = d.event.data
            arrival, position = (arrivals or {})[str(data.registration_id)]
            out.append((new_event(SubsidyWaitlisted(
                **_attributes(data), fiscal_year=data.fiscal_year, start_month=d.schedule[0][0],
                months=len(d.schedule), amount_rupiah=d.amount_rupiah, arrival=arrival, position=position,
                decided_at=now,
            ), source=SOURCE, subject=str(data.registration_id), event_id=event_id("decision", d.event.id),
                time=now), data.regency_code))
        elif isinstance(d, Granted):
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
                    policy: FundingPolicy, backdate_late_grants: bool, now: datetime) -> tuple[Envelope[Any], str]:
    return (new_event(BudgetAllocatedV2(
        region_code=region_code, fiscal_year=fiscal_year, allocation_rupiah=allocation,
        lines=[FundingLine(line_id=x.line_id, source=x.source, amount_rupiah=x.amount_rupiah,
                           legal_reference=x.legal_reference) for x in lines],
        changed_at=now, funding_policy=policy, backdate_late_grants=backdate_late_grants,
    ), source=SOURCE, subject=f"{region_code}/{fiscal_year}",
        event_id=event_id("allocated", region_code, fiscal_year, revision), time=now), region_code)


def invoice_issued_event(fiscal_year: int, month: int, region_code: str, members: int, amount: int,
                         now: datetime) -> tuple[Envelope[Any], str]:
    """invoice.issued for a region's frozen invoice; its id follows from the invoice, so a month is issued once."""
    return (new_event(InvoiceIssued(
        region_code=region_code, fiscal_year=fiscal_year, month=month, members=members, amount_rupiah=amount,
        issued_at=now,
    ), source=SOURCE, subject=f"{region_code}/{fiscal_year}-{month:02d}",
        event_id=event_id("invoice-issued", region_code, fiscal_year, month), time=now), region_code)


def invoice_paid_event(fiscal_year: int, month: int, region_code: str, invoiced: int, paid: int, paid_on: date,
                       reference: str, now: datetime) -> tuple[Envelope[Any], str]:
    return (new_event(InvoicePaid(
        region_code=region_code, fiscal_year=fiscal_year, month=month, invoiced_rupiah=invoiced, paid_rupiah=paid,
        paid_on=paid_on, reference=reference, paid_at=now,
    ), source=SOURCE, subject=f"{region_code}/{fiscal_year}-{month:02d}",
        event_id=event_id("invoice-paid", region_code, fiscal_year, month), time=now), region_code)
