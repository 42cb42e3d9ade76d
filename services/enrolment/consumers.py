"""Subsidy decisions applied to registrations: subsidy.granted makes a pending registration active,
subsidy.denied makes it unfunded. Every event on the topic is recorded in the inbox, in the same transaction."""

from __future__ import annotations

from services.enrolment.service import apply_subsidy_decisions
from shared.clock import Clock
from shared.database import Database
from shared.kafka import Consumed, Handler


def decisions_handler(database: Database, clock: Clock) -> Handler:
    async def on_decisions(batch: list[Consumed]) -> None:
        await apply_subsidy_decisions(database, batch, clock.now())

    return on_decisions
