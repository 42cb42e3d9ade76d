"""What the award service consumes: worker and subsidy events into the projection (``service.rebuild`` replays them),
and its own award.indicators topic, fanned out to the Server-Sent Events clients of this process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.award import service
from services.award.producers import IndicatorsPublisher
from shared.database import Database
from shared.events import IndicatorsUpdated, InvalidEvent, parse_event
from shared.kafka import FETCHER_IDLE_WAKE_MS, Backoff, Consumed, start_with_backoff
from shared.kafka.reading import partitions_now
from shared.settings import Settings
from shared.topics import INDICATORS

log = logging.getLogger(__name__)

# How long a new SSE client waits for the indicators feed to start fetching before it gets its snapshot anyway.
LIVE_WAIT_SECONDS = 5.0


async def handle_batch(database: Database, publisher: IndicatorsPublisher, batch: list[Consumed]) -> None:
    """The live consumer's handler: the batch into the projection, then the regions it changed to the publisher."""
    publisher.mark(await service.record_events(database, batch))


# --- award.indicators, fanned out to this process's SSE clients ---

class Subscription:
    """One SSE client's queue of updates, filtered by province. A client that falls too far behind is dropped and
    reconnects to a fresh snapshot."""

    def __init__(self, province: str | None, size: int = 1000) -> None:
        self.province = province
        self.queue: asyncio.Queue[tuple[str, IndicatorsUpdated] | None] = asyncio.Queue(size)

    def wants(self, update: IndicatorsUpdated) -> bool:
        return self.province is None or update.level == "national" or update.region_code[:2] == self.province

    def offer(self, event_id: str, update: IndicatorsUpdated) -> bool:
        try:
            self.queue.put_nowait((event_id, update))
            return True
        except asyncio.QueueFull:
            return False


class IndicatorsFeed:
    """Tails award.indicators from its end, while some SSE client is subscribed, and hands each update to the
    subscribed clients. Every replica runs one, so a client sees every region's updates whichever replica's consumer
    published them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.subscriptions: set[Subscription] = set()
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()
        # Set while the feed fetches from a position taken after the last subscriber came: what a subscriber's
        # snapshot, read after that, does not hold is published after it. With no subscriber the feed fetches
        # nothing, since every empty fetch costs the broker and this process (ten a second: docs/benchmark.md).
        self.live = asyncio.Event()
        self._wanted = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self, province: str | None) -> AsyncIterator[Subscription]:
        subscription = Subscription(province)
        self.subscriptions.add(subscription)
        self._wanted.set()
        try:
            # A feed that cannot reach the broker still lets the client have its snapshot; updates follow when
            # the feed is back, as after any restart of the feed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.live.wait(), LIVE_WAIT_SECONDS)
            yield subscription
        finally:
            self.subscriptions.discard(subscription)

    def broadcast(self, event_id: str, update: IndicatorsUpdated) -> None:
        for subscription in list(self.subscriptions):
            if subscription.wants(update) and not subscription.offer(event_id, update):
                self.subscriptions.discard(subscription)
                with contextlib.suppress(asyncio.QueueFull):
                    subscription.queue.get_nowait()
                    subscription.queue.put_nowait(None)  # tells the stream to close

    async def run(self) -> None:
        backoff = Backoff()
        while not self._stopping.is_set():
            try:
                await self._tail()
                return
            except asyncio.CancelledError:
                return
            except Exception as exc:
                delay = backoff.next_delay()
                log.warning("award: indicators feed failed (%s), retrying in %.1fs", type(exc).__name__, delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)

    async def _tail(self) -> None:
        consumer: AIOKafkaConsumer = await start_with_backoff(lambda: AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
            auto_offset_reset="latest", fetch_max_wait_ms=100, consumer_timeout_ms=FETCHER_IDLE_WAKE_MS,
            client_id=f"{self.settings.kafka_client_prefix}-award-feed"), "award indicators feed", self._stopping)
        try:
            partitions = await partitions_now(consumer, [INDICATORS.name])
            if not partitions:
                raise LookupError(f"{INDICATORS.name} does not exist yet (paritrana topics create)")
            consumer.assign(partitions)
            consumer.pause(*partitions)
            self.ready.set()
            while not self._stopping.is_set():
                if not self.live.is_set():
                    await self._go_live(consumer, partitions)
                    continue
                records = await consumer.getmany(timeout_ms=200)
                for tp, messages in records.items():
                    for m in messages:
                        try:
                            event = parse_event(m.value)
                        except InvalidEvent:
                            continue
                        if isinstance(event.data, IndicatorsUpdated):
                            self.broadcast(f"{tp.partition}-{m.offset}", event.data)
                if not self.subscriptions:
                    consumer.pause(*partitions)
                    self.live.clear()
        finally:
            self.ready.clear()
            self.live.clear()
            await consumer.stop()

    async def _go_live(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        """Wait for a subscriber (or stop), then fetch from the end of the topic as it is now."""
        self._wanted.clear()
        if not self.subscriptions:
            stopping = asyncio.ensure_future(self._stopping.wait())
            wanted = asyncio.ensure_future(self._wanted.wait())
            await asyncio.wait([stopping, wanted], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            wanted.cancel()
            if self._stopping.is_set():
                return
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolves the start offset now, so nothing published later is missed
        consumer.resume(*partitions)
        self.live.set()

    async def stop(self) -> None:
        self._stopping.set()

