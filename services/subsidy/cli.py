"""Operators' commands for the subsidy service: `paritrana subsidy ...`."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import click
from sqlalchemy import func, insert, select

from paritrana.outbox_commands import republish_command
from shared.clock import Clock
from shared.database import Database
from shared.events import BudgetAllocated, InvalidEvent, parse_event
from shared.kafka import EventConsumer, EventProducer, read_to_end
from shared.settings import Settings, get_settings
from shared.topics import DECISIONS, WORKERS

from services.subsidy.app import MIGRATIONS
from services.subsidy.consumers import WorkerEventHandler
from services.subsidy.models import budgets, funding_line_changes, funding_lines, inbox, outbox, registrations


@click.group()
def commands() -> None:
    """The subsidy service's operators' commands."""


def _database(settings: Settings) -> Database:
    return Database(settings.database_url("subsidy"), migrations=MIGRATIONS, version_table="alembic_version_subsidy",
                    plan_each_execution=True)  # a replay fills it from empty


commands.add_command(republish_command("subsidy", outbox, MIGRATIONS))


@dataclass
class ReplayResult:
    events: int
    budgets_restored: int
    seconds: float


async def restore_budgets(settings: Settings, database: Database) -> int:
    """Budgets from the latest budget.allocated of each (region, year) on subsidy.decisions, if the database has
    none: the lines are what the budget office recorded; what was committed is rebuilt by the replay."""
    async with database.reading() as session:
        if (await session.execute(select(func.count()).select_from(budgets))).scalar_one():
            return 0
    latest: dict[tuple[str, int], BudgetAllocated] = {}
    async for records in read_to_end(settings.bootstrap_servers, [DECISIONS.name],
                                     client_id=f"{settings.kafka_client_prefix}-subsidy-replay"):
        for record in records:
            try:
                event = parse_event(record.value)
            except InvalidEvent:
                continue
            if isinstance(event.data, BudgetAllocated):
                latest[(event.data.region_code, event.data.fiscal_year)] = event.data
    now = datetime.now(timezone.utc)
    async with database.transaction() as session:
        for data in latest.values():
            budget_id = (await session.execute(insert(budgets).values(
                region_code=data.region_code, fiscal_year=data.fiscal_year, allocation_rupiah=data.allocation_rupiah,
                committed_rupiah=0, funded_members=0, revision=1, thresholds_published=0, created_at=now,
                updated_at=now).returning(budgets.c.id))).scalar_one()
            if data.lines:
                await session.execute(insert(funding_lines), [
                    {"budget_id": budget_id, "line_id": x.line_id, "position": i, "source": x.source,
                     "amount_rupiah": x.amount_rupiah, "legal_reference": x.legal_reference, "updated_at": now}
                    for i, x in enumerate(data.lines)])
                await session.execute(insert(funding_line_changes), [
                    {"budget_id": budget_id, "revision": 1, "line_id": x.line_id, "change": "restored",
                     "source": x.source, "amount_before_rupiah": None, "amount_after_rupiah": x.amount_rupiah,
                     "legal_reference": x.legal_reference, "changed_by": "replay", "changed_at": now}
                    for x in data.lines])
    return len(latest)


# Events per replayed transaction. A batch costs one guarded UPDATE per budget it touches, and a replay from
# field kits touches most of the 514 regencies' budgets in every batch: the bigger the batch, the fewer per event.
REPLAY_BATCH = 5000


async def replay(settings: Settings, *, publish: bool = False, progress=None) -> ReplayResult:  # noqa: ANN001
    """Rebuild registrations, budgets' commitments and the ledger from enrolment.workers, from its beginning, into
    an empty subsidy database. A fresh consumer group reads it through the live handler, so the decisions are
    made exactly as the service makes them; it stops when every partition is consumed to its end."""
    database = _database(settings)
    started = time.perf_counter()
    producer = EventProducer(settings, "subsidy")
    try:
        await database.migrate()
        async with database.reading() as session:
            used = (await session.execute(select(func.count()).select_from(registrations))).scalar_one() + \
                (await session.execute(select(func.count()).select_from(inbox))).scalar_one()
        if used:
            raise click.ClickException("the subsidy database already holds decisions; replay into an empty one "
                                       "(point PARITRANA_SUBSIDY_DATABASE_URL at a new database)")
        restored = await restore_budgets(settings, database)
        await producer.start()
        handled = 0

        async def count(batch):  # noqa: ANN001, ANN202
            nonlocal handled
            await handler(batch)
            handled += len(batch)

        handler = WorkerEventHandler(database, Clock(settings.clock_start), publish=publish)
        consumer = EventConsumer(settings, "subsidy", [WORKERS.name], count,
                                 group_id=f"{settings.kafka_client_prefix}-subsidy-replay-{uuid.uuid4().hex[:8]}",
                                 producer=producer, max_records=max(settings.subsidy_batch_size, REPLAY_BATCH))
        task = asyncio.create_task(consumer.run())
        try:
            while True:
                await asyncio.sleep(0.5)
                if task.done():
                    task.result()
                if await _caught_up(consumer):
                    break
                if progress:
                    progress(handled)
        finally:
            await consumer.stop()
            await task
        return ReplayResult(handled, restored, time.perf_counter() - started)
    finally:
        await producer.stop()
        await database.dispose()


async def _caught_up(consumer: EventConsumer) -> bool:
    """Every partition of the topic assigned to us and nothing left to commit on any of them."""
    kafka = consumer._consumer  # noqa: SLF001 - the partition count is only known to the client
    if kafka is None or not consumer.running:
        return False
    partitions = kafka.partitions_for_topic(WORKERS.name) or set()
    assigned = {tp.partition for tp in kafka.assignment()}
    if not partitions or assigned != set(partitions):
        return False
    for tp in kafka.assignment():
        if kafka.highwater(tp) is None and (await kafka.end_offsets([tp]))[tp] > 0:
            return False
    lag = await consumer.lag()
    return bool(lag) and sum(lag.values()) == 0


@commands.command("replay")
@click.option("--publish/--no-publish", default=False,
              help="Also queue the decisions for publishing (same event ids as the first time; consumers drop "
                   "them as duplicates). Off by default: the ledger is what a replay rebuilds.")
def replay_command(publish: bool) -> None:
    """Rebuild the ledger from enrolment.workers, from the beginning, into an empty subsidy database."""
    result = asyncio.run(replay(get_settings(), publish=publish,
                                progress=lambda n: click.echo(f"  {n} events", err=True)))
    rate = result.events / result.seconds if result.seconds else 0
    click.echo(f"replayed {result.events} events in {result.seconds:.1f}s ({rate:,.0f}/s); "
               f"budgets restored from budget.allocated: {result.budgets_restored}")
