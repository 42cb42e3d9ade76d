"""Consuming: a batch consumer in a group, with offsets committed after the handler and rebalances accounted for.

The consumer's contract: a handler receives a polled batch of parsed events and commits its own database
transaction; only then are the offsets committed. A crash in between redelivers the batch, so handlers dedupe by
event id (an inbox table) and the effect is exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaError
from sqlalchemy.exc import IntegrityError

from shared import metrics
from shared.events import Envelope, InvalidEvent, parse_event
from shared.failures import is_transient
from shared.kafka.dead_letters import send_to_dead_letters
from shared.kafka.producing import EventProducer
from shared.kafka.reading import partition_end
from shared.kafka.retry import Stopped, retrying, start_with_backoff
from shared.settings import Settings

log = logging.getLogger(__package__)


def consumer_group(settings: Settings, service: str) -> str:
    """The consumer group a service's consumers join."""
    return f"{settings.kafka_client_prefix}-{service}"


@dataclass(frozen=True)
class Consumed:
    event: Envelope[Any]
    topic: str
    partition: int
    offset: int
    key: str | None

    @classmethod
    def of(cls, record: ConsumerRecord) -> Consumed:
        """The parsed record; raises InvalidEvent for what no handler can take."""
        return cls(parse_event(record.value), record.topic, record.partition, record.offset,
                   record.key.decode(errors="replace") if record.key else None)


Handler = Callable[[list[Consumed]], Awaitable[None]]

INTEGRITY_RETRIES = 3
# How long the broker may hold a fetch that finds nothing. Tansu answers a waiting fetch only when the wait is over,
# not when a record arrives, so the wait is also the most an event waits to be read on each hop. At 500 ms (aiokafka's
# default) the two hops to award were half of a registration's way to the dashboard at moderate rates; a busy
# consumer that has caught up now asks again every 100 ms, which costs the broker about a millisecond a fetch, only
# while events flow. A consumer that has found nothing for QUIET_AFTER_SECONDS asks for the longer wait (an idle stack
# then fetches a thirtieth as often: the broker's and the services' largest idle cost), and goes back to the short one
# with the first records it gets, so only the first event after a quiet spell pays it. The poll's own timeout
# follows: it only sets how often an idle consumer wakes to look at its positions. A consumer nobody waits on may ask
# for a longer busy wait (enrolment's status reader).
BUSY_FETCH_WAIT_MS = 100
QUIET_FETCH_WAIT_MS = 3000
QUIET_AFTER_SECONDS = 10.0
BUSY_POLL_MS = 1000
# How often aiokafka's fetcher wakes with nothing to do (its consumer_timeout_ms, default 200 ms). A fetch's answer, a
# poll taking records, a resumed partition and a rebalance each wake it at once anyway.
FETCHER_IDLE_WAKE_MS = 5000


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
                 group_id: str | None = None, producer: EventProducer, max_records: int = 500,
                 busy_fetch_wait_ms: int = BUSY_FETCH_WAIT_MS) -> None:
        self.settings, self.service, self.topics, self.handler = settings, service, list(topics), handler
        self.busy_fetch_wait_ms = busy_fetch_wait_ms
        self.group_id = group_id or consumer_group(settings, service)
        self.producer = producer
        self.max_records = max_records
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self._reported: set[tuple[str, int]] = set()
        self.rebalances = Rebalances()
        # Partitions whose handled batch went uncommitted: read again from the last commit before the next poll.
        self._uncommitted: set[TopicPartition] = set()
        self._fetching: asyncio.Future[dict[TopicPartition, list[ConsumerRecord]]] | None = None
        self._last_records = time.monotonic()
        # What this member committed per partition since the group last rebalanced: the lag gauge's every 5 s
        # need not ask the broker for each partition's commit (one request each) when it made it itself.
        self._committed: dict[TopicPartition, int] = {}
        self._committed_rebalances = 0
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
            fetch_max_wait_ms=self.busy_fetch_wait_ms,
            consumer_timeout_ms=FETCHER_IDLE_WAKE_MS,
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

        def failed(exc: Exception, delay: float) -> None:
            log.error("%s: consumer loop failed, polling again in %.1fs", self.service, delay, exc_info=exc)

        # Any error: a consumer that died here would stop the service consuming silently.
        polls = retrying(Exception, failed, cap=10.0, stopping=self._stopping)
        try:
            while not self._stopping.is_set():
                await polls(self._poll)
        except Stopped:
            pass
        finally:
            self.running = False
            await self._consumer.stop()

    async def _poll(self) -> None:
        assert self._consumer is not None
        if self._uncommitted:
            await self._rewind()
        rebalances = self.rebalances.count  # before the poll: what it returns may predate a rebalance
        # getmany returns as soon as records arrive; the timeout only sets how often an idle consumer wakes (each
        # wake also checks its positions against the log's end), and stop() ends the wait at once.
        fetching = self._fetching = asyncio.ensure_future(
            self._consumer.getmany(timeout_ms=BUSY_POLL_MS if self.fetch_wait_ms == self.busy_fetch_wait_ms
                                   else QUIET_FETCH_WAIT_MS, max_records=self.max_records))
        try:
            records = await fetching
        except asyncio.CancelledError:
            if not fetching.cancelled() or asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # the consumer itself is being cancelled
            return  # stop() ended the wait: nothing was taken from the fetcher, nothing to commit
        finally:
            self._fetching = None
        if records:
            self._last_records = time.monotonic()
            self.fetch_wait_ms = self.busy_fetch_wait_ms
            await self._process(records, rebalances)
        else:
            if time.monotonic() - self._last_records >= QUIET_AFTER_SECONDS:
                self.fetch_wait_ms = QUIET_FETCH_WAIT_MS
            await self._restart_past_the_end()

    @property
    def fetch_wait_ms(self) -> int | None:
        """The longest the broker may hold this consumer's next fetch (None before it has started)."""
        fetcher = getattr(self._consumer, "_fetcher", None)
        return getattr(fetcher, "_fetch_max_wait_ms", None)

    @fetch_wait_ms.setter
    def fetch_wait_ms(self, value: int) -> None:
        # aiokafka reads the wait from its fetcher for each request it builds, and offers no public way to change it
        # on a running consumer. tests/foundation/test_kafka.py fails if a new aiokafka renames it.
        fetcher = getattr(self._consumer, "_fetcher", None)
        if fetcher is not None and hasattr(fetcher, "_fetch_max_wait_ms"):
            fetcher._fetch_max_wait_ms = value

    async def stop(self) -> None:
        self._stopping.set()
        if self._fetching is not None:
            self._fetching.cancel()

    async def _process(self, records: dict[TopicPartition, list[ConsumerRecord]], rebalances: int) -> None:
        started = time.perf_counter()
        good: list[Consumed] = []
        for messages in records.values():
            for m in messages:
                try:
                    good.append(Consumed.of(m))
                except InvalidEvent as exc:
                    await send_to_dead_letters(self.producer, self.service, m, str(exc), known_event=False)
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
        assert self._consumer is not None  # started before the first poll
        commit = self.rebalances.commit = asyncio.ensure_future(self._consumer.commit(offsets))
        try:
            await commit
            if self.rebalances.count == rebalances:
                self._committed.update(offsets)
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

    async def _restart_past_the_end(self) -> None:
        """Read from its start each partition whose position is past the end of its log.

        Only a new log puts a member there: a broker that lost its log (Tansu, in memory) handed the old log's
        offsets, in a commit that outlived its restart or in a position kept across it. The member would wait there,
        skipping everything the new log holds until it grew that far; Tansu answers such a fetch with nothing rather
        than an out-of-range error, so aiokafka's own reset never comes. The inbox dedupes what is read again."""
        consumer = self._consumer
        assert consumer is not None  # started before the first poll
        for tp in consumer.assignment():
            end = consumer.highwater(tp) if self._holds(tp) else None
            if end is not None and await consumer.position(tp) > end and self._holds(tp):
                log.warning("%s: %s[%d] is past the end of a new log; reading it from the start", self.service,
                            tp.topic, tp.partition)
                await consumer.seek_to_beginning(tp)

    async def _rewind(self) -> None:
        """Move each uncommitted partition this member still holds back to the group's last commit.

        A rebalance hands a member fresh positions read from the last commit, but a poll that overlaps the
        rebalance can already return records fetched from those positions, so a batch that looks older than the
        rebalance may not be. When this member keeps the partition, nothing else would read those records again:
        their offsets stayed uncommitted and the lag never fell until new events arrived. Moving to the commit
        redelivers them, and the inbox dedupes what was already handled. No commit (a broker that lost its log)
        means the start, as auto_offset_reset says."""
        consumer = self._consumer
        assert consumer is not None  # started before the first poll
        for tp in self._uncommitted & consumer.assignment():
            committed = await consumer.committed(tp)
            if not self._holds(tp):
                continue
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        self._uncommitted.clear()

    async def _handle(self, batch: list[Consumed], records: dict[TopicPartition, list[ConsumerRecord]]) -> bool:
        if self._stopping.is_set():
            return False
        collisions = 0

        def worth_retrying(exc: Exception) -> bool:
            # Another member handling the same events after a rebalance collides on the inbox's primary key; once
            # its transaction is in, the retry finds those ids already claimed.
            nonlocal collisions
            collided = isinstance(exc, IntegrityError) and collisions < INTEGRITY_RETRIES
            collisions += collided
            return is_transient(exc) or isinstance(exc, KafkaConnectionError) or collided

        def retried(exc: Exception, delay: float) -> None:
            metrics.HANDLER_RETRIES.labels(self.service).inc()
            log.warning("%s: transient failure (%s), retrying batch in %.1fs", self.service, type(exc).__name__, delay)

        try:
            await retrying(worth_retrying, retried, cap=10.0, stopping=self._stopping)(self.handler, batch)
            return True
        except Stopped:
            return False  # stopping in the middle of a retry
        except Exception as exc:
            if len(batch) == 1:
                await send_to_dead_letters(self.producer, self.service, self._record_of(batch[0], records),
                                           f"handler failed: {type(exc).__name__}")
                return True
            # Find the event at fault: one at a time, in order, so per-region order holds. Said aloud: a handler that
            # fails every batch still applies each event, only one transaction each, and nothing else would show it.
            log.warning("%s: a batch of %d events failed (%s); handling them one at a time", self.service,
                        len(batch), type(exc).__name__)
            for single in batch:
                if not await self._handle([single], records):
                    return False
            return True

    @staticmethod
    def _record_of(c: Consumed, records: dict[TopicPartition, list[ConsumerRecord]]) -> ConsumerRecord:
        messages = records[TopicPartition(c.topic, c.partition)]
        return next(m for m in messages if m.offset == c.offset)

    def _holds(self, tp: TopicPartition) -> bool:
        """Whether this member still holds a partition. Asked again after every await that talks to the broker: a
        rebalance may take the partition meanwhile, and aiokafka then refuses highwater(), position() and seek() on
        it (a failed assertion, not a Kafka error)."""
        assert self._consumer is not None
        return tp in self._consumer.assignment()

    def _ends_fetched(self, assigned: list[TopicPartition]) -> bool:
        """Whether the last fetches tell where every partition ends, so the lag needs no question of its own: true of
        a quiet consumer, whose long fetches find nothing and bring each partition's high watermark every few
        seconds. A busy one may hold fetched records unread, and fetches nothing new meanwhile: a handler that hangs
        would then show a lag that stopped growing."""
        assert self._consumer is not None
        return self.fetch_wait_ms == QUIET_FETCH_WAIT_MS and all(
            self._consumer.highwater(tp) is not None for tp in assigned)

    async def lag(self) -> dict[tuple[str, int], int]:
        """Messages per assigned partition not yet committed by this group."""
        if self._consumer is None or not self.running:
            return {}
        if self._committed_rebalances != self.rebalances.count:
            self._committed, self._committed_rebalances = {}, self.rebalances.count
        assigned = list(self._consumer.assignment())
        ends: dict[TopicPartition, int] = {}
        if assigned and not self._ends_fetched(assigned):
            ends = await self._consumer.end_offsets(assigned)
        result = {}
        for tp in assigned:
            if not self._holds(tp):
                continue  # moved to another member while this asked the broker
            end = partition_end(self._consumer, tp, ends.get(tp, 0))
            committed = self._committed.get(tp)
            if committed is None:  # a commit made while asking is newer than the answer
                committed = self._committed.setdefault(tp, await self._consumer.committed(tp) or 0)
            result[(tp.topic, tp.partition)] = max(0, end - committed)
            metrics.CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(result[(tp.topic, tp.partition)])
        # A partition moved to another member is its lag to report now; a stale figure here would hold alerts up.
        for topic, partition in self._reported - result.keys():
            metrics.CONSUMER_LAG.remove(self.service, topic, str(partition))
        self._reported = set(result)
        return result
