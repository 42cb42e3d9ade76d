"""The consumer side of exactly-once: an inbox of processed event ids, written in the same transaction as the
change the events cause. A redelivered or replayed event finds its id there and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.kafka import Consumed


def inbox_table(metadata: MetaData, name: str = "inbox") -> Table:
    return Table(
        name, metadata,
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )


async def claim_new(session: AsyncSession, inbox: Table, batch: list[Consumed]) -> list[Consumed]:
    """Record the batch's unseen events in the inbox and return them, in order; seen ones are dropped.

    Two consumers racing on the same event both insert its id; one transaction fails on the primary key and its
    batch is retried, finding the id already there.
    """
    ids = [str(c.event.id) for c in batch]  # once each: formatting a UUID was a twentieth of a replay's time
    unique = list(dict.fromkeys(ids))
    seen: set[str] = set()
    for start in range(0, len(unique), 500):
        chunk = unique[start:start + 500]
        seen.update(await session.scalars(select(inbox.c.event_id).where(inbox.c.event_id.in_(chunk))))
    fresh: list[Consumed] = []
    rows = []
    now = datetime.now(UTC)
    for c, event_id in zip(batch, ids):
        if event_id not in seen:
            seen.add(event_id)
            fresh.append(c)
            rows.append({"event_id": event_id, "event_type": c.event.type, "processed_at": now})
    if rows:
        await session.execute(insert(inbox), rows)
    return fresh
