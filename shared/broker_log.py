"""Whether the broker still holds the log a service published to, and how far its consumers have read it.

The embedded broker (Tansu) keeps its log in memory, so every restart starts empty; a production Kafka can lose a
log too (a wiped or recreated topic, a cluster rebuilt from scratch). A publisher notices by remembering where the
broker put what it last published to each partition (its *marks*), and comparing them with the broker's answers:

- on each acknowledgement: a log that is still the one it published to puts new messages after the old ones, so an
  offset at or below the last one marked means a new log;
- now and then, and before publishing after any failure: an intact log ends past the first offset of the last
  publish. Not past the last offset, because Tansu's ListOffsets answers the *last batch's base offset + 1*, and a
  publish of many messages can be one batch.

How far downstream has read is the lowest offset committed by the consumer groups of the topic's consumers (the
``consumers`` of each ``shared.topics.Topic``). The outbox relay turns that into a time before which everything it
sent has been read by everyone, so that after a loss it sends again only what some consumer may not have seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import RecordMetadata

from shared.kafka import consumer_group
from shared.kafka.reading import partitions_now
from shared.settings import Settings
from shared.topics import Topic

log = logging.getLogger(__name__)

Partition = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True)
class Mark:
    """Where the broker put the last publish to one partition: its first and last offsets."""
    first_offset: int
    last_offset: int


def marks_of(acknowledged: Iterable[RecordMetadata]) -> dict[Partition, Mark]:
    """The marks one publish leaves, from the broker's acknowledgements of its messages."""
    offsets: dict[Partition, list[int]] = {}
    for metadata in acknowledged:
        offsets.setdefault((metadata.topic, metadata.partition), []).append(metadata.offset)
    return {partition: Mark(min(found), max(found)) for partition, found in offsets.items()}


def lost_on_acknowledgement(known: Mapping[Partition, Mark], acknowledged: Mapping[Partition, Mark]) -> list[Partition]:
    """Partitions where the broker put a new publish at or before the last offset marked: not the same log."""
    return sorted(p for p, mark in acknowledged.items() if p in known and mark.first_offset <= known[p].last_offset)


def lost_at_end(known: Mapping[Partition, Mark], ends: Mapping[Partition, int | None]) -> list[Partition]:
    """Partitions whose log ends at or before the first offset of the last publish (or that no longer exist)."""
    lost = []
    for partition, mark in known.items():
        end = ends.get(partition)
        if end is None or end <= mark.first_offset:
            lost.append(partition)
    return sorted(lost)


def read_by_all(marks: Mapping[Partition, Mark], committed: Mapping[Partition, int | None]) -> bool:
    """Every marked message has been committed past by every consumer group (`committed` holds each partition's
    lowest commit over the groups, None where a group has none)."""
    return all((committed.get(p) or 0) > mark.last_offset for p, mark in marks.items())


def _lowest(offsets: Iterable[int | None]) -> int | None:
    """The lowest commit over the groups; None when some group has none."""
    found = list(offsets)
    return None if any(o is None for o in found) else min(o for o in found if o is not None)


class BrokerLog:
    """The broker's side of the check: where each partition of a service's topics ends, and the lowest offset the
    topics' consumer groups have committed. Its clients connect on first use and again after a failure."""

    def __init__(self, settings: Settings, service: str, topics: Sequence[Topic]) -> None:
        self.settings, self.service, self.topics = settings, service, list(topics)
        self.groups = sorted({consumer_group(settings, consumer) for t in self.topics for consumer in t.consumers})
        self._reader: AIOKafkaConsumer | None = None
        self._committed: dict[str, AIOKafkaConsumer] = {}

    async def _client(self, group: str | None) -> AIOKafkaConsumer:
        """A consumer that never subscribes: with a group, it only reads that group's commits (it never joins).
        One attempt: a broker that is away fails the check, and its caller retries with backoff."""
        client = AIOKafkaConsumer(bootstrap_servers=self.settings.bootstrap_servers, group_id=group,
                                  enable_auto_commit=False, request_timeout_ms=10_000,
                                  client_id=f"{self.settings.kafka_client_prefix}-{self.service}-log-watch")
        try:
            await client.start()
        except BaseException:
            await client.stop()
            raise
        return client

    async def ends(self) -> dict[Partition, int | None]:
        """Each partition's end as ListOffsets answers it; a topic the broker does not have maps to nothing."""
        try:
            if self._reader is None:
                self._reader = await self._client(None)
            partitions = await partitions_now(self._reader, [t.name for t in self.topics])
            ends = await self._reader.end_offsets(partitions) if partitions else {}
        except BaseException:
            await self.close()
            raise
        return {(tp.topic, tp.partition): end for tp, end in ends.items()}

    async def committed(self, partitions: Iterable[Partition]) -> dict[Partition, int | None]:
        """The lowest offset committed over the consumer groups, per partition (None: some group has none)."""
        wanted = [TopicPartition(topic, partition) for topic, partition in sorted(set(partitions))]
        by_group: list[list[int | None]] = []
        try:
            for group in self.groups:
                if group not in self._committed:
                    self._committed[group] = await self._client(group)
                by_group.append([await self._committed[group].committed(tp) for tp in wanted])
        except BaseException:
            await self.close()
            raise
        return {(tp.topic, tp.partition): _lowest(offsets) for tp, offsets in zip(wanted, zip(*by_group))}

    async def close(self) -> None:
        clients = [c for c in (self._reader, *self._committed.values()) if c is not None]
        self._reader, self._committed = None, {}
        for client in clients:
            try:
                await asyncio.wait_for(client.stop(), 5)
            except Exception:
                pass
