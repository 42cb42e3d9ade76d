"""The shared Kafka helpers on a real broker: publish, consume in another group, dead-letter, wait for a broker."""

import asyncio
import json
import uuid

import jsonschema
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.broker import EmbeddedBroker
from shared.events import json_schema, new_event
from shared.kafka import Consumed, EventConsumer, EventProducer, consuming, ensure_topics
from shared.settings import Settings
from shared.topics import WORKERS
from tests.foundation.test_contracts import sample_registered
from tests.support import caught_up, eventually, free_port


def settings_for(broker: EmbeddedBroker, tmp_path) -> Settings:
    return Settings(kafka_bootstrap_servers=broker.bootstrap_servers, data_dir=tmp_path, kafka_session_timeout_ms=2000)


async def registrations_on_the_topic(settings: Settings, service: str, count: int) -> tuple[EventProducer, list]:
    """The topics, a started producer of `service`'s, and `count` worker.registered events published on one key."""
    await ensure_topics(settings)
    producer = EventProducer(settings, service)
    await producer.start()
    events = [new_event(sample_registered(), source="/test") for _ in range(count)]
    await producer.publish([(e, "36.72") for e in events])
    return producer, events


async def test_published_event_arrives_in_another_group_with_attributes_key_and_schema(isolated_broker, tmp_path):
    settings = settings_for(isolated_broker, tmp_path)
    assert WORKERS.name in await ensure_topics(settings)
    assert await ensure_topics(settings) == []  # idempotent

    producer = EventProducer(settings, "enrolment")
    await producer.start()
    event = new_event(sample_registered(), source="/paritrana/enrolment", subject="registration")
    await producer.publish([(event, "36.72")])
    await producer.stop()

    consumer = AIOKafkaConsumer(WORKERS.name, bootstrap_servers=settings.bootstrap_servers,
                                group_id=f"test-{uuid.uuid4()}", auto_offset_reset="earliest")
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 15)
    finally:
        await consumer.stop()
    assert message.key == b"36.72"
    assert dict(message.headers)["content-type"] == b"application/cloudevents+json"
    doc = json.loads(message.value)
    assert doc["specversion"] == "1.0"
    assert doc["id"] == str(event.id)
    assert doc["source"] == "/paritrana/enrolment"
    assert doc["type"] == "worker.registered"
    assert doc["subject"] == "registration"
    assert doc["dataversion"] == 1
    assert doc["time"].startswith(event.time.isoformat()[:19])
    jsonschema.validate(doc, json_schema("worker.registered", 1))
    assert doc["data"]["regency_code"] == "36.72"


async def test_poison_goes_to_the_dead_letter_topic_while_good_events_flow(isolated_broker, tmp_path):
    settings = settings_for(isolated_broker, tmp_path)
    await ensure_topics(settings)
    raw = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await raw.start()
    producer = EventProducer(settings, "subsidy")
    await producer.start()
    good = [new_event(sample_registered(), source="/test") for _ in range(3)]
    await producer.publish([(good[0], "36.72")])
    await raw.send_and_wait(WORKERS.name, b'{"type": "worker.registered", "dataversion": 1}', key=b"36.72")
    await raw.send_and_wait(WORKERS.name, b"\xff not json", key=b"36.72")
    await producer.publish([(good[1], "36.72"), (good[2], "36.72")])
    await raw.stop()

    handled: list[Consumed] = []

    async def handler(batch: list[Consumed]) -> None:
        handled.extend(batch)

    consumer = EventConsumer(settings, "subsidy", [WORKERS.name], handler, group_id=f"g-{uuid.uuid4()}",
                             producer=producer)
    task = asyncio.create_task(consumer.run())
    await eventually(lambda: len(handled) == 3)
    assert [c.event.id for c in handled] == [e.id for e in good]  # same key, same partition: order held
    lag = await eventually(consumer.lag)
    assert sum(lag.values()) == 0
    await consumer.stop()
    await task

    dlq = AIOKafkaConsumer("subsidy.dead-letter", bootstrap_servers=settings.bootstrap_servers,
                           group_id=f"dlq-{uuid.uuid4()}", auto_offset_reset="earliest")
    await dlq.start()
    try:
        letters = []
        while len(letters) < 2:
            batch = await asyncio.wait_for(dlq.getmany(timeout_ms=1000), 15)
            letters.extend(m for ms in batch.values() for m in ms)
    finally:
        await dlq.stop()
    await producer.stop()
    errors = sorted(dict(m.headers)["dlq.error"].decode() for m in letters)
    assert errors[0].startswith("not JSON") and "invalid" in errors[1]
    assert all(m.key == b"36.72" and dict(m.headers)["dlq.topic"] == WORKERS.name.encode() for m in letters)


async def test_a_handler_error_that_persists_dead_letters_only_that_event(isolated_broker, tmp_path):
    settings = settings_for(isolated_broker, tmp_path)
    producer, events = await registrations_on_the_topic(settings, "award", 4)
    bad = events[1].id
    handled: list[uuid.UUID] = []

    async def handler(batch: list[Consumed]) -> None:
        if any(c.event.id == bad for c in batch):
            raise ValueError("cannot handle this one")
        handled.extend(c.event.id for c in batch)

    consumer = EventConsumer(settings, "award", [WORKERS.name], handler, group_id=f"g-{uuid.uuid4()}",
                             producer=producer)
    task = asyncio.create_task(consumer.run())
    await eventually(lambda: len(handled) == 3)
    assert handled == [events[0].id, events[2].id, events[3].id]
    await consumer.stop()
    await task
    await producer.stop()


async def test_a_transient_failure_is_retried_and_nothing_is_lost(isolated_broker, tmp_path):
    settings = settings_for(isolated_broker, tmp_path)
    producer, [event] = await registrations_on_the_topic(settings, "award", 1)
    attempts = 0
    handled: list[uuid.UUID] = []

    async def handler(batch: list[Consumed]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionRefusedError("database down")
        handled.extend(c.event.id for c in batch)

    consumer = EventConsumer(settings, "award", [WORKERS.name], handler, group_id=f"g-{uuid.uuid4()}",
                             producer=producer)
    task = asyncio.create_task(consumer.run())
    await eventually(lambda: handled == [event.id], timeout=30)
    assert attempts == 3
    await consumer.stop()
    await task
    await producer.stop()


async def test_a_producer_waits_for_a_broker_that_is_not_up_yet(tmp_path):
    port = free_port()
    settings = Settings(kafka_bootstrap_servers=f"127.0.0.1:{port}", data_dir=tmp_path)
    producer = EventProducer(settings, "enrolment")
    starting = asyncio.create_task(producer.start())
    await asyncio.sleep(1.5)
    assert not starting.done()
    broker = EmbeddedBroker(port, tmp_path / "late-broker.log")
    broker.start()
    try:
        await asyncio.wait_for(starting, 30)
        assert await producer.ping()
    finally:
        await producer.stop()
        broker.stop()


async def test_an_inbox_collision_with_another_member_is_retried_not_dead_lettered(isolated_broker, tmp_path):
    from sqlalchemy.exc import IntegrityError

    settings = settings_for(isolated_broker, tmp_path)
    producer, events = await registrations_on_the_topic(settings, "award", 3)
    calls = 0
    handled: list[uuid.UUID] = []

    async def handler(batch: list[Consumed]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise IntegrityError("INSERT INTO inbox", {}, Exception("duplicate key"))
        handled.extend(c.event.id for c in batch)

    consumer = EventConsumer(settings, "award", [WORKERS.name], handler, group_id=f"g-{uuid.uuid4()}",
                             producer=producer)
    task = asyncio.create_task(consumer.run())
    await eventually(lambda: len(handled) == 3, timeout=30)
    assert handled == [e.id for e in events] and calls == 2  # the whole batch again, not one by one
    await consumer.stop()
    await task
    await producer.stop()


async def test_a_batch_left_uncommitted_by_a_rebalance_is_read_again_by_a_member_that_kept_its_partition(
        isolated_broker, tmp_path):
    """A poll that overlaps a rebalance can return records fetched from the new assignment's positions, so the
    batch looks older than the rebalance and its offsets stay uncommitted. Seen in the two-member subsidy test on a
    loaded machine: the member kept the partition, its position was past the batch, nothing read it again, and its
    lag stayed at 600 for good. Here the handler counts a rebalance during the first batch without the group
    moving anything: exactly what that member saw."""
    settings = settings_for(isolated_broker, tmp_path)
    producer, events = await registrations_on_the_topic(settings, "award", 20)
    handled: list[uuid.UUID] = []
    consumer: EventConsumer

    async def handler(batch: list[Consumed]) -> None:
        if not handled:
            consumer.rebalances.count += 2  # revoked and assigned again, the same partitions
        handled.extend(c.event.id for c in batch)

    consumer = EventConsumer(settings, "award", [WORKERS.name], handler, group_id=f"g-{uuid.uuid4()}",
                             producer=producer)
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: caught_up([consumer]), timeout=30)
    finally:
        await consumer.stop()
        await task
        await producer.stop()
    # Redelivered from the last commit (none yet: the start); the inbox is what dedupes it in a service.
    ids = [e.id for e in events]
    first_batch = len(handled) - len(ids)
    assert first_batch > 0 and handled[:first_batch] == ids[:first_batch] and handled[first_batch:] == ids


async def test_after_the_broker_loses_its_log_the_group_reads_the_new_log_from_its_start(isolated_broker, tmp_path):
    """A batch in hand when the broker dies must not have its offsets committed into the group's next generation:
    those offsets belong to the lost log, and a member starting from them would skip the new log's first events."""
    settings = settings_for(isolated_broker, tmp_path)
    producer, _ = await registrations_on_the_topic(settings, "enrolment", 20)
    group = f"g-{uuid.uuid4()}"
    handled: list[uuid.UUID] = []
    consumer: EventConsumer

    async def lose_the_log_while_handling(batch: list[Consumed]) -> None:
        if handled:
            handled.extend(c.event.id for c in batch)
            return
        handled.extend(c.event.id for c in batch)
        before = consumer.rebalances.count
        isolated_broker.kill()
        isolated_broker.start()
        await ensure_topics(settings)
        # The member finds itself unknown to the new broker and joins again (revoked, then assigned) before this
        # batch's commit is attempted.
        await eventually(lambda: consumer.rebalances.count >= before + 2, timeout=30)

    consumer = EventConsumer(settings, "enrolment", [WORKERS.name], lose_the_log_while_handling, group_id=group,
                             producer=producer)
    task = asyncio.create_task(consumer.run())
    await eventually(lambda: consumer.rebalances.count >= 2 and consumer.rebalances.commit is None
                     and len(handled) > 0, timeout=60)
    await consumer.stop()
    await task

    # Republished and new events land on the new log from offset 0; the group's next member must read them all.
    after = [new_event(sample_registered(), source="/test") for _ in range(10)]
    await producer.publish([(e, "36.72") for e in after])
    seen: list[uuid.UUID] = []

    async def record(batch: list[Consumed]) -> None:
        seen.extend(c.event.id for c in batch)

    successor = EventConsumer(settings, "enrolment", [WORKERS.name], record, group_id=group, producer=producer)
    task = asyncio.create_task(successor.run())
    try:
        await eventually(lambda: len(seen) >= len(after), timeout=30)
    finally:
        await successor.stop()
        await task
        await producer.stop()
    assert seen == [e.id for e in after]


async def test_a_group_whose_commits_are_past_a_new_logs_end_reads_the_new_log_from_its_start(isolated_broker,
                                                                                           tmp_path):
    # A broker that lost its log can be handed the old log's offsets: a commit that outlived the restart. The
    # consumer would otherwise wait at that offset until the new log grew that far, skipping all it holds.
    settings = settings_for(isolated_broker, tmp_path)
    producer, events = await registrations_on_the_topic(settings, "enrolment", 10)
    group = f"test-{uuid.uuid4()}"
    stale = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=group, enable_auto_commit=False)
    await stale.start()
    await stale.topics()
    partitions = [TopicPartition(WORKERS.name, p) for p in sorted(stale.partitions_for_topic(WORKERS.name) or ())]
    stale.assign(partitions)
    await stale.commit({tp: 5000 for tp in partitions})
    await stale.stop()

    seen: list = []

    async def handler(batch: list[Consumed]) -> None:
        seen.extend(c.event.id for c in batch)

    consumer = EventConsumer(settings, "subsidy", [WORKERS.name], handler, group_id=group, producer=producer)
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: set(seen) >= {e.id for e in events}, timeout=30)
    finally:
        await consumer.stop()
        await task
        await producer.stop()


@pytest.mark.parametrize("busy_wait_ms", [consuming.BUSY_FETCH_WAIT_MS, 500])
async def test_a_quiet_consumer_fetches_less_often_and_still_reads_the_first_event_after_the_quiet(
        isolated_broker, tmp_path, monkeypatch, busy_wait_ms):
    """An idle stack's largest cost was its consumers' empty fetches; a quiet consumer lets the broker hold each one
    longer, and the first records put it back to its own busy wait (enrolment's status reader asks less often)."""
    monkeypatch.setattr(consuming, "QUIET_AFTER_SECONDS", 1.0)
    settings = settings_for(isolated_broker, tmp_path)
    producer, [first] = await registrations_on_the_topic(settings, "award", 1)
    handled: list[uuid.UUID] = []

    async def handler(batch: list[Consumed]) -> None:
        handled.extend(c.event.id for c in batch)

    consumer = EventConsumer(settings, "award", [WORKERS.name], handler, group_id=f"g-{uuid.uuid4()}",
                             producer=producer, busy_fetch_wait_ms=busy_wait_ms)
    task = asyncio.create_task(consumer.run())
    await eventually(lambda: handled == [first.id], timeout=30)
    assert consumer.fetch_wait_ms == busy_wait_ms
    await eventually(lambda: consumer.fetch_wait_ms == consuming.QUIET_FETCH_WAIT_MS, timeout=15)

    later = new_event(sample_registered(), source="/test")
    await producer.publish([(later, "36.72")])
    await eventually(lambda: handled == [first.id, later.id], timeout=30)
    assert consumer.fetch_wait_ms == busy_wait_ms
    await consumer.stop()
    await task
    await producer.stop()


async def test_the_lag_asked_while_a_rebalance_takes_partitions_away_reports_only_what_is_held(isolated_broker,
                                                                                               tmp_path):
    """Seen once in a clean-clone run of the two-member subsidy test: asking the lag awaits the broker, a second
    member joined meanwhile, and aiokafka refused the high watermark of a partition the first no longer held
    ("Partition is not assigned"). Here the first member asks without pause while the second joins."""
    settings = settings_for(isolated_broker, tmp_path)
    producer, _ = await registrations_on_the_topic(settings, "award", 20)
    group = f"g-{uuid.uuid4()}"

    async def handler(batch: list[Consumed]) -> None:
        return None

    first = EventConsumer(settings, "award", [WORKERS.name], handler, group_id=group, producer=producer)
    second = EventConsumer(settings, "award", [WORKERS.name], handler, group_id=group, producer=producer)
    tasks = [asyncio.create_task(first.run())]
    try:
        await eventually(lambda: caught_up([first]), timeout=30)
        held_alone = len(first._consumer.assignment())
        tasks.append(asyncio.create_task(second.run()))
        asked = 0
        while not (second._consumer and second._consumer.assignment()
                   and len(first._consumer.assignment()) < held_alone):
            lag = await first.lag()
            asked += 1
            assert all(value == 0 for value in lag.values())
        assert asked > 1
        # Afterwards each member reports exactly the partitions it holds.
        await eventually(lambda: caught_up([first, second]), timeout=30)
        for member in (first, second):
            assert {(tp.topic, tp.partition) for tp in member._consumer.assignment()} == set(await member.lag())
    finally:
        for member in (first, second):
            await member.stop()
        await asyncio.gather(*tasks)
        await producer.stop()
