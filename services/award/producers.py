"""What the award service publishes: ``indicators.updated`` snapshots to the compacted topic award.indicators, keyed
by region code, coalesced to at most one per regency per interval (a province or the nation per two), with a daily
snapshot kept for charts.

The topic is filled again whenever it may have lost what was published: at every start, and whenever the broker's
log turns out not to be the one published to (``shared.broker_log``), so that a new stream consumer always finds
every region's latest snapshot on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

from prometheus_client import Counter, Histogram

from services.award import repository
from services.award.domain import Board, IndicatorConfig, Region, due_regions, next_due, published_regions
from shared.broker_log import BrokerLog, Mark, Partition, lost_at_end, lost_on_acknowledgement, marks_of
from shared.clock import Clock
from shared.database import Database
from shared.events import IndicatorsUpdated, new_event
from shared.kafka import Backoff, EventProducer
from shared.topics import INDICATORS

log = logging.getLogger(__name__)

UPDATES_PUBLISHED = Counter(
    "paritrana_award_updates_published_total", "indicators.updated snapshots published", ["level"])
PUBLISH_SECONDS = Histogram(
    "paritrana_award_publish_seconds", "Time to compute and publish one round of coalesced region updates")

SOURCE = "/paritrana/award"
# At most this many publishing rounds per interval: a quiet region's first change waits up to interval / this.
ROUNDS_PER_INTERVAL = 5
# How often the publisher asks the broker whether award.indicators still holds what it published.
LOG_CHECK_SECONDS = 5.0


def update_of(board: Board, region_code: str, clock: Clock) -> IndicatorsUpdated | None:
    found = board.regions.get(region_code)
    if found is None:
        return None
    return IndicatorsUpdated(region_code=region_code, level=found.level, fiscal_year=board.fiscal_year,
                             values=found.values, score=found.score, counts=found.counts, as_of=clock.now())


class IndicatorsPublisher:
    """A background worker: regions marked changed are published once their last update is at least
    ``interval`` seconds old, so a burst of grants in one region becomes one update per interval, and a quiet
    region's first change goes out in the next round (rounds are ``interval / ROUNDS_PER_INTERVAL`` apart)."""

    def __init__(self, database: Database, producer: EventProducer, clock: Clock, config: IndicatorConfig,
                 interval: float, log_check_seconds: float = LOG_CHECK_SECONDS) -> None:
        self.database, self.producer, self.clock, self.config = database, producer, clock, config
        self.interval, self.log_check_seconds = interval, log_check_seconds
        self.round_gap = interval / ROUNDS_PER_INTERVAL
        self.broker_log = BrokerLog(producer.settings, "award", [INDICATORS])
        self._pending: set[Region] = set()
        self._last: dict[Region, float] = {}
        self._known: dict[Partition, Mark] = {}  # where the broker put the last update to each partition
        self._refill = True  # every region published before goes out again: at start, and after a lost log
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def mark(self, stored: Iterable[Region]) -> None:
        """Regions whose facts changed (as stored: regency, a province's own budget); their province and the
        nation change with them."""
        self._pending.update(published_regions(stored))
        if self._pending:
            self._wake.set()

    async def run(self) -> None:
        watch = asyncio.create_task(self._watch_log())
        try:
            await self._publish_rounds()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            await self.broker_log.close()

    async def _watch_log(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.check_log()
            except Exception as exc:
                log.warning("award: checking award.indicators failed (%s)", type(exc).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.log_check_seconds)

    async def check_log(self) -> None:
        """Refill the topic when it is due, or when the broker's log ends before what was published to it."""
        if self._known and lost_at_end(self._known, await self.broker_log.ends()):
            log.warning("award: %s no longer holds what was published to it; publishing every region again",
                        INDICATORS.name)
            self._known, self._refill = {}, True
        if self._refill:
            async with self.database.reading() as session:
                self.mark(await repository.snapshot_regions(session))
            self._refill = False

    async def _publish_rounds(self) -> None:
        backoff = Backoff()
        while not self._stopping.is_set():
            if not self._pending:
                await self._sleep(None)
                continue
            now = time.monotonic()
            due = due_regions(self._pending, self._last, now, self.interval)
            if not due:
                await self._sleep(min(next_due(k, self._last, self.interval) for k in self._pending) - now)
                continue
            self._pending -= due
            try:
                await self._publish(due)
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._pending |= due
                delay = backoff.next_delay()
                log.warning("award: publishing indicators failed (%s), retrying in %.1fs", type(exc).__name__, delay)
                await self._sleep(delay)
                continue
            for key in due:
                self._last[key] = now
            await self._rest(now + self.round_gap - time.monotonic())

    async def _rest(self, seconds: float) -> None:
        """Between rounds, woken only by stop. Each round computes a board from every region's facts, and under a
        steady trickle nearly every change is some quiet region's first, due at once: without a gap, a board per
        registration. Changes that arrive meanwhile go out together in the next round."""
        if seconds > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _sleep(self, seconds: float | None) -> None:
        """Until marked, stopped or the time is up; nothing awaits between a caller's check and the clear below."""
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _publish(self, due: set[Region]) -> None:
        started = time.perf_counter()
        today = self.clock.today()
        for fiscal_year in sorted({year for year, _ in due}):
            codes = sorted(code for year, code in due if year == fiscal_year)
            async with self.database.reading() as session:
                board = await repository.board(session, self.config, fiscal_year, today, only=set(codes))
            updates = [u for code in codes if (u := update_of(board, code, self.clock)) is not None]
            acknowledged = marks_of(await self.producer.publish(
                [(new_event(u, source=SOURCE, subject=u.region_code), u.region_code) for u in updates]))
            if lost_on_acknowledgement(self._known, acknowledged):
                log.warning("award: %s is a new log; publishing every region again", INDICATORS.name)
                self._known, self._refill = {}, True
            self._known.update(acknowledged)
            async with self.database.transaction() as session:
                await repository.save_snapshots(session, fiscal_year, today, updates)
            for u in updates:
                UPDATES_PUBLISHED.labels(u.level).inc()
        PUBLISH_SECONDS.observe(time.perf_counter() - started)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
