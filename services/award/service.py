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

from services.award import render, repository
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
from services.award.models import inbox, key_actions
from services.award.pack import Budget, Language, Pack, RankedRow, budget_months, latest_change, monthly
from services.award.producers import IndicatorsPublisher
from shared.access import Principal
from shared.clock import Clock
from shared.database import Database
from shared.events import (
    WORKER_EVENTS,
    BudgetAllocated,
    BudgetThresholdCrossed,
    InvalidEvent,
    InvoiceIssued,
    InvoicePaid,
)
from shared.inbox import claim_new
from shared.kafka import Consumed, read_to_end
from shared.key_actions import record_key_action
from shared.settings import Settings
from shared.topics import DECISIONS, WORKERS
from shared.vocabulary import NATIONAL_CODE

Touched = set[tuple[int, str]]  # (fiscal_year, region_code as stored)


def fiscal_year_or_current(clock: Clock, year: int | None) -> int:
    return year or clock.today().year


# --- the committee's records ---

def _target_terms(target: Target | None) -> dict[str, object] | None:
    return None if target is None else {"target_population": target.target_population, "source": target.source}


def _regulation_terms(regulation: Regulation | None) -> dict[str, object] | None:
    return None if regulation is None else {
        "status": regulation.status, "instrument": regulation.instrument, "reference": regulation.reference,
        "enacted_on": regulation.enacted_on.isoformat() if regulation.enacted_on else None}


async def set_target(database: Database, clock: Clock, publisher: IndicatorsPublisher, principal: Principal,
                     region_code: str, fiscal_year: int, population: int, source: str) -> Target:
    """Record a region's target population for a year, and the key's action, in one transaction."""
    target = Target(region_code, fiscal_year, population, source.strip(), clock.now(), principal.name)
    async with database.transaction() as session:
        before = await repository.get_target(session, region_code, fiscal_year)
        await repository.put_target(session, target)
        await record_key_action(session, key_actions, principal, target.updated_at, "target_recorded", region_code,
                                str(fiscal_year), before=_target_terms(before), after=_target_terms(target))
    publisher.mark([(fiscal_year, region_code)])
    return target


async def set_regulation(database: Database, clock: Clock, publisher: IndicatorsPublisher, principal: Principal,
                         region_code: str, status: RegulationStatus, instrument: PerkadaInstrument | None,
                         reference: str | None, enacted_on: date | None) -> Regulation:
    """Record a region's regulation status; RecordRefused when it does not make sense for the region."""
    check_regulation(region_code, status, instrument, reference, enacted_on)
    regulation = Regulation(region_code, status, instrument, reference, enacted_on, clock.now(), principal.name)
    async with database.transaction() as session:
        before = await repository.get_regulation(session, region_code)
        await repository.put_regulation(session, regulation)
        await record_key_action(session, key_actions, principal, regulation.updated_at, "regulation_recorded",
                                region_code, None, before=_regulation_terms(before),
                                after=_regulation_terms(regulation))
    # A regulation has no fiscal year: it changes the current year's indicators.
    publisher.mark([(clock.today().year, region_code)])
    return regulation


async def add_innovation(database: Database, clock: Clock, publisher: IndicatorsPublisher, principal: Principal,
                         region_code: str, fiscal_year: int, title: str, note: str, points: int) -> Innovation:
    now = clock.now()
    async with database.transaction() as session:
        innovation = await repository.add_innovation(session, region_code, fiscal_year, title.strip(), note, points,
                                                     principal.name, now)
        await record_key_action(session, key_actions, principal, now, "innovation_recorded", region_code,
                                str(innovation.innovation_id), after={"fiscal_year": fiscal_year,
                                                                      "title": innovation.title, "points": points})
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


# --- the evidence pack ---

async def evidence_pack(database: Database, config: IndicatorConfig, clock: Clock, region_code: str,
                        fiscal_year: int, weights_note: str) -> Pack | None:
    """A regency's or a province's evidence pack for a fiscal year, from the same board the API ranks; None when
    nothing is recorded for the region in that year."""
    async with database.reading() as session:
        national = await repository.board(session, config, fiscal_year, clock.today())
        found = national.regions.get(region_code)
        if found is None:
            return None
        province = region_code[:2]
        regencies = national.ranking("regency", province)
        if found.level == "regency":
            rank_in_province: int | None = [r.region_code for r in regencies].index(region_code) + 1
            nationally = national.ranking("regency")
        else:
            rank_in_province, nationally = None, national.ranking("province")
        rank_national = [r.region_code for r in nationally].index(region_code) + 1
        dates = await repository.registration_dates(session, region_code, fiscal_year)
        allocation, lines, budget_changed = await repository.own_budget(session, region_code, fiscal_year)
        committed = await repository.committed_by_month(session, region_code, fiscal_year)
        invoiced, invoice_instants = await repository.invoice_months(session, region_code, fiscal_year)
        target = await repository.get_target(session, region_code, fiscal_year)
        regulation = await repository.get_regulation(session, region_code)
        noted = await repository.list_innovations(session, region_code, fiscal_year)
    current_at = latest_change(
        [budget_changed, *invoice_instants, target.updated_at if target else None,
         regulation.updated_at if regulation else None,
         *(i.created_at for i in noted)],
        [d for r in dates for d in (r.registered_on, r.funded_on, r.denied_on, r.ended_on, r.waitlisted_on)
         if d is None or d <= national.as_of],
        national.as_of)
    province_region = national.regions.get(province)
    return Pack(
        region=found, province_name=province_region.name if province_region else None, fiscal_year=fiscal_year,
        as_of=national.as_of, current_at=current_at, definitions=config.indicators, weights=config.weights,
        weights_note=weights_note, rank_in_province=rank_in_province, regencies_in_province=len(regencies),
        rank_national=rank_national, ranked_nationally=len(nationally),
        months=monthly(dates, fiscal_year, national.as_of),
        budget=Budget(allocation, lines, budget_months(committed, invoiced)),
        target=target, regulation=regulation, innovations=noted,
        province_ranking=[RankedRow(position, r) for position, r in enumerate(regencies, 1)])


async def render_pdf(pack: Pack, lang: Language) -> bytes:
    """Rendering takes a while for a big province: off the event loop, so the stream and the consumer go on."""
    return await asyncio.to_thread(render.pdf, pack, lang)


async def render_xlsx(pack: Pack, lang: Language) -> bytes:
    return await asyncio.to_thread(render.xlsx, pack, lang)


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
        elif isinstance(data, InvoiceIssued):
            await repository.record_invoice_issued(session, data)
        elif isinstance(data, InvoicePaid):
            await repository.record_invoice_paid(session, data)
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
