"""The award service's use cases: what the routes, the consumer and the operators' commands ask of it.

Every write that changes a region's facts marks the publisher, so the region, its province and the nation are
published again in the next round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.award import repository
from services.award.domain import (
    Board,
    DayCounts,
    IndicatorConfig,
    Innovation,
    PerkadaInstrument,
    ProjectedRegistration,
    RegionIndicators,
    Regulation,
    RegulationStatus,
    SnapshotPoint,
    Target,
    apply_event,
    change,
    check_regulation,
)
from services.award.models import inbox
from services.award.producers import IndicatorsPublisher
from shared.clock import Clock
from shared.database import Database
from shared.events import WORKER_EVENTS, BudgetAllocated, BudgetThresholdCrossed, InvalidEvent
from shared.inbox import claim_new
from shared.kafka import Consumed, read_to_end
from shared.settings import Settings
from shared.topics import DECISIONS, WORKERS
from shared.vocabulary import NATIONAL_CODE

Touched = set[tuple[int, str]]  # (fiscal_year, region_code as stored)


def fiscal_year_or_current(clock: Clock, year: int | None) -> int:
    return year or clock.today().year


# --- the committee's records ---

async def set_target(database: Database, clock: Clock, publisher: IndicatorsPublisher, by: str, region_code: str,
                     fiscal_year: int, population: int, source: str) -> Target:
    target = Target(region_code, fiscal_year, population, source.strip(), clock.now(), by)
    async with database.transaction() as session:
        await repository.put_target(session, target)
    publisher.mark([(fiscal_year, region_code)])
    return target


async def set_regulation(database: Database, clock: Clock, publisher: IndicatorsPublisher, by: str,
                         region_code: str, status: RegulationStatus, instrument: PerkadaInstrument | None,
                         reference: str | None, enacted_on: date | None) -> Regulation:
    """Record a region's regulation status; RecordRefused when it does not make sense for the region."""
    check_regulation(region_code, status, instrument, reference, enacted_on)
    regulation = Regulation(region_code, status, instrument, reference, enacted_on, clock.now(), by)
    async with database.transaction() as session:
        await repository.put_regulation(session, regulation)
    # A regulation has no fiscal year: it changes the current year's indicators.
    publisher.mark([(clock.today().year, region_code)])
    return regulation


async def add_innovation(database: Database, clock: Clock, publisher: IndicatorsPublisher, by: str,
                         region_code: str, fiscal_year: int, title: str, note: str, points: int) -> Innovation:
    async with database.transaction() as session:
        innovation = await repository.add_innovation(session, region_code, fiscal_year, title.strip(), note, points,
                                                     by, clock.now())
    publisher.mark([(fiscal_year, region_code)])
    return innovation


async def innovations(database: Database, region_code: str, fiscal_year: int) -> list[Innovation]:
    async with database.reading() as session:
        return await repository.list_innovations(session, region_code, fiscal_year)


# --- indicators and rankings ---

async def board(database: Database, config: IndicatorConfig, clock: Clock, fiscal_year: int,
                province: str | None = None) -> Board:
    """Every region's indicators for a fiscal year, or a province's and its regencies'."""
    async with database.reading() as session:
        return await repository.board(session, config, fiscal_year, clock.today(), province)


async def stream_board(database: Database, config: IndicatorConfig, clock: Clock, province: str | None) -> Board:
    """The current fiscal year's regions a stream's snapshot holds (see ``repository.board_in_scope``)."""
    today = clock.today()
    async with database.reading() as session:
        return await repository.board_in_scope(session, config, today.year, today, province)


@dataclass(frozen=True)
class RegionReport:
    """A region's indicators with its rank, the committee's records and the history its charts draw."""

    indicators: RegionIndicators
    fiscal_year: int
    as_of: date
    rank_in_province: int | None
    target: Target | None
    regulation: Regulation | None
    daily: list[DayCounts]
    snapshots: list[SnapshotPoint]


async def region_report(database: Database, config: IndicatorConfig, clock: Clock, region_code: str,
                        fiscal_year: int) -> RegionReport | None:
    """None when nothing is recorded for the region in that fiscal year."""
    province = None if region_code == NATIONAL_CODE else region_code[:2]
    async with database.reading() as session:
        found_board = await repository.board(session, config, fiscal_year, clock.today(), province)
        found = found_board.regions.get(region_code)
        if found is None:
            return None
        rank = None
        if found.level == "regency":
            rank = [r.region_code for r in found_board.ranking("regency", province)].index(region_code) + 1
        return RegionReport(
            found, fiscal_year, found_board.as_of, rank,
            await repository.get_target(session, region_code, fiscal_year),
            await repository.get_regulation(session, region_code),
            await repository.daily_series(session, region_code, fiscal_year),
            await repository.snapshot_history(session, region_code, fiscal_year))


# --- worker and subsidy events into the projection ---

async def apply_events(session: AsyncSession, batch: Sequence[Consumed]) -> Touched:
    """Fold a batch of new (already inbox-claimed) events into the projection, in the caller's transaction.

    Registrations touched by the batch are loaded once, every event is merged into them in memory, and the tallies
    change by the difference of their contributions: one upsert per changed tally, not a recount.
    """
    touched: Touched = set()
    registration_events = [c.event.data for c in batch if isinstance(c.event.data, WORKER_EVENTS)]
    if registration_events:
        keys = {(str(d.registration_id), d.fiscal_year) for d in registration_events}
        before = await repository.load_registrations(session, keys)
        after: dict[tuple[str, int], ProjectedRegistration] = dict(before)
        for data in registration_events:
            key = (str(data.registration_id), data.fiscal_year)
            after[key] = apply_event(after.get(key) or ProjectedRegistration.first_seen(data, data.fiscal_year), data)
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


async def record_events(database: Database, batch: list[Consumed]) -> Touched:
    """One polled batch, exactly once: the inbox claim and the projection change commit together."""
    async with database.transaction() as session:
        fresh = await claim_new(session, inbox, batch)
        return await apply_events(session, fresh) if fresh else set()


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
            await record_events(database, batch)
            events += len(batch)
    return RebuildReport(events, skipped, round(loop.time() - started, 3))
