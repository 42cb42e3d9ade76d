"""The producer side of exactly-once: a transactional outbox and its relay (Debezium's outbox pattern, polled).

A service writes its state change and the event rows in one transaction (``enqueue``). The relay publishes unsent
rows in ``seq`` order, waits for the broker's acknowledgement, and only then marks them sent. While the broker is
down it retries with capped backoff; the API never waits on Kafka.

Two relay instances (two replicas of a service) never publish side by side: each batch is published under a lease
row taken with an atomic ``UPDATE … WHERE lease expired OR owner = me``, so only one relay publishes at a time and
order per key holds. Sent rows are kept, so ``republish`` can mark a period unsent again after the broker has lost
its log; the events go out again with their original ids, and consumers dedupe them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path
from datetime import datetime, timedelta, timezone
from typing import Any

import click
from aiokafka.errors import KafkaError
from sqlalchemy import (
    BigInteger, Column, DateTime, Index, Integer, LargeBinary, MetaData, String, Table, func, insert, select, update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from prometheus_client import Counter, Gauge

from shared.clock import FISCAL_TZ
from shared.database import Database
from shared.events import CONTENT_TYPE, Envelope, encode_event
from shared.kafka import Backoff, EventProducer, is_transient
from shared.topics import topic_for

log = logging.getLogger(__name__)

OUTBOX_BACKLOG = Gauge("paritrana_outbox_backlog", "Outbox rows not yet acknowledged by the broker", ["service"])
BACKLOG_INTERVAL_SECONDS = 2.0
OUTBOX_PUBLISHED = Counter("paritrana_outbox_published_total", "Outbox rows published and marked sent", ["service"])


def outbox_tables(metadata: MetaData, name: str = "outbox") -> tuple[Table, Table]:
    """The outbox and its one-row lease table, added to a service's metadata (and created by its migration)."""
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
    )
    return outbox, lease


def outbox_rows(events: Sequence[tuple[Envelope[Any], str]], now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(timezone.utc)
    return [
        {"event_id": str(e.id), "event_type": e.type, "topic": topic_for(e.type).name, "key": key,
         "payload": encode_event(e), "created_at": now, "sent_at": None}
        for e, key in events
    ]


async def enqueue(session: AsyncSession, outbox: Table, events: Sequence[tuple[Envelope[Any], str]]) -> None:
    """Add (event, key) pairs to the outbox inside the caller's transaction."""
    if events:
        await session.execute(insert(outbox), outbox_rows(events))


async def republish(database: Database, outbox: Table, since: datetime) -> int:
    """Mark every event stored since `since` unsent again; the relay re-sends them in their original order."""
    async with database.transaction() as session:
        result = await session.execute(
            update(outbox).where(outbox.c.created_at >= since, outbox.c.sent_at.is_not(None)).values(sent_at=None)
        )
        return result.rowcount


def parse_since(text: str) -> datetime:
    """An operator's --since: an ISO date or date-time; without an offset it is Jakarta time (WIB)."""
    since = datetime.fromisoformat(text.strip())
    if since.tzinfo is None:
        since = since.replace(tzinfo=FISCAL_TZ)
    return since.astimezone(timezone.utc)  # stored timestamps are UTC (SQLite keeps no zone)


def republish_command(service: str, outbox: Table, migrations: Path) -> click.Command:
    """`paritrana SERVICE republish --since TIME`, the same for every service with an outbox."""

    @click.command("republish")
    @click.option("--since", "since_text", required=True, metavar="TIME",
                  help="ISO date or date-time, e.g. 2025-03-01 or 2025-03-01T08:00:00+07:00 (no offset means WIB).")
    def command(since_text: str) -> None:
        """Send every event stored since TIME again, with its original id (consumers skip what they already have).

        The rows are marked unsent; the running service's outbox relay publishes them in their original order (or
        the next one to start does). Use it after the broker lost its log.
        """
        from shared.settings import get_settings

        try:
            since = parse_since(since_text)
        except ValueError:
            raise click.BadParameter("use an ISO date or date-time", param_hint="--since") from None

        async def run() -> int:
            database = Database(get_settings().database_url(service), migrations=migrations,
                                version_table=f"alembic_version_{service}")
            try:
                await database.migrate()
                return await republish(database, outbox, since)
            finally:
                await database.dispose()

        count = asyncio.run(run())
        click.echo(f"{count} events marked for republishing; the {service} relay is sending them")

    return command


async def backlog(database: Database, outbox: Table) -> int:
    async with database.reading() as session:
        return (await session.execute(select(func.count()).where(outbox.c.sent_at.is_(None)))).scalar_one()


class OutboxRelay:
    def __init__(self, database: Database, outbox: Table, lease: Table, producer: EventProducer, service: str, *,
                 batch_size: int = 1000, lease_seconds: float = 15.0, poll_seconds: float = 0.05) -> None:
        self.database, self.outbox, self.lease, self.producer = database, outbox, lease, producer
        self.service, self.batch_size = service, batch_size
        self.lease_seconds, self.poll_seconds = lease_seconds, poll_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lease_until = 0.0  # event-loop time until which this relay surely holds the lease
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def notify(self) -> None:
        """Called after a transaction that enqueued events, so they go out without waiting for the next poll."""
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

    async def _relay(self) -> None:
        backoff = Backoff(cap=10.0)
        while not self._stopping.is_set():
            try:
                published = await self.publish_batch() if await self._hold_lease() else 0
                backoff.reset()
            except Exception as exc:  # noqa: BLE001 - broker or database trouble: wait and try again
                if not (is_transient(exc) or isinstance(exc, KafkaError)):
                    log.exception("%s outbox relay: unexpected error", self.service)
                delay = backoff.next_delay()
                log.warning("%s outbox relay: %s, retrying in %.1fs", self.service, type(exc).__name__, delay)
                await self._sleep(delay)
                continue
            if published < self.batch_size:
                await self._sleep(self.poll_seconds if published else 1.0)
        # Finish with whatever was enqueued before the stop, if the broker takes it quickly.
        try:
            async with asyncio.timeout(3):
                while await self._hold_lease() and await self.publish_batch():
                    pass
        except Exception:  # noqa: BLE001 - anything left stays in the outbox for the next start
            pass
        await self._release_lease()

    async def _watch_backlog(self) -> None:
        """Count the unsent rows every few seconds, whatever the relay is doing (a send to a frozen broker blocks it
        for the request timeout): the gauge behind the alert on a backlog that keeps growing. publish_batch sets it
        to 0 at once when it drains the outbox, so a drained service never shows a stale backlog."""
        while not self._stopping.is_set():
            try:
                OUTBOX_BACKLOG.labels(self.service).set(await backlog(self.database, self.outbox))
            except Exception:  # noqa: BLE001 - the database is away; the next round reports
                pass
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), BACKLOG_INTERVAL_SECONDS)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _hold_lease(self) -> bool:
        """Take or renew the lease, unless more than half of the last renewal is left: every batch marked sent
        renews it too (publish_batch), so a busy relay seldom needs a transaction of its own for it."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._lease_until - self.lease_seconds / 2:
            return True
        asked = loop.time()
        now = datetime.now(timezone.utc)
        async with self.database.transaction(first=True) as session:
            result = await session.execute(
                update(self.lease)
                .where(self.lease.c.id == 1,
                       (self.lease.c.owner == self.owner) | self.lease.c.owner.is_(None)
                       | (self.lease.c.expires_at < now))
                .values(owner=self.owner, expires_at=now + timedelta(seconds=self.lease_seconds))
            )
            held = result.rowcount == 1
            if not held and (await session.execute(select(func.count()).select_from(self.lease))).scalar_one() == 0:
                try:
                    async with session.begin_nested():
                        await session.execute(insert(self.lease).values(
                            id=1, owner=self.owner, expires_at=now + timedelta(seconds=self.lease_seconds)))
                    held = True
                except IntegrityError:
                    pass
        self._lease_until = asked + self.lease_seconds if held else 0.0
        return held

    async def _release_lease(self) -> None:
        self._lease_until = 0.0
        try:
            async with self.database.transaction(first=True) as session:
                await session.execute(update(self.lease).where(self.lease.c.id == 1, self.lease.c.owner == self.owner)
                                      .values(owner=None, expires_at=None))
        except Exception:  # noqa: BLE001 - it expires by itself
            pass

    async def publish_batch(self) -> int:
        """Publish the oldest unsent rows, wait for every acknowledgement, then mark them sent."""
        async with self.database.reading() as session:
            rows = (await session.execute(
                select(self.outbox.c.seq, self.outbox.c.topic, self.outbox.c.key, self.outbox.c.payload)
                .where(self.outbox.c.sent_at.is_(None)).order_by(self.outbox.c.seq).limit(self.batch_size)
            )).all()
        if not rows:
            OUTBOX_BACKLOG.labels(self.service).set(0)
            return 0
        if not self.producer.started:
            raise KafkaError("producer not started")
        headers = [("content-type", CONTENT_TYPE.encode())]
        futures = [await self.producer.send_raw(r.topic, r.key.encode(), r.payload, headers) for r in rows]
        await asyncio.gather(*futures)
        asked = asyncio.get_running_loop().time()
        now = datetime.now(timezone.utc)
        async with self.database.transaction(first=True) as session:
            seqs = [r.seq for r in rows]
            for start in range(0, len(seqs), 500):
                await session.execute(update(self.outbox).where(self.outbox.c.seq.in_(seqs[start:start + 500]))
                                      .values(sent_at=now))
            renewed = await session.execute(
                update(self.lease).where(self.lease.c.id == 1, self.lease.c.owner == self.owner)
                .values(expires_at=now + timedelta(seconds=self.lease_seconds)))
        self._lease_until = asked + self.lease_seconds if renewed.rowcount == 1 else 0.0
        OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        if len(rows) < self.batch_size:
            OUTBOX_BACKLOG.labels(self.service).set(0)
        return len(rows)
