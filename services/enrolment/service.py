"""The enrolment use cases: register one worker, register a batch, end a registration, read and list them, and
apply the subsidy service's decisions. Routes and the decisions consumer call these; they hold no HTTP shapes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from prometheus_client import Counter

from services.enrolment.contract import read_intake
from services.enrolment.domain import IntakeRules, Problem, RegistrationRecord, ValidIntake, end_month_for, judge_intake
from services.enrolment.models import inbox
from services.enrolment.repository import Registrations, apply_decisions
from shared.access import Principal
from shared.access.dependencies import forbid_outside
from shared.categories import category_code
from shared.clock import FISCAL_TZ
from shared.database import Database
from shared.http import HttpProblem
from shared.inbox import claim_new
from shared.kafka import Consumed
from shared.vocabulary import EndReason

REGISTRATIONS = Counter("paritrana_enrolment_registrations_total", "Registration items by outcome", ["outcome"])
OUTCOMES = ("accepted", "duplicate", "conflict", "invalid")
Outcome = Literal["accepted", "duplicate", "conflict", "invalid"]
# A region no non-national key covers: 403 for unknown ids, exactly as for ids outside the key.
NOWHERE = ""
OUTSIDE_REGION = Problem("regency_code", "outside_region", "This key may not act in that region.")


def judge_submission(raw: Any, rules: IntakeRules,
                     now: datetime) -> tuple[ValidIntake | None, list[Problem]]:
    """One submitted registration through the contract and the rules: the intake, or every problem of both."""
    form, problems = read_intake(raw)
    intake, broken_rules = judge_intake(form, rules, now)
    return intake, problems + broken_rules


@dataclass
class ItemResult:
    """What became of one submitted registration."""

    outcome: Outcome
    registration_id: str | None
    problems: list[Problem] = field(default_factory=list)
    existing_registration_id: str | None = None
    # The registration as first accepted, for a single registration's answer (accepted or duplicate).
    accepted: RegistrationRecord | None = None


async def register_one(registrations: Registrations, rules: IntakeRules, principal: Principal, raw: Any,
                       now: datetime) -> ItemResult:
    intake, problems = judge_submission(raw, rules, now)
    if intake is None:
        REGISTRATIONS.labels("invalid").inc()
        return ItemResult("invalid", None, problems)
    forbid_outside(principal, intake.regency_code)
    verdict = await registrations.register_single(intake, principal.key_id, now)
    REGISTRATIONS.labels(verdict.verdict).inc()
    if verdict.verdict == "accepted":
        return ItemResult("accepted", intake.registration_id, accepted=intake.record(principal.key_id, now))
    if verdict.verdict == "duplicate":
        return ItemResult("duplicate", intake.registration_id,
                          accepted=await registrations.get(intake.registration_id))
    return ItemResult("conflict", intake.registration_id, verdict.problems, verdict.existing_registration_id)


async def register_batch(registrations: Registrations, rules: IntakeRules, principal: Principal, items: list[Any],
                         now: datetime) -> list[ItemResult]:
    """One result per item, in order; never all-or-nothing."""
    if len(items) > rules.batch_limit:
        raise HttpProblem(422, "too_long", f"A batch holds at most {rules.batch_limit} items.", field="items")
    results: list[ItemResult | None] = [None] * len(items)
    intakes, positions = [], []
    for index, item in enumerate(items):
        intake, problems = judge_submission(item, rules, now)
        if intake is not None and not principal.may_act_in(intake.regency_code):
            intake, problems = None, [OUTSIDE_REGION]
        if intake is None:
            results[index] = ItemResult("invalid", _submitted_id(item), problems)
        else:
            intakes.append(intake)
            positions.append(index)
    verdicts = await registrations.register(intakes, principal.key_id, now)
    for index, intake, verdict in zip(positions, intakes, verdicts):
        results[index] = ItemResult(verdict.verdict, intake.registration_id, verdict.problems,
                                    verdict.existing_registration_id)
    done = [r for r in results if r is not None]
    for outcome in OUTCOMES:
        REGISTRATIONS.labels(outcome).inc(sum(r.outcome == outcome for r in done))
    return done


def _submitted_id(item: Any) -> str | None:
    """The id of an invalid item, when it is a UUID, so a field kit can match the result to its record."""
    raw_id = item.get("registration_id") if isinstance(item, dict) else None
    return canonical_id(raw_id) if isinstance(raw_id, str) else None


def canonical_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


async def visible(registrations: Registrations, principal: Principal, registration_id: str) -> RegistrationRecord:
    """A registration the key may see: 403 outside its regions, and for a regional key also when unknown."""
    canonical = canonical_id(registration_id)
    record = await registrations.get(canonical) if canonical else None
    if record is None:
        if not principal.national:
            forbid_outside(principal, NOWHERE)
        raise HttpProblem(404, "not_found", "No registration has this id.")
    forbid_outside(principal, record.regency_code)
    return record


async def end(registrations: Registrations, principal: Principal, registration_id: str, reason: EndReason,
              requested_end: str | None, now: datetime) -> RegistrationRecord:
    """End a live registration's coverage, publishing worker.ended; resending the same end returns it ended."""
    record = await visible(registrations, principal, registration_id)
    end_month, problems = end_month_for(requested_end, record.fiscal_year, record.start_month, record.months,
                                        now.astimezone(FISCAL_TZ).date())
    if end_month is None:
        [problem] = problems
        raise HttpProblem(422, problem.code, problem.message, field=problem.field)
    await registrations.end(record, reason, end_month, now)
    current = await registrations.get(record.registration_id)
    assert current is not None
    if current.status == "ended" and current.status_reason == reason and (
            requested_end is None or current.end_month == end_month):
        return current
    raise HttpProblem(409, "registration_not_live", "Only a pending or active registration can be ended.")


def category_filter(category: str | None) -> str | None:
    """The listing's category filter as a code: any name or alias the intake takes."""
    if category is None:
        return None
    code = category_code(category)
    if code is None:
        raise HttpProblem(422, "unknown_category", "The category is not a known worker category.", field="category")
    return code


async def apply_subsidy_decisions(database: Database, batch: list[Consumed], now: datetime) -> None:
    """Record every event of the batch in the inbox and apply the new decisions, in one transaction."""
    # Ahead of the intake's writers (SQLite): in a million-registration wave this consumer otherwise fell
    # 729,094 decisions behind, and partners read their registrations back as pending for minutes.
    async with database.transaction(first=True) as session:
        fresh = await claim_new(session, inbox, batch)
        await apply_decisions(session, fresh, now)
