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
from shared.kafka import Backoff, Consumed, start_with_backoff
from shared.settings import Settings
from shared.topics import INDICATORS

log = logging.getLogger(__name__)


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
    """Tails award.indicators from its end and hands each update to the subscribed SSE clients. Every replica runs
    one, so a client sees every region's updates whichever replica's consumer published them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.subscriptions: set[Subscription] = set()
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self, province: str | None) -> AsyncIterator[Subscription]:
        subscription = Subscription(province)
        self.subscriptions.add(subscription)
        try:
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
            auto_offset_reset="latest", fetch_max_wait_ms=100,
            client_id=f"{self.settings.kafka_client_prefix}-award-feed"), "award indicators feed", self._stopping)
        try:
            await consumer.topics()
            partitions = [TopicPartition(INDICATORS.name, p)
                          for p in sorted(consumer.partitions_for_topic(INDICATORS.name) or ())]
            if not partitions:
                raise LookupError(f"{INDICATORS.name} does not exist yet (paritrana topics create)")
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for tp in partitions:
                await consumer.position(tp)  # resolves the start offset now, so nothing published later is missed
            self.ready.set()
            while not self._stopping.is_set():
                records = await consumer.getmany(timeout_ms=200)
                for tp, messages in records.items():
                    for m in messages:
                        try:
                            event = parse_event(m.value)
                        except InvalidEvent:
                            continue
                        if isinstance(event.data, IndicatorsUpdated):
                            self.broadcast(f"{tp.partition}-{m.offset}", event.data)
        finally:
            self.ready.clear()
            await consumer.stop()

    async def stop(self) -> None:
        self._stopping.set()

