"""Operators' commands for the subsidy service: `paritrana subsidy ...`."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import click

from paritrana.bpjs import reconcile_bill_command
from paritrana.outbox_commands import republish_command
from services.subsidy import service
from services.subsidy.app import MIGRATIONS
from services.subsidy.consumers import WorkerEventHandler
from services.subsidy.models import outbox
from shared.clock import Clock
from shared.database import Database
from shared.events import BudgetAllocated, InvalidEvent, parse_event
from shared.kafka import EventConsumer, EventProducer, read_to_end
from shared.settings import Settings, get_settings
from shared.topics import DECISIONS, WORKERS


@click.group()
def commands() -> None:
    """The subsidy service's operators' commands."""


def _database(settings: Settings) -> Database:
    return Database(settings.database_url("subsidy"), migrations=MIGRATIONS, version_table="alembic_version_subsidy",
                    plan_each_execution=True)  # a replay fills it from empty


commands.add_command(republish_command("subsidy", outbox, MIGRATIONS))
commands.add_command(reconcile_bill_command)


@dataclass
class ReplayResult:
    events: int
    budgets_restored: int
    seconds: float


async def restore_budgets(settings: Settings, database: Database) -> int:
    """Budgets from the latest budget.allocated of each (region, year) on subsidy.decisions, if the database has
    none: the lines are what the budget office recorded; what was committed is rebuilt by the replay."""
    if await service.holds_budgets(database):
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
    return await service.restore_budgets(database, latest.values(), datetime.now(UTC))


# Events per replayed transaction. A batch costs one guarded UPDATE per budget it touches, and a replay from
# field kits touches most of the 514 regencies' budgets in every batch: the bigger the batch, the fewer per event.
REPLAY_BATCH = 5000


async def replay(settings: Settings, *, publish: bool = False, progress=None) -> ReplayResult:
    """Rebuild registrations, budgets' commitments and the ledger from enrolment.workers, from its beginning, into
    an empty subsidy database. A fresh consumer group reads it through the live handler, so the decisions are
    made exactly as the service makes them; it stops when every partition is consumed to its end."""
    database = _database(settings)
    started = time.perf_counter()
    producer = EventProducer(settings, "subsidy")
    try:
        await database.migrate()
        if await service.holds_decisions(database):
            raise click.ClickException("the subsidy database already holds decisions; replay into an empty one "
                                       "(point PARITRANA_SUBSIDY_DATABASE_URL at a new database)")
        restored = await restore_budgets(settings, database)
        await producer.start()
        handled = 0

        async def count(batch):
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
    kafka = consumer._consumer
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
