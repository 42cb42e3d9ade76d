"""What the award service consumes: worker and subsidy events into the projection (live, and again on a rebuild),
and its own award.indicators topic, fanned out to the Server-Sent Events clients of this process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.award import repository
from services.award.domain import Registration, apply_event, change
from services.award.models import inbox
from shared.database import Database
from shared.events import (
    BudgetAllocated,
    BudgetThresholdCrossed,
    IndicatorsUpdated,
    InvalidEvent,
    WorkerAttributes,
    parse_event,
)
from shared.inbox import claim_new
from shared.kafka import Backoff, Consumed, read_to_end, start_with_backoff
from shared.settings import Settings
from shared.topics import DECISIONS, INDICATORS, WORKERS

log = logging.getLogger(__name__)

Touched = set[tuple[int, str]]  # (fiscal_year, region_code as stored)


async def apply_events(session, batch: list[Consumed]) -> Touched:  # noqa: ANN001 - AsyncSession
    """Fold a batch of new (already inbox-claimed) events into the projection, in the caller's transaction.

    Registrations touched by the batch are loaded once, every event is merged into them in memory, and the tallies
    change by the difference of their contributions: one upsert per changed tally, not a recount.
    """
    touched: Touched = set()
    registration_events = [c.event.data for c in batch if isinstance(c.event.data, WorkerAttributes)]
    if registration_events:
        keys = {(str(d.registration_id), d.fiscal_year) for d in registration_events}
        before = await repository.load_registrations(session, keys)
        after: dict[tuple[str, int], Registration] = dict(before)
        for data in registration_events:
            key = (str(data.registration_id), data.fiscal_year)
            after[key] = apply_event(after.get(key) or Registration.first_seen(data, data.fiscal_year), data)
        changed = [key for key, state in after.items() if before.get(key) != state]
        tally_delta, daily_delta = change([before[k] for k in changed if k in before], [after[k] for k in changed])
        await repository.save_registrations(session, [after[k] for k in changed])
        await repository.add_tallies(session, tally_delta)
        await repository.add_daily(session, daily_delta)
        touched.update((year, region_code) for year, region_code, _ in tally_delta)
        touched.update((year, region_code) for year, region_code, _, _ in daily_delta)
    for c in batch:
        data = c.event.data
        if isinstance(data, BudgetAllocated):
            await repository.record_allocation(session, data)
            touched.add((data.fiscal_year, data.region_code))
        elif isinstance(data, BudgetThresholdCrossed):
            await repository.record_threshold(session, data)
            touched.add((data.fiscal_year, data.region_code))
    return touched


async def handle_batch(database: Database, batch: list[Consumed]) -> Touched:
    """One polled batch, exactly once: the inbox claim and the projection change commit together."""
    async with database.transaction() as session:
        fresh = await claim_new(session, inbox, batch)
        return await apply_events(session, fresh) if fresh else set()


# --- rebuild ---

@dataclass(frozen=True)
class RebuildReport:
    events: int
    skipped: int
    seconds: float


REBUILD_BATCH = 5000


async def rebuild(settings: Settings, database: Database) -> RebuildReport:
    """Empty the projection and the inbox, then replay both input topics from their first offset.

    It reads with manual assignment (no consumer group), so the live service's committed offsets are untouched; a
    live consumer running meanwhile is harmless, because the inbox lets whichever of the two sees an event first
    apply it.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with database.transaction() as session:
        await repository.drop_projection(session)
    events = skipped = 0
    async for records in read_to_end(settings.bootstrap_servers, (WORKERS.name, DECISIONS.name),
                                     client_id=f"{settings.kafka_client_prefix}-award-rebuild",
                                     batch_records=REBUILD_BATCH):
        batch = []
        for record in records:
            try:
                batch.append(Consumed.of(record))
            except InvalidEvent:
                skipped += 1  # the live consumer dead-lettered it; the projection never had it
        if batch:
            await handle_batch(database, batch)
            events += len(batch)
    return RebuildReport(events, skipped, round(loop.time() - started, 3))


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
            except Exception as exc:  # noqa: BLE001 - a broker hiccup: reconnect; clients get a snapshot on reconnect
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

