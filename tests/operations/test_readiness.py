"""/readyz turns 503 while a dependency is unreachable and 200 again by itself once it is back: the broker (stopped,
then started again on the same port) and, on PostgreSQL, the database (connections refused, then allowed)."""

from __future__ import annotations

import asyncpg
import pytest

from services.enrolment.app import create_app as create_enrolment
from services.subsidy.app import create_app as create_subsidy
from tests.support import eventually, postgres_admin_url, serving

pytestmark = pytest.mark.slow


async def readiness(server) -> tuple[int, dict]:
    async with server.client() as c:
        response = await c.get("/readyz")
    return response.status_code, response.json()["checks"]


async def test_readyz_follows_the_broker_down_and_up(isolated_broker, make_settings) -> None:
    settings = await make_settings(isolated_broker)
    async with serving(create_enrolment, settings) as server:
        assert await readiness(server) == (200, {"database": True, "access_store": True, "broker": True})
        isolated_broker.stop()

        async def down() -> bool:
            status, checks = await readiness(server)
            return status == 503 and checks == {"database": True, "access_store": True, "broker": False}
        await eventually(down, timeout=20)
        isolated_broker.start()

        async def up() -> bool:
            return (await readiness(server))[0] == 200
        await eventually(up, timeout=30)
        async with server.client() as c:  # and it still serves
            assert (await c.get("/healthz")).status_code == 200


async def test_readyz_follows_the_database_down_and_up(isolated_broker, make_settings, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("an open SQLite file cannot become unreachable to the process holding it")
    settings = await make_settings(isolated_broker)
    name = settings.database_url("subsidy").rsplit("/", 1)[1]
    admin = await asyncpg.connect(postgres_admin_url())
    try:
        async with serving(create_subsidy, settings) as server:
            assert (await readiness(server))[0] == 200
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)

            async def down() -> bool:
                status, checks = await readiness(server)
                return status == 503 and checks["database"] is False and checks["broker"] is True
            await eventually(down, timeout=20)
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

            async def up() -> bool:
                return (await readiness(server))[0] == 200
            await eventually(up, timeout=30)
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
