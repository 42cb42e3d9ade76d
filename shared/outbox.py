"""The producer side of exactly-once: a transactional outbox and its relay (Debezium's outbox pattern, polled).

A service writes its state change and the event rows in one transaction (``enqueue``). The relay publishes unsent
rows in ``seq`` order, waits for the broker's acknowledgement, and only then marks them sent. While the broker is
down it retries with capped backoff; the API never waits on Kafka.

Two relay instances (two replicas of a service) never publish side by side: each batch is published under a lease
row taken with an atomic ``UPDATE … WHERE lease expired OR owner = me``, so only one relay publishes at a time and
order per key holds.

Sent rows are kept, so what the broker loses can be sent again with the original ids (consumers dedupe them). The
relay does it by itself (``shared.broker_log``): it keeps where the broker put its last publish to each partition
(the marks table), and the time before which every consumer group has read everything it sent (the lease row's
``delivered_before``). When the broker's log is not the one it published to, it marks unsent what was sent since,
and publishes it again in its original order. ``republish`` is the operator's way to do the same for a period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.broker_log import BrokerLog, Mark, Partition, lost_at_end, lost_on_acknowledgement, marks_of, read_by_all
from shared.database import EVENTS_ENQUEUED, Database, changed_rows, dialect_insert
from shared.events import CONTENT_TYPE, Envelope, encode_event
from shared.failures import is_transient
from shared.kafka import EventProducer, Stopped, retrying
from shared.topics import TOPICS, topic_for

log = logging.getLogger(__name__)

OUTBOX_BACKLOG = Gauge("paritrana_outbox_backlog", "Outbox rows not yet acknowledged by the broker", ["service"])
BACKLOG_INTERVAL_SECONDS = 2.0
OUTBOX_PUBLISHED = Counter("paritrana_outbox_published_total", "Outbox rows published and marked sent", ["service"])
LOG_LOSSES = Counter("paritrana_outbox_broker_log_lost_total",
                     "Times the relay found the broker's log was not the one it published to", ["service"])
REPUBLISHED = Counter("paritrana_outbox_republished_total",
                      "Sent rows marked unsent again because the broker lost them", ["service"])
# How often an idle relay asks the broker whether its log is still the one it published to, and how far the
# consumer groups have read. A busy relay learns of a new log from the first acknowledgement in it.
LOG_CHECK_SECONDS = 5.0
# An idle relay's outbox polls, from the first to the longest gap, doubling while they find nothing. The longest is
# the log check's period, so that an idle relay wakes once for both.
IDLE_POLL_SECONDS = (1.0, LOG_CHECK_SECONDS)
# Sent rows are compared by their sent_at with a time taken on the lease holder's clock; this covers a replica's
# clock running a little apart.
CLOCK_MARGIN = timedelta(seconds=5)
# Marks already confirmed as read by every group are confirmed again (a round trip to the broker for each group's
# commits and a write transaction) only this often while nothing new is published: an idle relay did both on each
# check of the log. delivered_before then lags by at most this much, which after a lost log only means a few more
# events sent again, and the inboxes drop those.
RECONFIRM_SECONDS = 60.0


def outbox_tables(metadata: MetaData, name: str = "outbox") -> tuple[Table, Table, Table]:
    """The outbox, its one-row lease table and its marks (where the broker put the last publish to each partition),
    added to a service's metadata (and created by its migrations)."""
    outbox = Table(
        name, metadata,
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(64), nullable=False),
        Column("topic", String(128), nullable=False),
        Column("key", String(64), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("sent_at", DateTime(timezone=True), nullable=True),
    )
    Index(f"ix_{name}_unsent", outbox.c.seq, postgresql_where=outbox.c.sent_at.is_(None),
          sqlite_where=outbox.c.sent_at.is_(None))
    Index(f"ix_{name}_created_at", outbox.c.created_at)
    lease = Table(
        f"{name}_lease", metadata,
        Column("id", Integer, primary_key=True),
        Column("owner", String(128), nullable=True),
        Column("expires_at", DateTime(timezone=True), nullable=True),
        # Every consumer group of the outbox's topics has read everything sent before this.
        Column("delivered_before", DateTime(timezone=True), nullable=True),
    )
    marks = Table(
        f"{name}_marks", metadata,
        Column("topic", String(128), primary_key=True),
        Column("partition", Integer, primary_key=True, autoincrement=False),
        Column("first_offset", BigInteger, nullable=False),
        Column("last_offset", BigInteger, nullable=False),
    )
    return outbox, lease, marks


def outbox_rows(events: Sequence[tuple[Envelope[Any], str]], now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    return [
        {"event_id": str(e.id), "event_type": e.type, "topic": topic_for(e.type).name, "key": key,
         "payload": encode_event(e), "created_at": now, "sent_at": None}
        for e, key in events
    ]


async def enqueue(session: AsyncSession, outbox: Table, events: Sequence[tuple[Envelope[Any], str]]) -> None:
    """Add (event, key) pairs to the outbox inside the caller's transaction; its commit wakes the relay."""
    if events:
        await session.execute(insert(outbox), outbox_rows(events))
        session.info[EVENTS_ENQUEUED] = True


async def republish(database: Database, outbox: Table, since: datetime) -> int:
    """Mark every event stored since `since` unsent again; the relay re-sends them in their original order."""
    async with database.transaction() as session:
        result = await session.execute(
            update(outbox).where(outbox.c.created_at >= since, outbox.c.sent_at.is_not(None)).values(sent_at=None)
        )
        return changed_rows(result)


async def backlog(database: Database, outbox: Table) -> int:
    async with database.reading() as session:
        return (await session.execute(select(func.count()).where(outbox.c.sent_at.is_(None)))).scalar_one()


class OutboxRelay:
    def __init__(self, database: Database, outbox: Table, lease: Table, marks: Table, producer: EventProducer,
                 service: str, *, batch_size: int = 1000, lease_seconds: float = 15.0, poll_seconds: float = 0.05,
                 log_check_seconds: float = LOG_CHECK_SECONDS, clock_margin: timedelta = CLOCK_MARGIN) -> None:
        self.database, self.outbox, self.lease, self.marks, self.producer = database, outbox, lease, marks, producer
        self.service, self.batch_size = service, batch_size
        self.lease_seconds, self.poll_seconds, self.log_check_seconds = lease_seconds, poll_seconds, log_check_seconds
        self.clock_margin = clock_margin
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.broker_log = BrokerLog(producer.settings, service,
                                    [t for t in TOPICS if t.producer == service and t.event_types])
        self._lease_until = 0.0  # event-loop time until which this relay surely holds the lease
        # What this relay knows of the broker's log while it holds the lease; None: ask before publishing again.
        self._known: dict[Partition, Mark] | None = None
        self._checked_at = 0.0
        # Times at which the marks were as recorded, waiting for every consumer group to read past them.
        self._checkpoints: list[tuple[datetime, dict[Partition, Mark]]] = []
        self._confirmed: tuple[dict[Partition, Mark], float] | None = None  # the last marks read by all, and when
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._drains = 0  # times publish_batch found the outbox drained: a backlog counted across one is stale
        self._idle = False  # set while the relay waits after a round that found nothing to publish
        database.on_events_committed(self.notify)

    def notify(self) -> None:
        """Wakes the relay: a transaction that enqueued events has committed (Database.transaction calls it)."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        watcher = asyncio.create_task(self._watch_backlog())
        try:
            await self._relay()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await self.broker_log.close()

    async def _relay(self) -> None:
        # Any error is broker or database trouble, or worth a log of its own: wait (a commit wakes the relay early)
        # and try again.
        rounds = retrying(Exception, self._failed, cap=10.0, stopping=self._stopping, pause=self._sleep)
        idle = IDLE_POLL_SECONDS[0]
        with contextlib.suppress(Stopped):
            while not self._stopping.is_set():
                published: int = await rounds(self._round)
                if published:
                    idle = IDLE_POLL_SECONDS[0]
                    if published < self.batch_size:
                        await self._sleep(self.poll_seconds)
                    continue
                # A commit in this process wakes the relay at once; the polls find rows committed by other
                # processes (the operators' commands, another replica), so they back off but stay bounded, and
                # never past the next check of the broker's log.
                self._idle = True
                try:
                    await self._sleep(max(self.poll_seconds, min(idle, self._next_log_check())))
                finally:
                    self._idle = False
                idle = min(2 * idle, IDLE_POLL_SECONDS[1])
        # Finish with whatever was enqueued before the stop, if the broker takes it quickly.
        try:
            async with asyncio.timeout(3):
                while self._known is not None and await self._hold_lease() and await self.publish_batch():
                    pass
        except Exception:
            pass
        await self._release_lease()

    async def _round(self) -> int:
        """Publish a batch if this relay holds the lease, asking the broker about its log first when that is due."""
        if not await self._hold_lease():
            return 0
        if self._log_check_due():
            await self.check_log()
        return await self.publish_batch()

    def _failed(self, exc: Exception, delay: float) -> None:
        self._known = None  # the broker may have restarted meanwhile: ask it before publishing again
        if not (is_transient(exc) or isinstance(exc, KafkaError)):
            log.error("%s outbox relay: unexpected error", self.service, exc_info=exc)
        log.warning("%s outbox relay: %s, retrying in %.1fs", self.service, type(exc).__name__, delay)

    def _log_check_due(self) -> bool:
        return self._known is None or self._next_log_check() <= 0

    def _next_log_check(self) -> float:
        """Seconds until the broker's log is due to be checked again."""
        return self._checked_at + self.log_check_seconds - asyncio.get_running_loop().time()

    async def check_log(self) -> int:
        """Ask the broker whether its log is still the one this relay published to. If it is not, mark unsent what
        some consumer group may not have read, and return how many rows that was. If it is, move delivered_before
        on as far as every consumer group has read."""
        started = datetime.now(UTC)
        if self._known is not None:
            # Held since the marks were last read: this relay wrote every mark since, and kept them.
            known = dict(self._known)
        else:
            async with self.database.reading() as session:
                known = {(r.topic, r.partition): Mark(r.first_offset, r.last_offset)
                         for r in (await session.execute(select(self.marks))).all()}
        lost = lost_at_end(known, await self.broker_log.ends())
        if lost:
            return await self._recover(lost)
        self._known, self._checked_at = known, asyncio.get_running_loop().time()
        if known and (not self._checkpoints or self._checkpoints[-1][1] != known) and not self._confirmed_lately(known):
            self._checkpoints.append((started, known))
        if self._checkpoints:
            await self._confirm_delivery()
        return 0

    def _confirmed_lately(self, known: dict[Partition, Mark]) -> bool:
        return (self._confirmed is not None and self._confirmed[0] == known
                and asyncio.get_running_loop().time() - self._confirmed[1] < RECONFIRM_SECONDS)

    async def _confirm_delivery(self) -> None:
        committed = await self.broker_log.committed(p for _, marks in self._checkpoints for p in marks)
        read = [(at, marks) for at, marks in self._checkpoints if read_by_all(marks, committed)]
        if not read:
            return
        self._confirmed = read[-1][1], asyncio.get_running_loop().time()
        read_at = read[-1][0]
        self._checkpoints = [(at, marks) for at, marks in self._checkpoints if at > read_at]
        before = read_at - self.clock_margin
        async with self.database.transaction(first=True) as session:
            await session.execute(update(self.lease).where(
                self.lease.c.id == 1,
                self.lease.c.delivered_before.is_(None) | (self.lease.c.delivered_before < before),
            ).values(delivered_before=before))

    async def _recover(self, lost: list[Partition]) -> int:
        """The broker's log is not the one published to: every row sent since delivered_before goes out again, in
        seq order, and the marks start afresh with the new log."""
        topics = sorted({topic for topic, _ in lost})
        async with self.database.transaction(first=True) as session:
            delivered_before = (await session.execute(
                select(self.lease.c.delivered_before).where(self.lease.c.id == 1))).scalar_one_or_none()
            unsend = update(self.outbox).where(self.outbox.c.topic.in_(topics), self.outbox.c.sent_at.is_not(None))
            if delivered_before is not None:
                unsend = unsend.where(self.outbox.c.sent_at >= delivered_before)
            count = changed_rows(await session.execute(unsend.values(sent_at=None)))
            await session.execute(delete(self.marks).where(self.marks.c.topic.in_(topics)))
        LOG_LOSSES.labels(self.service).inc()
        REPUBLISHED.labels(self.service).inc(count)
        log.warning("%s outbox relay: the broker's log of %s is not the one this service published to (%d "
                    "partition(s) end before what was published); sending again the %d events sent since %s",
                    self.service, ", ".join(topics), len(lost), count,
                    delivered_before.isoformat() if delivered_before else "the start")
        # The marks of the other topics stay: the next round reads them again and asks the broker about them.
        self._known, self._checkpoints, self._confirmed = None, [], None
        self.notify()
        return count

    async def _watch_backlog(self) -> None:
        """Count the unsent rows every few seconds while the relay is at work (a send to a frozen broker blocks it
        for the request timeout): the gauge behind the alert on a backlog that keeps growing. publish_batch sets it
        to 0 at once when it drains the outbox, so a drained service never shows a stale backlog; a count begun
        before such a drain is dropped, not set over it. While the relay waits after finding nothing, the backlog is
        the 0 it found, or rows it will find at its next poll: nothing to count."""
        while not self._stopping.is_set():
            try:
                drains = self._drains
                if not self._idle:
                    counted = await backlog(self.database, self.outbox)
                    if drains == self._drains:
                        OUTBOX_BACKLOG.labels(self.service).set(counted)
            except Exception:
                pass
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), BACKLOG_INTERVAL_SECONDS)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _hold_lease(self) -> bool:
        """Take or renew the lease, unless more than half of the last renewal is left: every batch marked sent
        renews it too (publish_batch), so a busy relay seldom needs a transaction of its own for it."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._lease_until - self.lease_seconds / 2:
            return True
        asked = loop.time()
        now = datetime.now(UTC)
        async with self.database.transaction(first=True) as session:
            result = await session.execute(
                update(self.lease)
                .where(self.lease.c.id == 1,
                       (self.lease.c.owner == self.owner) | self.lease.c.owner.is_(None)
                       | (self.lease.c.expires_at < now))
                .values(owner=self.owner, expires_at=now + timedelta(seconds=self.lease_seconds))
            )
            held = changed_rows(result) == 1
            if not held and (await session.execute(select(func.count()).select_from(self.lease))).scalar_one() == 0:
                try:
                    async with session.begin_nested():
                        await session.execute(insert(self.lease).values(
                            id=1, owner=self.owner, expires_at=now + timedelta(seconds=self.lease_seconds)))
                    held = True
                except IntegrityError:
                    pass
        self._held(held, asked)
        return held

    def _held(self, held: bool, asked: float) -> None:
        # A lease this relay let run out may have been another relay's since.
        lapsed = asked >= self._lease_until
        self._lease_until = asked + self.lease_seconds if held else 0.0
        if not held or lapsed:
            # Another relay may have published meanwhile: what this one knew of the log is stale.
            self._known, self._checkpoints, self._confirmed = None, [], None

    async def _release_lease(self) -> None:
        self._held(False, 0.0)
        try:
            async with self.database.transaction(first=True) as session:
                await session.execute(update(self.lease).where(self.lease.c.id == 1, self.lease.c.owner == self.owner)
                                      .values(owner=None, expires_at=None))
        except Exception:
            pass

    async def publish_batch(self) -> int:
        """Publish the oldest unsent rows, wait for every acknowledgement, then mark them sent and record where the
        broker put them. An acknowledgement from a new log marks everything some consumer may not have read unsent
        instead, this batch included, so that it all goes out again in order."""
        async with self.database.reading() as session:
            rows = (await session.execute(
                select(self.outbox.c.seq, self.outbox.c.topic, self.outbox.c.key, self.outbox.c.payload)
                .where(self.outbox.c.sent_at.is_(None)).order_by(self.outbox.c.seq).limit(self.batch_size)
            )).all()
        if not rows:
            self._drained()
            return 0
        if not self.producer.started:
            raise KafkaError("producer not started")
        headers = [("content-type", CONTENT_TYPE.encode())]
        futures = [await self.producer.send_raw(r.topic, r.key.encode(), r.payload, headers) for r in rows]
        acknowledged = marks_of(await asyncio.gather(*futures))
        if self._known is not None and (lost := lost_on_acknowledgement(self._known, acknowledged)):
            await self._recover(lost)
            return 0
        asked = asyncio.get_running_loop().time()
        now = datetime.now(UTC)
        async with self.database.transaction(first=True) as session:
            seqs = [r.seq for r in rows]
            for start in range(0, len(seqs), 500):
                await session.execute(update(self.outbox).where(self.outbox.c.seq.in_(seqs[start:start + 500]))
                                      .values(sent_at=now))
            upsert = dialect_insert(session, self.marks)
            await session.execute(
                upsert.on_conflict_do_update(index_elements=["topic", "partition"], set_={
                    "first_offset": upsert.excluded.first_offset, "last_offset": upsert.excluded.last_offset}),
                [{"topic": topic, "partition": partition, "first_offset": mark.first_offset,
                  "last_offset": mark.last_offset} for (topic, partition), mark in acknowledged.items()])
            renewed = await session.execute(
                update(self.lease).where(self.lease.c.id == 1, self.lease.c.owner == self.owner)
                .values(expires_at=now + timedelta(seconds=self.lease_seconds)))
        self._held(changed_rows(renewed) == 1, asked)
        if self._known is not None:
            self._known.update(acknowledged)
        OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        if len(rows) < self.batch_size:
            self._drained()
        return len(rows)

    def _drained(self) -> None:
        self._drains += 1
        OUTBOX_BACKLOG.labels(self.service).set(0)
