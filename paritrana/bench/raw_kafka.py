"""The broker's raw limit on this machine: produce and consume the same number of messages, of the same size and
keying, with bare aiokafka and nothing else."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.kafka.reading import partitions_now


async def produce_consume(bootstrap: str, messages: int, value_size: int, keys: list[str],
                          partitions: int = 4) -> dict[str, float]:
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    value = b"x" * value_size
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send(topic, value, key=keys[i % len(keys)].encode()) for i in range(messages)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    produce_seconds = time.perf_counter() - started

    # Assigned partitions, no group: a group join would time the coordinator, not the broker's throughput.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    received = 0
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        started = time.perf_counter()
        while received < messages:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            received += sum(len(m) for m in batch.values())
        consume_seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
    return {
        "messages": messages,
        "value_bytes": value_size,
        "produce_per_second": round(messages / produce_seconds),
        "consume_per_second": round(messages / consume_seconds),
    }


async def sample_message_size(bootstrap: str, topic: str, sample: int = 500) -> int:
    """Mean size of the first `sample` messages of a topic, so the raw run sends messages like the real ones."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    sizes: list[int] = []
    try:
        partitions = await partitions_now(consumer, [topic])
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.perf_counter() + 10
        while len(sizes) < sample and time.perf_counter() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=sample)
            sizes += [len(m.value or b"") for messages in batch.values() for m in messages]
    finally:
        await consumer.stop()
    return round(sum(sizes) / len(sizes)) if sizes else 1024
