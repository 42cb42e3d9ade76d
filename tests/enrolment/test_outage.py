"""Intake while the broker is down: registrations are accepted and stored with their events, which go out when
the broker returns; `paritrana enrolment republish` re-sends them with their original ids after it lost its log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer
from sqlalchemy import select

from services.enrolment.app import create_app
from services.enrolment.models import outbox
from shared.events import parse_event
from shared.kafka import ensure_topics
from shared.outbox import backlog
from shared.topics import WORKERS
from tests.enrolment.sample import CLOCK_START, item
from tests.support import eventually, serving


async def subjects_on_topic(bootstrap: str, wanted: set[str], timeout: float = 40) -> dict[str, str]:
    """subject -> event id for the wanted subjects, read from the start of the topic."""
    consumer = AIOKafkaConsumer(WORKERS.name, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    found: dict[str, str] = {}
    try:
        async with asyncio.timeout(timeout):
            while not wanted <= set(found):
                for _tp, messages in (await consumer.getmany(timeout_ms=300)).items():
                    for m in messages:
                        event = parse_event(m.value)
                        found[event.subject] = str(event.id)
    finally:
        await consumer.stop()
    return found


def republish_command(settings, since: datetime) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITRANA_")}
    env["PARITRANA_ENROLMENT_DATABASE_URL"] = settings.enrolment_database_url
    done = subprocess.run([sys.executable, "-m", "paritrana", "enrolment", "republish", "--since", since.isoformat()],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_intake_goes_on_without_the_broker_and_everything_is_delivered_after(isolated_broker, make_settings):
    settings = await make_settings(isolated_broker, clock_start=CLOCK_START)
    before = datetime.now(UTC) - timedelta(seconds=5)
    async with serving(create_app, settings) as server:
        key = (await server.runtime.access.create("kit", "field_kit", ["registrations:write"], ["36"])).secret
        database = server.runtime.database
        async with server.client(key) as client:
            first = item()
            assert (await client.post("/v1/registrations", json=first)).status_code == 201
            before_outage = await subjects_on_topic(settings.bootstrap_servers, {first["registration_id"]})

            isolated_broker.kill()
            during = [item() for _ in range(3)]
            for body in during[:2]:
                assert (await client.post("/v1/registrations", json=body)).status_code == 201
            batch = await client.post("/v1/registrations/batch", json={"items": during[2:]})
            assert batch.json()["counts"]["accepted"] == 1
            await asyncio.sleep(2)
            assert await backlog(database, outbox) == 3  # nothing is marked sent without an acknowledgement

            isolated_broker.start()
            await ensure_topics(settings)
            await eventually(lambda: _drained(database), timeout=60)
            # The broker restarted empty: resend everything stored since before the outage, with the same ids.
            assert "events marked for republishing" in republish_command(settings, before)
            wanted = {first["registration_id"]} | {b["registration_id"] for b in during}
            delivered = await subjects_on_topic(settings.bootstrap_servers, wanted)
        async with database.reading() as session:
            stored = {parse_event(p).subject: str(parse_event(p).id)
                      for p in (await session.execute(select(outbox.c.payload))).scalars()}
    assert len(stored) == 4
    assert {s: delivered[s] for s in wanted} == stored
    assert delivered[first["registration_id"]] == before_outage[first["registration_id"]]


async def _drained(database) -> bool:
    return await backlog(database, outbox) == 0
