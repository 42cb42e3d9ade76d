"""The award service's HTTP API and dashboard.

Reads (indicators, rankings, the stream, the dashboard) are public: the award service holds aggregate counts per
region and no personal data, and the Award's standings are meant to be seen. Writes (targets, regulations,
innovation points) need an API key with the admin scope whose regions cover the region written.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict
from sse_starlette.sse import EventSourceResponse

from services.award import service
from services.award.consumers import IndicatorsFeed
from services.award.domain import (
    DayCounts,
    IndicatorConfig,
    IndicatorDefinition,
    Innovation,
    Level,
    PerkadaInstrument,
    RecordRefused,
    RegionIndicators,
    RegulationStatus,
    SnapshotPoint,
)
from services.award.pack import Pack
from services.award.producers import IndicatorsPublisher
from shared.access import Principal, require_scope
from shared.access.dependencies import forbid_outside
from shared.categories import CATEGORIES
from shared.http import ErrorBody, HttpProblem
from shared.regions import region, region_name
from shared.service import ClockDep, DatabaseDep, SettingsDep
from shared.vocabulary import (
    INDICATOR_REGION_PATTERN,
    NATIONAL_CODE,
    PROVINCE_PATTERN,
    REGION_PATTERN,
    FreeText,
    IsoDate,
    JsonInteger,
)

STATIC = Path(__file__).parent / "static"
WEIGHTS_NOTE = ("Unofficial: the Paritrana Award publishes its criteria but no weights. These are the project's "
                "defaults from the indicator configuration.")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TIE_RULE = "score descending, then coverage rate descending, then active members descending, then region code"


# --- what the routes depend on, read from app.state (services/award/app.py sets it) ---

async def get_indicator_config(request: Request) -> IndicatorConfig:
    config: IndicatorConfig = request.app.state.indicator_config
    return config


async def get_publisher(request: Request) -> IndicatorsPublisher:
    publisher: IndicatorsPublisher = request.app.state.publisher
    return publisher


async def get_feed(request: Request) -> IndicatorsFeed:
    feed: IndicatorsFeed = request.app.state.feed
    return feed


ConfigDep = Annotated[IndicatorConfig, Depends(get_indicator_config)]
PublisherDep = Annotated[IndicatorsPublisher, Depends(get_publisher)]
FeedDep = Annotated[IndicatorsFeed, Depends(get_feed)]
Admin = Annotated[Principal, Depends(require_scope("admin"))]

# --- parameters ---

IndicatorRegionParam = Annotated[str, PathParam(pattern=INDICATOR_REGION_PATTERN, examples=["36.72", "36", "ID"])]
AdminRegionParam = Annotated[str, PathParam(pattern=REGION_PATTERN, examples=["36.72", "36"])]
ProvinceQuery = Annotated[str | None, Query(pattern=PROVINCE_PATTERN, examples=["36"])]
Year = Annotated[int | None, Query(ge=2000, le=2100, description="Fiscal year; the current one by default")]
UNKNOWN_REGION = {404: {"model": ErrorBody, "description": "No province or regency/city has this code"}}
INVALID = {422: {"model": ErrorBody, "description": "Invalid parameters or body, every problem listed"}}


# --- bodies ---

MAX_TARGET_POPULATION = 300_000_000


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fiscal_year: JsonInteger = Field(ge=2000, le=2100)
    # Above Indonesia's whole population it can only be a typo (and it would not fit the column).
    target_population: JsonInteger = Field(ge=1, le=MAX_TARGET_POPULATION,
                                           description="Vulnerable workers the region aims to cover")
    source: FreeText = Field(min_length=3, max_length=500, description="Where the figure comes from (survey, data set)")


# The rules check_regulation applies, as far as JSON Schema can say them; whether a Perkada's instrument fits the
# region's kind is reference data, and a 422.
REGULATION_RULES: JsonDict = {"allOf": [
    {"if": {"properties": {"status": {"const": "perkada"}}},
     "then": {"required": ["instrument", "reference", "enacted_on"],
              "properties": {"instrument": {"type": "string"}, "reference": {"type": "string", "minLength": 1},
                             "enacted_on": {"type": "string"}}}},
    {"if": {"properties": {"status": {"const": "perda"}}},
     "then": {"required": ["reference", "enacted_on"],
              "properties": {"reference": {"type": "string", "minLength": 1}, "enacted_on": {"type": "string"}}}},
    {"if": {"properties": {"status": {"enum": ["none", "in_preparation", "perda"]}}},
     "then": {"properties": {"instrument": {"type": "null"}}}},
]}


class RegulationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=REGULATION_RULES)
    status: RegulationStatus
    instrument: PerkadaInstrument | None = Field(
        None, description="For a Perkada: pergub (province), perbup (kabupaten) or perwali (kota)")
    reference: FreeText | None = Field(None, max_length=300, examples=["Perwali Cilegon No. 12 Tahun 2023"])
    enacted_on: IsoDate | None = None


class InnovationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fiscal_year: JsonInteger = Field(ge=2000, le=2100)
    title: FreeText = Field(min_length=3, max_length=200, pattern=r"\S", description="Not blank")
    note: FreeText = Field(min_length=1, max_length=5000)
    points: JsonInteger = Field(ge=0, le=100, description="Points awarded by the committee")


# --- answers ---

class CategoryName(BaseModel):
    id: str = Field(description="As people say it in Bahasa Indonesia")
    en: str


class Definitions(BaseModel):
    indicators: list[IndicatorDefinition]
    weights: dict[str, float]
    weights_note: str
    regulation_points: dict[RegulationStatus, float]
    categories: dict[str, CategoryName] = Field(description="Each category code's display names (cat:<code> counts)")


class RegionOut(BaseModel):
    region_code: str = Field(pattern=INDICATOR_REGION_PATTERN)
    name: str
    level: Level
    province_code: str | None
    counts: dict[str, int] = Field(description="Counts and breakdowns (cat:*, sex:*, age:*) the indicators read")
    values: dict[str, float | None] = Field(description="Each indicator's value; null when a count it needs is "
                                                        "missing or its denominator is zero")
    contributions: dict[str, float] = Field(description="Each indicator's share of the score")
    score: float = Field(description="Composite score, 0..100")

    @classmethod
    def of(cls, found: RegionIndicators, **more: Any) -> Self:
        return cls(**asdict(found), **more)


class _Rank(BaseModel):
    rank: int = Field(ge=1)


class RankedRegion(RegionOut, _Rank):  # fields of the last base come first: rank leads, as the body has always had
    pass


class Rankings(BaseModel):
    level: Literal["regency", "province"]
    province: str | None
    fiscal_year: int
    as_of: date
    tie_rule: str
    weights_note: str
    regions: list[RankedRegion]


class TargetView(BaseModel):
    target_population: int
    source: str
    updated_at: datetime


class RegulationView(BaseModel):
    status: RegulationStatus
    instrument: PerkadaInstrument | None
    reference: str | None
    enacted_on: date | None
    updated_at: datetime


class History(BaseModel):
    daily: list[DayCounts] = Field(description="Per day: registered, funded, ended, denied (the enrolment chart)")
    snapshots: list[SnapshotPoint] = Field(description="The day's last published values (the trend charts)")


class RegionReportOut(RegionOut):
    fiscal_year: int
    as_of: date
    rank_in_province: int | None = Field(description="A regency's rank in its province; null for other levels")
    target: TargetView | None
    regulation: RegulationView | None
    history: History


class Innovations(BaseModel):
    region_code: str
    innovations: list[Innovation]


class TargetRecorded(BaseModel):
    region_code: str
    fiscal_year: int
    target_population: int
    source: str


class RegulationRecorded(BaseModel):
    region_code: str
    status: RegulationStatus
    instrument: PerkadaInstrument | None
    reference: str | None
    enacted_on: date | None


# --- routes ---

router = APIRouter()


def _known_region(code: str) -> None:
    if code != NATIONAL_CODE and region(code) is None:
        raise HttpProblem(404, "unknown_region", "No province or regency/city has this code.", field="region_code")


@router.get("/", include_in_schema=False)
async def dashboard() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/v1/indicators/definitions", tags=["indicators"], summary="Indicator definitions and weights")
async def definitions(config: ConfigDep) -> Definitions:
    return Definitions(indicators=config.indicators, weights=config.weights, weights_note=WEIGHTS_NOTE,
                       regulation_points=config.regulation_points,
                       categories={c.code: CategoryName(id=c.name_id, en=c.name_en) for c in CATEGORIES})


@router.get("/v1/rankings", tags=["indicators"], summary="Regions ranked by composite score",
            responses={422: {"model": ErrorBody, "description": "Invalid parameters, or `province` with "
                                                                "`level=province`"}})
async def rankings(database: DatabaseDep, config: ConfigDep, clock: ClockDep,
                   level: Literal["regency", "province"] = "regency", province: ProvinceQuery = None,
                   year: Year = None) -> Rankings:
    fiscal_year = service.fiscal_year_or_current(clock, year)
    if province is not None and level == "province":
        raise HttpProblem(422, "not_allowed", "Provinces are ranked nationally; omit province.", field="province")
    board = await service.board(database, config, clock, fiscal_year, province)
    return Rankings(level=level, province=province, fiscal_year=fiscal_year, as_of=board.as_of, tie_rule=TIE_RULE,
                    weights_note=WEIGHTS_NOTE,
                    regions=[RankedRegion.of(r, rank=position)
                             for position, r in enumerate(board.ranking(level, province), 1)])


@router.get("/v1/indicators/{region_code}", tags=["indicators"],
            summary="A region's indicators, records and history for charts",
            responses={**INVALID, 404: {"model": ErrorBody, "description": "An unknown region, or nothing recorded "
                                                                           "for it in that fiscal year"}})
async def region_indicators(database: DatabaseDep, config: ConfigDep, clock: ClockDep,
                            region_code: IndicatorRegionParam, year: Year = None) -> RegionReportOut:
    _known_region(region_code)
    report = await service.region_report(database, config, clock, region_code,
                                         service.fiscal_year_or_current(clock, year))
    if report is None:
        raise HttpProblem(404, "no_data", "Nothing is recorded for this region in that fiscal year.",
                          field="region_code")
    target, regulation = report.target, report.regulation
    return RegionReportOut.of(
        report.indicators, fiscal_year=report.fiscal_year, as_of=report.as_of,
        rank_in_province=report.rank_in_province,
        target=None if target is None else TargetView(
            target_population=target.target_population, source=target.source, updated_at=target.updated_at),
        regulation=None if regulation is None else RegulationView(
            status=regulation.status, instrument=regulation.instrument, reference=regulation.reference,
            enacted_on=regulation.enacted_on, updated_at=regulation.updated_at),
        history=History(daily=report.daily, snapshots=report.snapshots))


STREAM_EVENTS = {200: {"description": "A text/event-stream that stays open: `snapshot`, then `indicators` events",
                       "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


@router.get("/v1/stream", tags=["indicators"], summary="Live indicator updates (Server-Sent Events)",
            description="Events: `snapshot` first (every region in scope, fresh on every (re)connect, also with "
                        "Last-Event-ID), then `indicators` (one IndicatorsUpdated each), with heartbeat comments.",
            response_class=EventSourceResponse, responses={**STREAM_EVENTS, **INVALID})
async def stream(request: Request, database: DatabaseDep, config: ConfigDep, clock: ClockDep, settings: SettingsDep,
                 feed: FeedDep, province: ProvinceQuery = None) -> EventSourceResponse:
    resumed_after = request.headers.get("last-event-id")

    async def events() -> AsyncIterator[dict[str, str]]:
        async with feed.subscribe(province) as subscription:
            board = await service.stream_board(database, config, clock, province)
            regions = [asdict(r) for r in board.regions.values()]
            yield {"event": "snapshot", "id": f"snapshot-{clock.now().timestamp():.3f}",
                   "data": json.dumps({"fiscal_year": board.fiscal_year, "as_of": board.as_of.isoformat(),
                                       "province": province, "resumed_after": resumed_after, "regions": regions})}
            while True:
                item = await subscription.queue.get()
                if item is None:
                    return  # fell behind: the client reconnects and gets a fresh snapshot
                event_id, update = item
                # With its name, which the event itself does not carry: a region first seen on the stream, after
                # the snapshot, is shown by name like the rest.
                data = update.model_dump(mode="json") | {"name": region_name(update.region_code)}
                yield {"event": "indicators", "id": event_id, "data": json.dumps(data)}

    return EventSourceResponse(events(), ping=settings.award_stream_heartbeat_seconds,
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/v1/regions/{region_code}/innovations", tags=["records"], summary="A region's innovation notes",
            responses={**UNKNOWN_REGION, **INVALID})
async def innovations(database: DatabaseDep, clock: ClockDep, region_code: AdminRegionParam,
                      year: Year = None) -> Innovations:
    _known_region(region_code)
    found = await service.innovations(database, region_code, service.fiscal_year_or_current(clock, year))
    return Innovations(region_code=region_code, innovations=found)


@router.put("/v1/regions/{region_code}/target", tags=["records"], summary="Record a region's target population",
            responses={**UNKNOWN_REGION, **INVALID})
async def put_target(principal: Admin, database: DatabaseDep, clock: ClockDep, publisher: PublisherDep,
                     region_code: AdminRegionParam, body: TargetIn) -> TargetRecorded:
    _known_region(region_code)
    forbid_outside(principal, region_code)
    await service.set_target(database, clock, publisher, principal, region_code, body.fiscal_year,
                             body.target_population, body.source)
    return TargetRecorded(region_code=region_code, **body.model_dump())


@router.put("/v1/regions/{region_code}/regulation", tags=["records"], summary="Record a region's regulation",
            responses={**UNKNOWN_REGION, 422: {"model": ErrorBody, "description": "Invalid body, or a record that "
                                                                                  "does not fit the region's kind"}})
async def put_regulation(principal: Admin, database: DatabaseDep, clock: ClockDep, publisher: PublisherDep,
                         region_code: AdminRegionParam, body: RegulationIn) -> RegulationRecorded:
    _known_region(region_code)
    forbid_outside(principal, region_code)
    try:
        await service.set_regulation(database, clock, publisher, principal, region_code, body.status,
                                     body.instrument, body.reference, body.enacted_on)
    except RecordRefused as refused:
        raise HttpProblem(422, refused.code, refused.message, field=refused.field) from None
    return RegulationRecorded(region_code=region_code, **body.model_dump())


@router.post("/v1/regions/{region_code}/innovations", tags=["records"], status_code=201,
             summary="Record an innovation with the committee's points", responses={**UNKNOWN_REGION, **INVALID})
async def add_innovation(principal: Admin, database: DatabaseDep, clock: ClockDep, publisher: PublisherDep,
                         region_code: AdminRegionParam, body: InnovationIn) -> Innovation:
    _known_region(region_code)
    forbid_outside(principal, region_code)
    return await service.add_innovation(database, clock, publisher, principal, region_code, body.fiscal_year,
                                        body.title, body.note, body.points)


# --- the evidence pack ---

PACK_YEAR = Annotated[int, PathParam(ge=2000, le=2100, description="Fiscal year", examples=[2025])]
PackLanguage = Annotated[Literal["id", "en"], Query(description="Bahasa Indonesia (default) or English")]
PACK_ANSWERS: dict[int | str, dict[str, Any]] = {
    **INVALID, 404: {"model": ErrorBody, "description": "An unknown region, or nothing recorded for it that year"}}


def _pack_response(content: bytes, media_type: str, name: str) -> Response:
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-cache"})


async def _pack(database: DatabaseDep, config: ConfigDep, clock: ClockDep, region_code: str, year: int) -> Pack:
    _known_region(region_code)
    found = await service.evidence_pack(database, config, clock, region_code, year, WEIGHTS_NOTE)
    if found is None:
        raise HttpProblem(404, "no_data", "Nothing is recorded for this region in that fiscal year.",
                          field="region_code")
    return found


@router.get("/v1/reports/{region_code}/{year}.pdf", tags=["reports"], response_class=Response,
            summary="A region's evidence pack for the Award panel, as PDF",
            description="Indicators with definitions, ranks, months, budget with legal references, regulation, "
                        "innovations, coverage and the province's ranking. Aggregates only; public like the other "
                        "reads. The same data gives the same bytes.",
            responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "The PDF"}, **PACK_ANSWERS})
async def report_pdf(database: DatabaseDep, config: ConfigDep, clock: ClockDep, region_code: AdminRegionParam,
                     year: PACK_YEAR, lang: PackLanguage = "id") -> Response:
    pack = await _pack(database, config, clock, region_code, year)
    return _pack_response(await service.render_pdf(pack, lang), "application/pdf",
                          f"paritrana-{region_code}-{year}.pdf")


@router.get("/v1/reports/{region_code}/{year}.xlsx", tags=["reports"], response_class=Response,
            summary="A region's evidence pack for the Award panel, as XLSX",
            description="The PDF's contents, one sheet per section, numbers as numbers (money in whole rupiah).",
            responses={200: {"content": {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                             "description": "The workbook"}, **PACK_ANSWERS})
async def report_xlsx(database: DatabaseDep, config: ConfigDep, clock: ClockDep, region_code: AdminRegionParam,
                      year: PACK_YEAR, lang: PackLanguage = "id") -> Response:
    pack = await _pack(database, config, clock, region_code, year)
    return _pack_response(await service.render_xlsx(pack, lang), XLSX_TYPE, f"paritrana-{region_code}-{year}.xlsx")
