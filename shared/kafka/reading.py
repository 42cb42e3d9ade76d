"""Reading topics from their start to their end without a consumer group: replays and checks.

Tansu quirk: its ListOffsets answer is the *last batch's base offset + 1*, not the high watermark. The fetch
response's high watermark is right, so lag and "caught up" take the larger of the two (partition_end).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from shared.kafka.retry import start_with_backoff

READ_STALL_POLLS = 40  # empty polls of 250 ms before reading to the end gives up


async def partitions_now(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Each topic's partitions as the broker has them now (none for a topic it does not have).

    Not `consumer.topics()` then `partitions_for_topic`: topics() fetches the metadata into a new object and leaves
    the cache partitions_for_topic reads as it was, up to metadata_max_age_ms (5 minutes) old. A consumer that
    started while a restarted broker did not have a topic yet kept seeing no partitions for it, and the outbox relay
    took that for a lost log at every check, sending its last events again and again until the cache renewed."""
    # Refreshes that cache (all topics: this consumer tracks none). A broker that does not answer is an error, as
    # it was with topics(), never an empty list, which the log check would take for a lost log.
    if not await consumer._client.force_metadata_update():
        raise KafkaError("the broker did not answer a metadata request")
    return [TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())]


def partition_end(consumer: AIOKafkaConsumer, tp: TopicPartition, listed_end: int) -> int:
    """Where a partition really ends: the larger of ListOffsets' answer and the last fetch's high watermark,
    because Tansu's ListOffsets answers the last batch's base offset + 1."""
    return max(listed_end, consumer.highwater(tp) or 0)


async def read_to_end(bootstrap_servers: str, topics: Iterable[str], *, client_id: str,
                      batch_records: int = 5000) -> AsyncIterator[list[ConsumerRecord]]:
    """Every message on the topics, from each partition's first offset to its end, in batches of up to
    `batch_records` (consecutive fetches gathered, so a caller can handle each batch in one transaction).

    No consumer group: nobody's committed offsets move, and a live consumer beside it is undisturbed. The end is
    partition_end(), because Tansu's ListOffsets undercounts. Raises RuntimeError if the broker stops delivering
    before the end."""
    topics = list(topics)
    consumer: AIOKafkaConsumer = await start_with_backoff(lambda: AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
        client_id=client_id, max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024), client_id)
    try:
        partitions = await partitions_now(consumer, topics)
        if not partitions:
            return
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        idle = 0
        while True:
            remaining = [tp for tp in partitions
                         if await consumer.position(tp) < partition_end(consumer, tp, ends[tp])]
            if not remaining:
                return
            batch: list[ConsumerRecord] = []
            while len(batch) < batch_records:
                records = await consumer.getmany(*remaining, timeout_ms=20 if batch else 250,
                                                 max_records=batch_records - len(batch))
                if not records:
                    break
                for messages in records.values():
                    batch.extend(messages)
            if batch:
                idle = 0
                yield batch
            else:
                idle += 1
                if idle > READ_STALL_POLLS:
                    raise RuntimeError(f"reading {', '.join(topics)} stalled before the end of {len(remaining)} "
                                       "partition(s)")
    finally:
        await consumer.stop()
