"""The transactional outbox and its relay, on SQLite and PostgreSQL with a real broker."""

import asyncio
import uuid
from collections import defaultdict
from contextlib import asynccontextmanager
from datetime import timedelta

from aiokafka import AIOKafkaConsumer
from sqlalchemy import MetaData, func, select

from shared.database import Database
from shared.events import new_event, parse_event
from shared.kafka import EventProducer, consumer_group, ensure_topics
from shared.outbox import LOG_LOSSES, REPUBLISHED, OutboxRelay, backlog, enqueue, outbox_tables
from shared.settings import Settings
from shared.topics import WORKERS
from tests.foundation.test_contracts import sample_registered
from tests.support import eventually

KEYS = ["36.71", "36.72", "36.73", "32.75", "62.71"]


async def outbox_database(database_url):
    metadata = MetaData()
    outbox, lease, marks = outbox_tables(metadata)
    database = Database(await database_url("outbox"))
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return database, outbox, lease, marks


async def enqueue_events(database, outbox, n):
    events = [(new_event(sample_registered(), source="/test"), KEYS[i % len(KEYS)]) for i in range(n)]
    async with database.transaction() as session:
        await enqueue(session, outbox, events)
    return events


async def read_topic(bootstrap: str, expected: int, timeout: float = 30):
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


def by_key(pairs):
    out = defaultdict(list)
    for key, event_id in pairs:
        out[key].append(event_id)
    return out


async def test_two_relays_publish_everything_once_in_order_per_key(isolated_broker, database_url, tmp_path):
    settings = Settings(kafka_bootstrap_servers=isolated_broker.bootstrap_servers, data_dir=tmp_path)
    await ensure_topics(settings)
    database, outbox, lease, marks = await outbox_database(database_url)
    producers = [EventProducer(settings, "enrolment") for _ in range(2)]
    relays = [OutboxRelay(database, outbox, lease, marks, p, "enrolment", batch_size=50) for p in producers]
    for p in producers:
        await p.start()
    tasks = [asyncio.create_task(r.run()) for r in relays]
    events = []
    for _ in range(6):
        events += await enqueue_events(database, outbox, 100)
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


async def test_a_commit_that_enqueued_events_wakes_the_relay_and_nothing_else_does(database_url):
    database, outbox, _, _ = await outbox_database(database_url)
    woken = []
    database.on_events_committed(lambda: woken.append(True))
    async with database.transaction() as session:
        await enqueue(session, outbox, [])  # nothing to publish
    assert woken == []
    try:
        async with database.transaction() as session:
            await enqueue(session, outbox, [(new_event(sample_registered(), source="/test"), "36.72")])
            raise RuntimeError("the use case failed after enqueueing")
    except RuntimeError:
        pass
    assert woken == [] and await backlog(database, outbox) == 0, "a rolled-back event woke the relay"
    await enqueue_events(database, outbox, 3)
    assert woken == [True]
    await database.dispose()


async def _zero(database, outbox) -> bool:
    return await backlog(database, outbox) == 0


async def test_intake_goes_on_while_the_broker_is_down_and_the_relay_sends_everything_again_to_the_new_log(
        isolated_broker, database_url, tmp_path):
    settings = Settings(kafka_bootstrap_servers=isolated_broker.bootstrap_servers, data_dir=tmp_path)
    await ensure_topics(settings)
    database, outbox, lease, marks = await outbox_database(database_url)
    producer = EventProducer(settings, "enrolment")
    await producer.start()
    relay = OutboxRelay(database, outbox, lease, marks, producer, "enrolment", log_check_seconds=0.5)
    task = asyncio.create_task(relay.run())
    first = await enqueue_events(database, outbox, 10)
    await eventually(lambda: _zero(database, outbox))

    isolated_broker.kill()  # memory-only broker: the log is gone too
    second = await enqueue_events(database, outbox, 10)
    await asyncio.sleep(2)
    assert await backlog(database, outbox) == 10  # nothing is marked sent without an acknowledgement

    isolated_broker.start()
    await ensure_topics(settings)
    # No consumer group had read anything, so everything sent before goes to the new log again, by itself, with the
    # original event ids (Tansu may even have acknowledged a retry to a topic it had not created yet, and dropped it).
    published = await read_topic(settings.bootstrap_servers, 20, timeout=60)
    assert {e for _, e in published} == {e.id for e, _ in first + second}
    await relay.stop()
    await task
    await producer.stop()
    await database.dispose()


async def read_as(settings: Settings, service: str, expected: int) -> None:
    """Read `expected` more events of enrolment.workers as the consumer group of `service`, and commit them."""
    consumer = AIOKafkaConsumer(WORKERS.name, bootstrap_servers=settings.bootstrap_servers,
                                group_id=consumer_group(settings, service), enable_auto_commit=False,
                                auto_offset_reset="earliest", session_timeout_ms=2000, heartbeat_interval_ms=300)
    await consumer.start()
    try:
        read = 0
        async with asyncio.timeout(30):
            while read < expected:
                batch = await consumer.getmany(timeout_ms=500)
                read += sum(len(messages) for messages in batch.values())
                await consumer.commit()
    finally:
        await consumer.stop()


async def delivered_before(database, lease):
    async with database.reading() as session:
        return (await session.execute(select(lease.c.delivered_before))).scalar_one_or_none()


@asynccontextmanager
async def checking_relay(broker, database_url, tmp_path):
    """A relay that asks the broker about its log every 0.3 s, with no clock margin: (settings, database, outbox,
    lease, marks)."""
    settings = Settings(kafka_bootstrap_servers=broker.bootstrap_servers, data_dir=tmp_path)
    await ensure_topics(settings)
    database, outbox, lease, marks = await outbox_database(database_url)
    producer = EventProducer(settings, "enrolment")
    await producer.start()
    relay = OutboxRelay(database, outbox, lease, marks, producer, "enrolment", log_check_seconds=0.3,
                        clock_margin=timedelta(0))
    task = asyncio.create_task(relay.run())
    try:
        yield settings, database, outbox, lease, marks
    finally:
        await relay.stop()
        await task
        await producer.stop()
        await database.dispose()


async def sent_and_read_by_every_group(settings, database, outbox, lease, count):
    """Events sent and read by subsidy and award; returns once the relay has confirmed it (delivered_before)."""
    events = await enqueue_events(database, outbox, count)
    await eventually(lambda: _zero(database, outbox))
    for service in WORKERS.consumers:
        await read_as(settings, service, count)
    return events, await eventually(lambda: delivered_before(database, lease), timeout=15)


async def test_after_a_lost_log_the_relay_sends_again_only_what_a_consumer_group_had_not_read(
        isolated_broker, database_url, tmp_path):
    async with checking_relay(isolated_broker, database_url, tmp_path) as (settings, database, outbox, lease, _):
        _, confirmed = await sent_and_read_by_every_group(settings, database, outbox, lease, 30)

        # Read by award only: subsidy has not seen these yet, so they must not be lost.
        await asyncio.sleep(0.05)  # sent_at strictly after the confirmed time
        unread = await enqueue_events(database, outbox, 20)
        await eventually(lambda: _zero(database, outbox))
        await read_as(settings, "award", 20)
        assert await delivered_before(database, lease) == confirmed

        isolated_broker.kill()
        isolated_broker.start()
        await ensure_topics(settings)
        published = await read_topic(settings.bootstrap_servers, 20, timeout=60)
        # A send that raced the topics' creation may be sent once more (consumers dedupe), but nothing is missing,
        # nothing read by both groups comes back, and each region's events come in their original order.
        assert {e for _, e in published} == {e.id for e, _ in unread}, \
            "the new log should hold what subsidy had not read, and only that"
        firsts = {key: list(dict.fromkeys(ids)) for key, ids in by_key(published).items()}
        assert firsts == by_key((k, e.id) for e, k in unread), "sent again out of order"


async def test_a_restart_of_the_broker_with_everything_read_sends_nothing_again(isolated_broker, database_url,
                                                                              tmp_path):
    async with checking_relay(isolated_broker, database_url, tmp_path) as (settings, database, outbox, lease, marks):
        await sent_and_read_by_every_group(settings, database, outbox, lease, 40)
        await asyncio.sleep(0.5)  # a check after the confirmation: the marks are what was read
        losses, republished = LOG_LOSSES.labels("enrolment")._value.get(), REPUBLISHED.labels("enrolment")._value.get()

        isolated_broker.kill()
        isolated_broker.start()
        await ensure_topics(settings)
        await eventually(lambda: LOG_LOSSES.labels("enrolment")._value.get() == losses + 1, timeout=15)
        assert await _marks_cleared(database, marks)
        assert REPUBLISHED.labels("enrolment")._value.get() == republished, "rows read by every group were sent again"
        assert await backlog(database, outbox) == 0
        await asyncio.sleep(1)
        assert await read_topic(settings.bootstrap_servers, 0, timeout=5) == []


async def _marks_cleared(database, marks) -> bool:
    async with database.reading() as session:
        return (await session.execute(select(func.count()).select_from(marks))).scalar_one() == 0


async def test_a_relay_whose_lease_ran_out_reads_the_marks_another_relay_left(isolated_broker, database_url,
                                                                               tmp_path):
    """A relay keeps what it knows of the broker's log while it holds the lease; once the lease has run out another
    relay may have published, so on taking it again the first one reads the marks from the database."""
    settings = Settings(kafka_bootstrap_servers=isolated_broker.bootstrap_servers, data_dir=tmp_path)
    await ensure_topics(settings)
    database, outbox, lease, marks = await outbox_database(database_url)
    producers = [EventProducer(settings, "enrolment") for _ in range(2)]
    first, second = (OutboxRelay(database, outbox, lease, marks, p, "enrolment", lease_seconds=1.0)
                     for p in producers)
    for p in producers:
        await p.start()
    try:
        await enqueue_events(database, outbox, 10)
        assert await first._round() == 10
        await first.check_log()
        await asyncio.sleep(1.2)  # the first relay's lease runs out

        await enqueue_events(database, outbox, 10)
        assert await second._round() == 10
        await second._release_lease()
        async with database.reading() as session:
            recorded = {(r.topic, r.partition): (r.first_offset, r.last_offset)
                        for r in (await session.execute(select(marks))).all()}

        assert await first._round() == 0
        assert first._known is not None
        assert {p: (m.first_offset, m.last_offset) for p, m in first._known.items()} == recorded, \
            "the relay kept what it knew before its lease ran out"
    finally:
        for relay in (first, second):
            await relay.broker_log.close()
        for p in producers:
            await p.stop()
        await database.dispose()
