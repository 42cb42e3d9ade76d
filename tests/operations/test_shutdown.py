"""SIGTERM drains a service: `paritrana serve X` stops taking requests, finishes those in flight, publishes the
outbox rows it holds, commits its consumer offsets and exits within 10 s."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, select

from services.enrolment.models import outbox as enrolment_outbox
from services.enrolment.models import registrations
from services.subsidy.models import inbox as subsidy_inbox
from shared.access import AccessStore
from shared.database import Database
from shared.settings import Settings
from shared.topics import WORKERS
from tests.enrolment.sample import CLOCK_START, item
from tests.support import free_port, wait_ready

pytestmark = pytest.mark.slow
EXIT_WITHIN = 10.0


def service_env(settings: Settings, service: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITRANA_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update({
        "PARITRANA_DATA_DIR": str(settings.data_dir), f"PARITRANA_{service.upper()}_PORT": str(port),
        "PARITRANA_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "PARITRANA_KAFKA_CLIENT_PREFIX": settings.kafka_client_prefix,
        "PARITRANA_KAFKA_SESSION_TIMEOUT_MS": "2000", "PARITRANA_CLOCK_START": CLOCK_START,
        "PARITRANA_WORKER_REF_KEY": settings.worker_ref_key, "PARITRANA_LOG_JSON": "false",
        "PARITRANA_RATE_LIMIT_PER_SECOND": "100000", "PARITRANA_RATE_LIMIT_BURST": "100000",
        **{f"PARITRANA_{name.upper()}_DATABASE_URL": settings.database_url(name)
           for name in ("enrolment", "subsidy", "access")},
    })
    return env


async def start(settings: Settings, service: str) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paritrana", "serve", service, env=service_env(settings, service, port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    await wait_ready(url, timeout=60)
    return process, url


async def terminate(process: asyncio.subprocess.Process) -> tuple[float, str]:
    """SIGTERM, then the seconds until the process exited (failing past the limit) and its output."""
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        output = (await asyncio.wait_for(process.communicate(), EXIT_WITHIN))[0].decode(errors="replace")
    except TimeoutError:
        process.kill()
        raise AssertionError(f"still running {EXIT_WITHIN}s after SIGTERM") from None
    took = time.monotonic() - sent
    # uvicorn re-raises the signal once its shutdown is complete, so a clean exit is "terminated by SIGTERM".
    assert process.returncode in (0, -signal.SIGTERM), output[-3000:]
    assert "Application shutdown complete" in output and "Traceback" not in output, output[-3000:]
    return took, output


async def test_sigterm_drains_requests_outbox_and_offsets_then_exits(isolated_broker, make_settings) -> None:
    settings = await make_settings(isolated_broker, kafka_client_prefix=f"op{uuid.uuid4().hex[:6]}")
    access = AccessStore.from_url(settings.database_url("access"))
    await access.database.migrate()
    key = (await access.create("ops", "staff", ["admin"], ["*"], rate_limit_per_second=100_000)).secret
    await access.database.dispose()

    # Enrolment: batches in flight when SIGTERM arrives are answered in full, and their events published.
    enrolment, url = await start(settings, "enrolment")
    batches = [[item("36.72") for _ in range(300)] for _ in range(6)]
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        in_flight = [asyncio.create_task(client.post("/v1/registrations/batch", json={"items": b})) for b in batches]
        await asyncio.sleep(0.3)
        took, _ = await asyncio.gather(terminate(enrolment), asyncio.gather(*in_flight, return_exceptions=True))
        took = took[0]
        answers = [t.result() for t in in_flight]
        assert all(isinstance(a, httpx.Response) and a.status_code == 200 for a in answers), answers
        assert sum(a.json()["counts"]["accepted"] for a in answers) == 1800
        with pytest.raises(httpx.ConnectError):  # no longer taking requests
            await client.get("/healthz")
    print(f"enrolment exited {took:.1f}s after SIGTERM")
    database = Database(settings.database_url("enrolment"))
    try:
        async with database.reading() as session:
            assert (await session.execute(select(func.count()).select_from(registrations))).scalar_one() == 1800
            unsent = (await session.execute(select(func.count()).select_from(enrolment_outbox)
                                            .where(enrolment_outbox.c.sent_at.is_(None)))).scalar_one()
    finally:
        await database.dispose()
    assert unsent == 0, "the outbox was not flushed before exit"

    # Subsidy: stopped while deciding those 1,800 events; what it handled is exactly what it committed.
    subsidy, url = await start(settings, "subsidy")
    database = Database(settings.database_url("subsidy"))

    async def handled() -> int:
        async with database.reading() as session:
            return (await session.execute(select(func.count()).select_from(subsidy_inbox))).scalar_one()
    try:
        async with asyncio.timeout(30):
            while await handled() == 0:
                await asyncio.sleep(0.05)
        took, _ = await terminate(subsidy)
        print(f"subsidy exited {took:.1f}s after SIGTERM")
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                                    group_id=f"{settings.kafka_client_prefix}-subsidy", enable_auto_commit=False)
        await consumer.start()
        try:
            committed = [await consumer.committed(TopicPartition(WORKERS.name, p)) or 0
                         for p in range(settings.kafka_partitions)]
        finally:
            await consumer.stop()
        assert sum(committed) == await handled() > 0
    finally:
        await database.dispose()
