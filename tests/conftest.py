"""Fixtures: a real Tansu broker, SQLite and (when PARITRANA_TEST_POSTGRES_URL is set) PostgreSQL databases,
and Settings that point a service at them. There is no mock broker anywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from shared.broker import EmbeddedBroker
from shared.kafka import ensure_topics
from shared.settings import Settings
from tests.support import create_postgres_database, drop_postgres_database, free_port, postgres_admin_url

BACKENDS = ["sqlite", "postgresql"]


def start_broker(log_dir: Path) -> EmbeddedBroker:
    broker = EmbeddedBroker(free_port(), log_dir / "broker.log")
    broker.start()
    return broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One real broker for the session. Tests that count what is on a topic use `isolated_broker`."""
    broker = start_broker(tmp_path_factory.mktemp("broker"))
    yield broker
    broker.stop()


@pytest.fixture
def isolated_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of the test's own: empty topics, nothing left over from other tests."""
    broker = start_broker(tmp_path)
    yield broker
    broker.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over SQLite and PostgreSQL; PostgreSQL skips when no server is configured."""
    if request.param == "postgresql" and not postgres_admin_url():
        pytest.skip("PostgreSQL not configured: set PARITRANA_TEST_POSTGRES_URL=postgresql://USER@HOST:5432/DB "
                    "to run these too")
    return request.param


@pytest.fixture
async def database_url(backend: str, tmp_path: Path) -> AsyncIterator[Callable[[str], object]]:
    """database_url(name) -> a fresh, empty database URL of the test's backend (dropped afterwards)."""
    created: list[str] = []

    async def make(name: str) -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / (name + '.db')}"
        url = await create_postgres_database(postgres_admin_url())  # type: ignore[arg-type]
        created.append(url)
        return url

    yield make
    for url in created:
        await drop_postgres_database(postgres_admin_url(), url)  # type: ignore[arg-type]


@pytest.fixture
async def make_settings(database_url, tmp_path: Path) -> Callable[..., object]:
    """make_settings(broker, **overrides) -> Settings with fresh databases for every service and the access store."""
    urls: dict[str, str] = {}

    async def make(broker: EmbeddedBroker, **overrides: object) -> Settings:
        for name in ("enrolment", "subsidy", "award", "access"):
            if name not in urls:
                urls[name] = await database_url(name)
        settings = Settings(
            data_dir=tmp_path / "var",
            kafka_bootstrap_servers=broker.bootstrap_servers,
            enrolment_database_url=urls["enrolment"],
            subsidy_database_url=urls["subsidy"],
            award_database_url=urls["award"],
            access_database_url=urls["access"],
            worker_ref_key="test-worker-ref-key",
            log_json=False,
            kafka_session_timeout_ms=2000,
            **overrides,
        )
        await ensure_topics(settings)
        return settings

    return make
