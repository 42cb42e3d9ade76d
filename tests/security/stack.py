"""The three services in-process against real databases and a real broker, with keys for the security tests.

Keys are issued for two provinces that never overlap: Banten (36) owns the data the tests create, and Jawa Barat
(32) is the "other region" whose keys must never reach it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.award.app import create_app as create_award
from services.enrolment.app import create_app as create_enrolment
from services.subsidy.app import create_app as create_subsidy
from shared.broker import EmbeddedBroker
from shared.kafka import ensure_topics
from shared.settings import Settings
from tests.conftest import start_broker
from tests.enrolment.sample import CLOCK_START
from tests.support import ServiceServer, create_postgres_database, drop_postgres_database, postgres_admin_url, serving

APPS = {"enrolment": create_enrolment, "subsidy": create_subsidy, "award": create_award}
BANTEN, CILEGON, JABAR, BANDUNG = "36", "36.72", "32", "32.73"
READ_WRITE = ["registrations:read", "registrations:write"]

# name -> (scopes, regions, own rate limit or None for the service default)
KEYS: dict[str, tuple[list[str], list[str], float | None]] = {
    "admin": (["admin"], ["*"], 100_000.0),
    "banten_admin": (["admin"], [BANTEN], 100_000.0),
    "banten": (READ_WRITE, [BANTEN], 100_000.0),
    "jabar_admin": (["admin"], [JABAR], 100_000.0),
    "jabar": (READ_WRITE, [JABAR], 100_000.0),
    "jabar_kit": (["registrations:write"], [BANDUNG], 100_000.0),
    "national_staff": (READ_WRITE, ["*"], 100_000.0),
}


@dataclass
class Stack:
    servers: dict[str, ServiceServer]
    settings: Settings
    keys: dict[str, str]
    backend: str

    def client(self, service: str, key: str | None = "admin") -> httpx.AsyncClient:
        return self.servers[service].client(self.keys[key] if key else None)

    @property
    def access(self):
        return self.servers["enrolment"].runtime.access


@asynccontextmanager
async def running_stack(broker: EmbeddedBroker, backend: str, tmp: Path, services: tuple[str, ...] = tuple(APPS),
                        **overrides: object) -> AsyncIterator[Stack]:
    """Fresh databases on `backend`, a consumer group prefix of its own, the services started one after another
    (each migrates the shared access store), then the keys above."""
    created: list[str] = []

    async def url(name: str) -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{tmp / (name + '.db')}"
        created.append(await create_postgres_database(postgres_admin_url()))  # type: ignore[arg-type]
        return created[-1]

    settings = Settings(
        data_dir=tmp / "var", kafka_bootstrap_servers=broker.bootstrap_servers,
        enrolment_database_url=await url("enrolment"), subsidy_database_url=await url("subsidy"),
        award_database_url=await url("award"), access_database_url=await url("access"),
        worker_ref_key="test-worker-ref-key", log_json=False, kafka_session_timeout_ms=2000,
        kafka_client_prefix=f"sec{uuid.uuid4().hex[:8]}", clock_start=CLOCK_START, **overrides,
    )
    await ensure_topics(settings)
    try:
        async with AsyncExitStack() as exits:
            servers = {name: await exits.enter_async_context(serving(APPS[name], settings)) for name in services}
            access = next(iter(servers.values())).runtime.access
            keys = {}
            for name, (scopes, regions, rate) in KEYS.items():
                keys[name] = (await access.create(name, "staff", scopes, regions, rate_limit_per_second=rate)).secret
            yield Stack(servers, settings, keys, backend)
    finally:
        for made in created:
            await drop_postgres_database(postgres_admin_url(), made)  # type: ignore[arg-type]


@asynccontextmanager
async def stack_on_its_own_broker(backend: str, tmp_path_factory: pytest.TempPathFactory, name: str
                                  ) -> AsyncIterator[Stack]:
    """A module's stack on a broker of its own. Its consumer groups are new, so on the session broker they would
    first replay every event the suite published before them (tens of thousands, in other regions' budgets too),
    and what a module counts would include another backend's events."""
    if backend == "postgresql" and not postgres_admin_url():
        pytest.skip("PostgreSQL not configured: set PARITRANA_TEST_POSTGRES_URL")
    broker = start_broker(tmp_path_factory.mktemp(f"{name}-broker"))
    try:
        async with running_stack(broker, backend, tmp_path_factory.mktemp(name)) as running:
            yield running
    finally:
        broker.stop()
