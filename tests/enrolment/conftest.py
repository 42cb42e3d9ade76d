"""One enrolment service per test module and backend, on the session broker, with keys for several regions.
Tests keep out of each other's way with fresh registration ids and NIKs, so they can share it."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import func, select

from services.enrolment.app import create_app
from services.enrolment.models import outbox, registrations
from shared.events import parse_event
from shared.kafka import ensure_topics
from shared.settings import Settings
from shared.topics import WORKERS
from tests.conftest import BACKENDS
from tests.enrolment.sample import CLOCK_START
from tests.support import ServiceServer, create_postgres_database, drop_postgres_database, postgres_admin_url, serving


@dataclass
class Published:
    key: str
    raw: bytes
    event: Any


@dataclass
class TopicWatch:
    """Everything on enrolment.workers since the watch started reading, by subject (the registration id)."""

    bootstrap: str
    by_subject: dict[str, list[Published]] = field(default_factory=lambda: defaultdict(list))
    task: asyncio.Task | None = None

    async def run(self) -> None:
        # No group: every partition from the start, without waiting for a group join.
        consumer = AIOKafkaConsumer(WORKERS.name, bootstrap_servers=self.bootstrap, group_id=None,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            while True:
                for _tp, messages in (await consumer.getmany(timeout_ms=200)).items():
                    for m in messages:
                        event = parse_event(m.value)
                        self.by_subject[event.subject].append(Published(m.key.decode(), m.value, event))
        finally:
            await consumer.stop()

    async def events_of(self, subject: str, count: int = 1, timeout: float = 20) -> list[Published]:
        async with asyncio.timeout(timeout):
            while len(self.by_subject.get(subject, ())) < count:
                await asyncio.sleep(0.05)
        return self.by_subject[subject]


@dataclass
class Enrolment:
    server: ServiceServer
    settings: Settings
    keys: dict[str, str]

    def client(self, key: str | None = "national"):
        return self.server.client(self.keys[key] if key else None)

    @property
    def database(self):
        return self.server.runtime.database

    async def count_rows(self, *where: Any) -> int:
        async with self.database.reading() as session:
            return (await session.execute(select(func.count()).select_from(registrations).where(*where))).scalar_one()

    async def count_events(self, registration_id: str) -> int:
        """Outbox rows about one registration (the outbox keeps sent rows)."""
        async with self.database.reading() as session:
            payloads = (await session.execute(select(outbox.c.payload))).scalars().all()
        return sum(parse_event(p).subject == registration_id for p in payloads)


KEYS = {
    "national": (["registrations:write", "registrations:read"], ["*"]),
    "banten": (["registrations:write", "registrations:read"], ["36"]),
    "cilegon_kit": (["registrations:write"], ["36.72"]),
    "jabar_reader": (["registrations:read"], ["32"]),
    "admin": (["admin"], ["*"]),
}


@pytest.fixture(scope="module", params=BACKENDS)
async def enrolment(request: pytest.FixtureRequest, broker, tmp_path_factory) -> AsyncIterator[Enrolment]:
    if request.param == "postgresql" and not postgres_admin_url():
        pytest.skip("PostgreSQL not configured: set PARITRANA_TEST_POSTGRES_URL")
    tmp: Path = tmp_path_factory.mktemp("enrolment")
    created: list[str] = []

    async def url(name: str) -> str:
        if request.param == "sqlite":
            return f"sqlite+aiosqlite:///{tmp / (name + '.db')}"
        created.append(await create_postgres_database(postgres_admin_url()))
        return created[-1]

    settings = Settings(
        data_dir=tmp / "var", kafka_bootstrap_servers=broker.bootstrap_servers,
        enrolment_database_url=await url("enrolment"), access_database_url=await url("access"),
        worker_ref_key="test-worker-ref-key", log_json=False, kafka_session_timeout_ms=2000,
        # A group of its own, so no other module's service shares the decisions it consumes.
        kafka_client_prefix=f"t{uuid.uuid4().hex[:8]}", clock_start=CLOCK_START,
    )
    await ensure_topics(settings)
    try:
        async with serving(create_app, settings) as server:
            access = server.runtime.access
            keys = {name: (await access.create(name, "partner_app", scopes, regions)).secret
                    for name, (scopes, regions) in KEYS.items()}
            yield Enrolment(server, settings, keys)
    finally:
        for made in created:
            await drop_postgres_database(postgres_admin_url(), made)


@pytest.fixture(scope="module")
async def watch(broker) -> AsyncIterator[TopicWatch]:
    watch = TopicWatch(broker.bootstrap_servers)
    watch.task = asyncio.create_task(watch.run())
    yield watch
    watch.task.cancel()
    try:
        await watch.task
    except asyncio.CancelledError:
        pass
