"""Worker events as enrolment publishes them, an admin's API key, and what subsidy publishes: the test's input and
output on the real broker."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from services.subsidy.domain import FUNDING_SOURCES
from services.subsidy.models import outbox, registrations
from shared.access import AccessStore
from shared.events import (
    Envelope,
    WorkerEnded,
    WorkerEndedV2,
    WorkerRegistered,
    WorkerRegisteredV2,
    new_event,
    parse_event,
)
from shared.kafka import EventProducer, read_to_end
from shared.outbox import backlog
from shared.settings import Settings
from shared.topics import DECISIONS
from tests.support import eventually

MONTHLY = 16_800
YEAR = 2024


def registered(regency: str = "36.72", *, year: int = YEAR, start: int = 1, months: int = 12,
               programme: str = "bpu-jkk-jkm", renews: uuid.UUID | None = None, replaces: uuid.UUID | None = None
               ) -> Envelope[WorkerRegistered]:
    registration_id = uuid.uuid4()
    now = datetime.now(UTC)
    links = {"renews": renews, "replaces": replaces} if renews or replaces else {}
    return new_event((WorkerRegisteredV2 if links else WorkerRegistered)(
        registration_id=registration_id, worker_ref=hashlib.sha256(registration_id.bytes).hexdigest(),
        province_code=regency[:2], regency_code=regency, category="linmas", sex="P", age_band="35-44",
        programme=programme, fiscal_year=year, start_month=start, months=months, channel="field_kit",
        captured_at=now, registered_at=now, **links,
    ), source="/paritrana/enrolment", subject=str(registration_id))


def ended(registration: Envelope[WorkerRegistered], end_month: int, reason: str = "moved") -> Envelope[WorkerEnded]:
    data = registration.data
    attributes = {k: getattr(data, k) for k in ("registration_id", "worker_ref", "province_code", "regency_code",
                                                "category", "sex", "age_band", "programme")}
    return new_event((WorkerEndedV2 if reason == "replaced" else WorkerEnded)(
        **attributes, fiscal_year=data.fiscal_year, end_month=end_month, reason=reason, ended_at=datetime.now(UTC)),
        source="/paritrana/enrolment")


async def publish(settings: Settings, events: list[Envelope[Any]]) -> None:
    producer = EventProducer(settings, "enrolment")
    await producer.start()
    try:
        for start in range(0, len(events), 500):
            await producer.publish([(e, e.data.regency_code) for e in events[start:start + 500]])
    finally:
        await producer.stop()


async def api_key(settings: Settings, scopes: list[str], regions: list[str]) -> str:
    store = AccessStore.from_url(settings.database_url("access"))
    try:
        await store.database.migrate()
        return (await store.create("test", "staff", scopes, regions)).secret
    finally:
        await store.database.dispose()


def lines(*amounts: int, prefix: str = "apbd", policy: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"lines": [{"line_id": f"{prefix}-{i}", "source": FUNDING_SOURCES[i % len(FUNDING_SOURCES)],
                                       "amount_rupiah": amount, "legal_reference": f"Perda APBD {YEAR} lampiran {i}"}
                                      for i, amount in enumerate(amounts)]}
    if policy is not None:
        body["funding_policy"] = policy
    return body


async def decided(database, count: int) -> bool:
    async with database.reading() as session:
        return (await session.execute(select(func.count()).select_from(registrations))).scalar_one() >= count


async def published(settings: Settings, database) -> list[Envelope[Any]]:
    """Everything on subsidy.decisions, once the outbox has been drained."""
    async def drained() -> bool:
        return await backlog(database, outbox) == 0

    await eventually(drained, timeout=30)
    return [parse_event(m.value) async for batch in read_to_end(settings.bootstrap_servers, [DECISIONS.name],
                                                                client_id="test-reader") for m in batch]


def types(events: list[Envelope[Any]]) -> Counter:
    return Counter(e.type for e in events)
