"""The worker-event consumer: one database transaction per polled batch, holding the inbox claim, the decisions,
the guarded budget commitments, the ledger and the outbox rows together. Offsets are committed after it."""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy.exc import DBAPIError, IntegrityError

from shared.clock import Clock
from shared.database import Database
from shared.inbox import claim_new
from shared.kafka import Consumed
from shared.outbox import enqueue

from services.subsidy import repository
from services.subsidy.domain import (
    Denied, Granted, Plan, RateBook, Released, bill, billing_months_needed, budget_keys, decide,
)
from services.subsidy.metrics import DECISIONS, record_utilisation
from services.subsidy.models import inbox, outbox
from services.subsidy.producers import decision_events

log = logging.getLogger(__name__)

# Races that another consumer's transaction causes (an inbox or registration id it claimed first, a deadlock, a
# budget moved under us): the batch is decided again, and finds their effect already there.
ATTEMPTS = 5
RETRY_SQLSTATES = {"40001", "40P01"}


def _is_race(exc: BaseException) -> bool:
    if isinstance(exc, (repository.ConcurrentChange, IntegrityError)):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES


class WorkerEventHandler:
    def __init__(self, database: Database, clock: Clock, *, publish: bool = True) -> None:
        self.database, self.clock, self.publish = database, clock, publish
        self.rates: RateBook | None = None

    async def __call__(self, batch: list[Consumed]) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.database.transaction() as session:
                    plan = await self._decide(session, batch)
                break
            except Exception as exc:
                if attempt == ATTEMPTS or not _is_race(exc):
                    raise
                log.info("subsidy: batch raced another consumer (%s), deciding it again", type(exc).__name__)
        if plan is None:
            return
        outcomes = Counter({Granted: "granted", Denied: "denied", Released: "released"}.get(type(d))
                           for d in plan.decisions)
        for outcome, count in outcomes.items():
            if outcome:
                DECISIONS.labels(outcome).inc(count)
        for budget in plan.touched_budgets.values():
            record_utilisation(budget.region_code, budget.fiscal_year, budget.committed, budget.allocation)

    async def _decide(self, session, batch: list[Consumed]) -> Plan | None:  # noqa: ANN001 - AsyncSession
        fresh = await claim_new(session, inbox, batch)
        if not fresh:
            return None
        events = [c.event for c in fresh]
        registrations = await repository.load_registrations(
            session, (str(e.data.registration_id) for e in events if hasattr(e.data, "registration_id")))
        charged = {(r.funding_region_code, r.fiscal_year) for r in registrations.values() if r.budget_id is not None}
        budgets, seen = await repository.lock_budgets(session, budget_keys(events) | charged)
        if self.rates is None:
            # Rates change only with a migration, so one book serves the process's life.
            self.rates = await repository.rate_book(session)
        plan = decide(events, budgets, registrations, self.rates)
        closed = await repository.closed_months(session, billing_months_needed(plan.ledger)) if plan.ledger else set()
        ledger, carried = bill(plan.ledger, closed)
        now = self.clock.now()
        await repository.apply(session, plan, seen, ledger, carried, now)
        if self.publish:
            await enqueue(session, outbox, decision_events(plan.decisions, now))
        return plan
