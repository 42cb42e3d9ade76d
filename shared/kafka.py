"""Kafka on aiokafka: topic set-up, a producer and a batch consumer with dead-lettering.

The consumer's contract: a handler receives a polled batch of parsed events and commits its own database
transaction; only then are the offsets committed. A crash in between redelivers the batch, so handlers dedupe by
event id (an inbox table) and the effect is exactly once.

Tansu quirk: its ListOffsets answer is the *last batch's base offset + 1*, not the high watermark. The fetch
response's high watermark is right, so lag and "caught up" take the larger of the two.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaError
from aiokafka.structs import RecordMetadata
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from shared import metrics
from shared.events import CONTENT_TYPE, Envelope, InvalidEvent, encode_event, parse_event
from shared.observability import mask_personal_data
from shared.settings import Settings
from shared.topics import TOPICS, Topic, topic_for

log = logging.getLogger(__name__)

TOPIC_EXISTS = 36


def partition_end(consumer: AIOKafkaConsumer, tp: TopicPartition, listed_end: int) -> int:
    """Where a partition really ends: the larger of ListOffsets' answer and the last fetch's high watermark,
    because Tansu's ListOffsets answers the last batch's base offset + 1."""
    return max(listed_end, consumer.highwater(tp) or 0)


def consumer_group(settings: Settings, service: str) -> str:
    """The consumer group a service's consumers join."""
    return f"{settings.kafka_client_prefix}-{service}"


class Backoff:
    """Capped exponential backoff with jitter."""

    def __init__(self, initial: float = 0.2, cap: float = 5.0) -> None:
        self.initial, self.cap, self.attempt = initial, cap, 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.initial * 2**self.attempt)
        self.attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


async def start_with_backoff(make: Callable[[], Any], what: str, stopping: asyncio.Event | None = None) -> Any:
    """Start a fresh aiokafka client until the broker answers: a broker that is not up yet is waited for."""
    backoff = Backoff()
    while True:
        client = make()
        try:
            await client.start()
            return client
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            await _close_quietly(client)
            delay = backoff.next_delay()
            log.warning("%s: broker not reachable (%s), retrying in %.1fs", what, type(exc).__name__, delay)
            if stopping is not None:
                try:
                    await asyncio.wait_for(stopping.wait(), delay)
                    raise asyncio.CancelledError
                except asyncio.TimeoutError:
                    continue
            await asyncio.sleep(delay)


async def _close_quietly(client: Any) -> None:
    try:
        close = getattr(client, "stop", None) or client.close
        await close()
    except Exception:  # noqa: BLE001 - closing a client that never connected
        pass


async def ensure_topics(settings: Settings, topics: Iterable[Topic] = TOPICS) -> list[str]:
    """Create the topics that are missing, with their partition counts and configs. Safe to run again."""
    admin = await start_with_backoff(
        lambda: AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                                    client_id=f"{settings.kafka_client_prefix}-admin"),
        "topic setup",
    )
    created = []
    try:
        wanted = [
            NewTopic(t.name, num_partitions=settings.kafka_partitions,
                     replication_factor=settings.kafka_replication_factor, topic_configs=t.kafka_config())
            for t in topics
        ]
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        present = [t.name for t in wanted if t.name in existing]
        for description in (await admin.describe_topics(present)) if present else []:
            count = len(description.get("partitions", []))
            if count != settings.kafka_partitions:
                log.warning("topic %s has %d partitions, settings say %d", description["topic"], count,
                            settings.kafka_partitions)
        if missing:
            response = await admin.create_topics(missing)
            for name, code, message in response.topic_errors:
                if code not in (0, TOPIC_EXISTS):
                    raise RuntimeError(f"cannot create topic {name}: {code} {message}")
                if code == 0:
                    created.append(name)
    finally:
        await admin.close()
    return created


READ_STALL_POLLS = 40  # empty polls of 250 ms before reading to the end gives up


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
        await consumer.topics()  # loads the metadata partitions_for_topic reads
        partitions = [TopicPartition(topic, p) for topic in topics
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
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


class EventProducer:
    """Publishes envelopes to the topic their type belongs to, keyed for per-region order."""

    def __init__(self, settings: Settings, service: str) -> None:
        self.settings, self.service = settings, service
        self._producer: AIOKafkaProducer | None = None

    def _make(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap_servers,
            client_id=f"{self.settings.kafka_client_prefix}-{self.service}",
            acks="all",
            enable_idempotence=self.settings.kafka_idempotence,
            linger_ms=5,
            request_timeout_ms=15000,
        )

    async def start(self, stopping: asyncio.Event | None = None) -> None:
        self._producer = await start_with_backoff(self._make, f"{self.service} producer", stopping)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def send_raw(self, topic: str, key: bytes | None, value: bytes,
                       headers: Sequence[tuple[str, bytes]] = ()) -> asyncio.Future:
        """Queue one message; the returned future resolves when the broker acknowledges it."""
        assert self._producer is not None, "producer not started"
        return await self._producer.send(topic, value=value, key=key, headers=list(headers))

    async def publish(self, events: Sequence[tuple[Envelope[Any], str]]) -> list[RecordMetadata]:
        """Publish (envelope, key) pairs and wait until the broker has acknowledged every one; returns where the
        broker put each."""
        futures = []
        for event, key in events:
            topic = topic_for(event.type).name
            futures.append(await self.send_raw(topic, key.encode(), encode_event(event),
                                               [("content-type", CONTENT_TYPE.encode())]))
        acknowledged = []
        for future, (event, _) in zip(futures, events):
            acknowledged.append(await future)
            metrics.EVENTS_PUBLISHED.labels(self.service, topic_for(event.type).name).inc()
        return acknowledged

    async def ping(self, timeout: float = 2.0) -> bool:
        if self._producer is None:
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout)
            return True
        except Exception:  # noqa: BLE001 - any failure means "not reachable" for /readyz
            return False


@dataclass(frozen=True)
class Consumed:
    event: Envelope[Any]
    topic: str
    partition: int
    offset: int
    key: str | None

    @classmethod
    def of(cls, record: ConsumerRecord) -> "Consumed":
        """The parsed record; raises InvalidEvent for what no handler can take."""
        return cls(parse_event(record.value), record.topic, record.partition, record.offset,
                   record.key.decode(errors="replace") if record.key else None)


Handler = Callable[[list[Consumed]], Awaitable[None]]

INTEGRITY_RETRIES = 3

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, OSError, ConnectionError, asyncio.TimeoutError, KafkaConnectionError,
)


# SQLSTATEs of a database that is restarting or failing over, not of a bad event: class 08 (connection), 57P (admin
# or crash shutdown, "cannot connect now"), 53 (insufficient resources), and serialisation failure / deadlock.
TRANSIENT_SQLSTATES = ("08", "57P", "53", "40001", "40P01")


def is_transient(exc: BaseException) -> bool:
    """A failure of the database or broker (retry and lose nothing), as opposed to a bad event (dead-letter it)."""
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or str(
            getattr(exc.orig, "sqlstate", None) or "").startswith(TRANSIENT_SQLSTATES)):
        return True
    return isinstance(exc, TRANSIENT_ERRORS)


class Rebalances(ConsumerRebalanceListener):
    """Counts the group's rebalances, and cancels an offset commit that would otherwise outlive one.

    aiokafka retries a commit through a broker outage and sends it with whatever generation the member holds by
    then. After a broker that lost its log (Tansu, in memory) comes back, such a commit lands in the new generation
    with the old log's offsets, and the group then skips the new log up to them. Revocation runs before the member
    joins again, so a commit cancelled there never reaches the new generation."""

    def __init__(self) -> None:
        self.count = 0
        self.commit: asyncio.Task[None] | None = None

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.count += 1
        if self.commit is not None and not self.commit.done():
            self.commit.cancel()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.count += 1


class EventConsumer:
    """Polls batches, dead-letters what cannot be parsed or handled, and commits offsets after the handler."""

    def __init__(self, settings: Settings, service: str, topics: Sequence[str], handler: Handler, *,
                 group_id: str | None = None, producer: EventProducer, max_records: int = 500) -> None:
        self.settings, self.service, self.topics, self.handler = settings, service, list(topics), handler
        self.group_id = group_id or consumer_group(settings, service)
        self.producer = producer
        self.max_records = max_records
        self.dead_letter_topic = f"{service}.dead-letter"
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self._reported: set[tuple[str, int]] = set()
        self.rebalances = Rebalances()
        # Partitions whose handled batch went uncommitted: read again from the last commit before the next poll.
        self._uncommitted: set[TopicPartition] = set()
        self.running = False

    def _make(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            client_id=f"{self.settings.kafka_client_prefix}-{self.service}",
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=600_000,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(100, self.settings.kafka_session_timeout_ms // 6),
        )
        consumer.subscribe(self.topics, listener=self.rebalances)
        return consumer

    async def run(self) -> None:
        """Consume until stop() is called. Meant to run as a background task for the service's lifetime."""
        try:
            self._consumer = await start_with_backoff(self._make, f"{self.service} consumer", self._stopping)
        except asyncio.CancelledError:
            return
        self.running = True
        backoff = Backoff(cap=10.0)
        try:
            while not self._stopping.is_set():
                try:
                    if self._uncommitted:
                        await self._rewind()
                    rebalances = self.rebalances.count  # before the poll: what it returns may predate a rebalance
                    records = await self._consumer.getmany(timeout_ms=200, max_records=self.max_records)
                    if records:
                        await self._process(records, rebalances)
                    backoff.reset()
                except Exception:  # noqa: BLE001 - a consumer that dies here would stop the service consuming silently
                    delay = backoff.next_delay()
                    log.exception("%s: consumer loop failed, polling again in %.1fs", self.service, delay)
                    await asyncio.sleep(delay)
        finally:
            self.running = False
            await self._consumer.stop()

    async def stop(self) -> None:
        self._stopping.set()

    async def _process(self, records: dict[TopicPartition, list[ConsumerRecord]], rebalances: int) -> None:
        started = time.perf_counter()
        good: list[Consumed] = []
        for messages in records.values():
            for m in messages:
                try:
                    good.append(Consumed.of(m))
                except InvalidEvent as exc:
                    await self._dead_letter(m, str(exc), known_event=False)
        if good and not await self._handle(good, records):
            return  # stopping in the middle of a retry: offsets stay uncommitted, the batch comes back
        for c in good:
            metrics.EVENTS_CONSUMED.labels(self.service, c.topic, c.event.type).inc()
        await self._commit({tp: messages[-1].offset + 1 for tp, messages in records.items()}, rebalances)
        metrics.BATCH_SECONDS.labels(self.service).observe(time.perf_counter() - started)

    async def _commit(self, offsets: dict[TopicPartition, int], rebalances: int) -> None:
        """Commit a batch's offsets, unless the group rebalanced since the batch was polled: whoever holds the
        partitions now starts from the last commit, redelivers the batch, and the inbox dedupes it."""
        if self.rebalances.count != rebalances:
            log.info("%s: the group rebalanced during a batch; leaving its offsets uncommitted", self.service)
            self._uncommitted.update(offsets)
            return
        commit = self.rebalances.commit = asyncio.ensure_future(self._consumer.commit(offsets))
        try:
            await commit
        except (CommitFailedError, KafkaError) as exc:
            log.warning("%s: offset commit failed after rebalance (%s)", self.service, type(exc).__name__)
            self._uncommitted.update(offsets)
        except asyncio.CancelledError:
            if not commit.cancelled() or asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # the consumer itself is being cancelled
            log.info("%s: a rebalance cancelled an offset commit; the batch will be redelivered", self.service)
            self._uncommitted.update(offsets)
        finally:
            self.rebalances.commit = None

    async def _rewind(self) -> None:
        """Move each uncommitted partition this member still holds back to the group's last commit.

        A rebalance hands a member fresh positions read from the last commit, but a poll that overlaps the
        rebalance can already return records fetched from those positions, so a batch that looks older than the
        rebalance may not be. When this member keeps the partition, nothing else would read those records again:
        their offsets stayed uncommitted and the lag never fell until new events arrived. Moving to the commit
        redelivers them, and the inbox dedupes what was already handled. No commit (a broker that lost its log)
        means the start, as auto_offset_reset says."""
        held = self._consumer.assignment()
        for tp in self._uncommitted & held:
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)
        self._uncommitted.clear()

    async def _handle(self, batch: list[Consumed], records: dict[TopicPartition, list[ConsumerRecord]]) -> bool:
        backoff = Backoff(cap=10.0)
        collisions = 0
        while not self._stopping.is_set():
            try:
                await self.handler(batch)
                return True
            except Exception as exc:  # noqa: BLE001 - sorted into transient or not below
                # Another member handling the same events after a rebalance collides on the inbox's primary key;
                # once its transaction is in, the retry finds those ids already claimed.
                collided = isinstance(exc, IntegrityError) and collisions < INTEGRITY_RETRIES
                collisions += collided
                if is_transient(exc) or collided:
                    metrics.HANDLER_RETRIES.labels(self.service).inc()
                    delay = backoff.next_delay()
                    log.warning("%s: transient failure (%s), retrying batch in %.1fs",
                                self.service, type(exc).__name__, delay)
                    await asyncio.sleep(delay)
                    continue
                if len(batch) == 1:
                    await self._dead_letter(self._record_of(batch[0], records),
                                            f"handler failed: {type(exc).__name__}")
                    return True
                # Find the event at fault: one at a time, in order, so per-region order holds.
                for single in batch:
                    if not await self._handle([single], records):
                        return False
                return True
        return False

    @staticmethod
    def _record_of(c: Consumed, records: dict[TopicPartition, list[ConsumerRecord]]) -> ConsumerRecord:
        messages = records[TopicPartition(c.topic, c.partition)]
        return next(m for m in messages if m.offset == c.offset)

    async def _dead_letter(self, record: ConsumerRecord, error: str, known_event: bool = True) -> None:
        """A known event carries no personal data by contract and is kept as it was, for replay. Anything else may
        (a partner's raw registration sent to the wrong place), so it is kept with the original's hash and masked:
        JSON through Samaran, which finds names by their keys; other bytes not at all, as nothing marks a name
        there."""
        log.error("%s: dead-lettering %s[%d]@%d: %s", self.service, record.topic, record.partition,
                  record.offset, error)
        key, value, headers = record.key, record.value, list(record.headers or ())
        if not known_event:
            key = mask_personal_data(key.decode(errors="replace")).encode() if key else key
            digest = hashlib.sha256(value or b"").hexdigest()
            try:
                json.loads(value or b"")
                value = mask_personal_data(value.decode()).encode()
            except ValueError:
                value = json.dumps({"withheld": "not JSON", "sha256": digest, "bytes": len(value or b"")}).encode()
            headers = [(k, mask_personal_data(v.decode(errors="replace")).encode() if v else v) for k, v in headers]
            headers.append(("dlq.original_sha256", digest.encode()))
        headers += [
            ("dlq.error", mask_personal_data(error).encode()[:1000]),
            ("dlq.topic", record.topic.encode()),
            ("dlq.partition", str(record.partition).encode()),
            ("dlq.offset", str(record.offset).encode()),
            ("dlq.service", self.service.encode()),
        ]
        backoff = Backoff()
        while True:
            try:
                future = await self.producer.send_raw(self.dead_letter_topic, key, value, headers)
                await future
                break
            except (KafkaError, AssertionError) as exc:
                delay = backoff.next_delay()
                log.warning("%s: dead-letter publish failed (%s), retrying", self.service, type(exc).__name__)
                await asyncio.sleep(delay)
        metrics.DEAD_LETTERS.labels(self.service, self.dead_letter_topic).inc()

    async def lag(self) -> dict[tuple[str, int], int]:
        """Messages per assigned partition not yet committed by this group."""
        if self._consumer is None or not self.running:
            return {}
        assigned = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(assigned) if assigned else {}
        result = {}
        for tp in assigned:
            end = partition_end(self._consumer, tp, ends.get(tp, 0))
            committed = await self._consumer.committed(tp) or 0
            result[(tp.topic, tp.partition)] = max(0, end - committed)
            metrics.CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(result[(tp.topic, tp.partition)])
        # A partition moved to another member is its lag to report now; a stale figure here would hold alerts up.
        for topic, partition in self._reported - result.keys():
            metrics.CONSUMER_LAG.remove(self.service, topic, str(partition))
        self._reported = set(result)
        return result
