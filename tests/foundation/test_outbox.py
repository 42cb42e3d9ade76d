"""The transactional outbox and its relay, on SQLite and PostgreSQL with a real broker."""

import asyncio
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from aiokafka import AIOKafkaConsumer
from sqlalchemy import MetaData

from shared.database import Database
from shared.events import new_event, parse_event
from shared.kafka import EventProducer, ensure_topics
from shared.outbox import OutboxRelay, backlog, enqueue, outbox_tables, republish
from shared.settings import Settings
from shared.topics import WORKERS
from tests.foundation.test_contracts import sample_registered
from tests.support import eventually

KEYS = ["36.71", "36.72", "36.73", "32.75", "62.71"]


async def outbox_database(database_url):  # noqa: ANN001, ANN201
    metadata = MetaData()
    outbox, lease = outbox_tables(metadata)
    database = Database(await database_url("outbox"))
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return database, outbox, lease


async def enqueue_events(database, outbox, n):  # noqa: ANN001, ANN201
    events = [(new_event(sample_registered(), source="/test"), KEYS[i % len(KEYS)]) for i in range(n)]
    async with database.transaction() as session:
        await enqueue(session, outbox, events)
    return events


async def read_topic(bootstrap: str, expected: int, timeout: float = 30):  # noqa: ANN201
    consumer = AIOKafkaConsumer(WORKERS.name, bootstrap_servers=bootstrap, group_id=f"read-{uuid.uuid4()}",
                                auto_offset_reset="earliest", session_timeout_ms=2000, heartbeat_interval_ms=300)
    await consumer.start()
    seen = []
    try:
        async with asyncio.timeout(timeout):
            while len(seen) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for _tp, messages in batch.items():
                    seen.extend((m.key.decode(), parse_event(m.value).id) for m in messages)
        await asyncio.sleep(0.5)
        for _tp, messages in (await consumer.getmany(timeout_ms=500)).items():
            seen.extend((m.key.decode(), parse_event(m.value).id) for m in messages)
    finally:
        await consumer.stop()
    return seen


def by_key(pairs):  # noqa: ANN001, ANN201
    out = defaultdict(list)
    for key, event_id in pairs:
        out[key].append(event_id)
    return out


async def test_two_relays_publish_everything_once_in_order_per_key(isolated_broker, database_url, tmp_path):
    settings = Settings(kafka_bootstrap_servers=isolated_broker.bootstrap_servers, data_dir=tmp_path)
    await ensure_topics(settings)
    database, outbox, lease = await outbox_database(database_url)
    producers = [EventProducer(settings, "enrolment") for _ in range(2)]
    relays = [OutboxRelay(database, outbox, lease, p, "enrolment", batch_size=50) for p in producers]
    for p in producers:
        await p.start()
    tasks = [asyncio.create_task(r.run()) for r in relays]
    events = []
    for _ in range(6):
        events += await enqueue_events(database, outbox, 100)
        for r in relays:
            r.notify()
        await asyncio.sleep(0.05)
    await eventually(lambda: _zero(database, outbox), timeout=30)
    for r in relays:
        await r.stop()
    await asyncio.gather(*tasks)
    published = await read_topic(settings.bootstrap_servers, len(events))
    assert len(published) == len(events), "an event was lost or published twice"
    assert by_key(published) == by_key((k, e.id) for e, k in events)
    for p in producers:
        await p.stop()
    await database.dispose()


async def _zero(database, outbox) -> bool:  # noqa: ANN001
    return await backlog(database, outbox) == 0


async def test_intake_goes_on_while_the_broker_is_down_and_drains_when_it_returns(isolated_broker, database_url,
                                                                                  tmp_path):
    settings = Settings(kafka_bootstrap_servers=isolated_broker.bootstrap_servers, data_dir=tmp_path)
    await ensure_topics(settings)
    database, outbox, lease = await outbox_database(database_url)
    producer = EventProducer(settings, "enrolment")
    await producer.start()
    relay = OutboxRelay(database, outbox, lease, producer, "enrolment")
    task = asyncio.create_task(relay.run())
    first = await enqueue_events(database, outbox, 10)
    await eventually(lambda: _zero(database, outbox))

    isolated_broker.kill()  # memory-only broker: the log is gone too
    second = await enqueue_events(database, outbox, 10)
    relay.notify()
    await asyncio.sleep(2)
    assert await backlog(database, outbox) == 10  # nothing is marked sent without an acknowledgement

    isolated_broker.start()
    await ensure_topics(settings)
    await eventually(lambda: _zero(database, outbox), timeout=60)

    # The new broker started empty, and Tansu acknowledges a produce to a topic it does not have yet without
    # keeping it, so what the relay retried across the restart may be gone as well. Republishing everything
    # stored since before the outage recovers it all, with the original event ids.
    assert await republish(database, outbox, datetime.now(timezone.utc) - timedelta(hours=1)) == 20
    relay.notify()
    await eventually(lambda: _zero(database, outbox), timeout=30)
    published = await read_topic(settings.bootstrap_servers, 30)
    assert {e for _, e in published} == {e.id for e, _ in first + second}
    await relay.stop()
    await task
    await producer.stop()
    await database.dispose()
