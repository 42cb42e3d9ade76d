"""The award service's HTTP API and dashboard.

Reads (indicators, rankings, the stream, the dashboard) are public: the award service holds aggregate counts per
region and no personal data, and the Award's standings are meant to be seen. Writes (targets, regulations,
innovation points) need an API key with the admin scope whose regions cover the region written.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path as PathParam, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sse_starlette.sse import EventSourceResponse

from services.award import repository
from services.award.consumers import IndicatorsFeed
from services.award.domain import (
    Board,
    IndicatorConfig,
    RegionIndicators,
    RegulationStatus,
    regulation_problem,
)
from services.award.producers import IndicatorsPublisher
from shared.access import Principal, require_scope
from shared.access.dependencies import forbid_outside
from shared.http import ApiError, ErrorBody
from shared.regions import NATIONAL_CODE, region
from shared.service import Runtime

STATIC = Path(__file__).parent / "static"
WEIGHTS_NOTE = ("Unofficial: the Paritrana Award publishes its criteria but no weights. These are the project's "
                "defaults from the indicator configuration.")
TIE_RULE = "score descending, then coverage rate descending, then active members descending, then region code"

RegionCodeParam = Annotated[str, PathParam(pattern=r"^(\d{2}(\.\d{2})?|ID)$", examples=["36.72", "36", "ID"])]
AdminRegionParam = Annotated[str, PathParam(pattern=r"^\d{2}(\.\d{2})?$", examples=["36.72", "36"])]
Admin = Annotated[Principal, Depends(require_scope("admin"))]
Year = Annotated[int | None, Query(ge=2000, le=2100, description="Fiscal year; the current one by default")]
UNKNOWN_REGION = {404: {"model": ErrorBody, "description": "No province or regency/city has this code"}}


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fiscal_year: int = Field(ge=2000, le=2100)
    target_population: int = Field(ge=1, description="Vulnerable workers the region aims to cover")
    source: str = Field(min_length=3, max_length=500, description="Where the figure comes from (survey, data set)")


class RegulationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: RegulationStatus
    instrument: Literal["pergub", "perbup", "perwali"] | None = Field(
        None, description="For a Perkada: pergub (province), perbup (kabupaten) or perwali (kota)")
    reference: str | None = Field(None, max_length=300, examples=["Perwali Cilegon No. 12 Tahun 2023"])
    enacted_on: date | None = None


class InnovationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fiscal_year: int = Field(ge=2000, le=2100)
    title: str = Field(min_length=3, max_length=200)
    note: str = Field(min_length=1, max_length=5000)
    points: int = Field(ge=0, le=100, description="Points awarded by the committee")

    @model_validator(mode="after")
    def _strip(self) -> "InnovationIn":
        if not self.title.strip():
            raise ValueError("title is blank")
        return self


def _known_region(code: str) -> None:
    if code != NATIONAL_CODE and region(code) is None:
        raise ApiError(404, "unknown_region", "No province or regency/city has this code.", field="region_code")


def region_json(r: RegionIndicators) -> dict[str, Any]:
    return asdict(r)


def ranked(board: Board, level: Literal["regency", "province"], province: str | None) -> list[dict[str, Any]]:
    return [{"rank": position, **region_json(r)} for position, r in enumerate(board.ranking(level, province), 1)]


def routes(runtime: Runtime, config: IndicatorConfig, publisher: IndicatorsPublisher,
           feed: IndicatorsFeed) -> APIRouter:
    router = APIRouter()

    def year_or_now(year: int | None) -> int:
        return year or runtime.clock.today().year

    async def current_board(fiscal_year: int, province: str | None = None) -> Board:
        async with runtime.database.reading() as session:
            return await repository.board(session, config, fiscal_year, runtime.clock.today(), province)

    @router.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @router.get("/v1/indicators/definitions", tags=["indicators"], summary="Indicator definitions and weights")
    async def definitions() -> dict[str, Any]:
        return {"indicators": [d.model_dump() for d in config.indicators], "weights": config.weights,
                "weights_note": WEIGHTS_NOTE, "regulation_points": config.regulation_points}

    @router.get("/v1/rankings", tags=["indicators"], summary="Regions ranked by composite score")
    async def rankings(level: Literal["regency", "province"] = "regency",
                       province: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
                       year: Year = None) -> dict[str, Any]:
        fiscal_year = year_or_now(year)
        if province is not None and level == "province":
            raise ApiError(422, "not_allowed", "Provinces are ranked nationally; omit province.", field="province")
        board = await current_board(fiscal_year, province)
        return {"level": level, "province": province, "fiscal_year": fiscal_year, "as_of": board.as_of.isoformat(),
                "tie_rule": TIE_RULE, "weights_note": WEIGHTS_NOTE, "regions": ranked(board, level, province)}

    @router.get("/v1/indicators/{region_code}", tags=["indicators"],
                summary="A region's indicators, records and history for charts",
                responses={404: {"model": ErrorBody, "description": "An unknown region, or nothing recorded for it "
                                                                    "in that fiscal year"}})
    async def region_indicators(region_code: RegionCodeParam, year: Year = None) -> dict[str, Any]:
        _known_region(region_code)
        fiscal_year = year_or_now(year)
        province = None if region_code == NATIONAL_CODE else region_code[:2]
        board = await current_board(fiscal_year, province)
        found = board.regions.get(region_code)
        if found is None:
            raise ApiError(404, "no_data", "Nothing is recorded for this region in that fiscal year.",
                           field="region_code")
        rank = None
        if found.level == "regency":
            rank = [r.region_code for r in board.ranking("regency", province)].index(region_code) + 1
        async with runtime.database.reading() as session:
            target = await repository.get_target(session, region_code, fiscal_year)
            regulation = await repository.get_regulation(session, region_code)
            history = {"daily": await repository.daily_series(session, region_code, fiscal_year),
                       "snapshots": await repository.snapshot_history(session, region_code, fiscal_year)}
        return {**region_json(found), "fiscal_year": fiscal_year, "as_of": board.as_of.isoformat(),
                "rank_in_province": rank,
                "target": target and {k: target[k] for k in ("target_population", "source", "updated_at")},
                "regulation": regulation and {k: regulation[k] for k in
                                              ("status", "instrument", "reference", "enacted_on", "updated_at")},
                "history": history}

    @router.get("/v1/stream", tags=["indicators"], summary="Live indicator updates (Server-Sent Events)",
                description="Events: `snapshot` first (every region in scope, fresh on every (re)connect, also with "
                            "Last-Event-ID), then `indicators` (one IndicatorsUpdated each), with heartbeat comments.")
    async def stream(request: Request,
                     province: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None) -> EventSourceResponse:
        resumed_after = request.headers.get("last-event-id")

        async def events():  # noqa: ANN202
            async with feed.subscribe(province) as subscription:
                fiscal_year = year_or_now(None)
                async with runtime.database.reading() as session:
                    board = await repository.board_in_scope(session, config, fiscal_year, runtime.clock.today(),
                                                            province)
                regions = [region_json(r) for r in board.regions.values()]
                yield {"event": "snapshot", "id": f"snapshot-{runtime.clock.now().timestamp():.3f}",
                       "data": json.dumps({"fiscal_year": fiscal_year, "as_of": board.as_of.isoformat(),
                                           "province": province, "resumed_after": resumed_after,
                                           "regions": regions})}
                while True:
                    item = await subscription.queue.get()
                    if item is None:
                        return  # fell behind: the client reconnects and gets a fresh snapshot
                    event_id, update = item
                    yield {"event": "indicators", "id": event_id, "data": update.model_dump_json()}

        return EventSourceResponse(events(), ping=runtime.settings.award_stream_heartbeat_seconds,
                                   headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @router.get("/v1/regions/{region_code}/innovations", tags=["records"], summary="A region's innovation notes",
                responses=UNKNOWN_REGION)
    async def innovations(region_code: AdminRegionParam, year: Year = None) -> dict[str, Any]:
        _known_region(region_code)
        async with runtime.database.reading() as session:
            items = await repository.list_innovations(session, region_code, year_or_now(year))
        return {"region_code": region_code, "innovations": items}

    @router.put("/v1/regions/{region_code}/target", tags=["records"], summary="Record a region's target population",
                responses=UNKNOWN_REGION)
    async def put_target(principal: Admin, region_code: AdminRegionParam, body: TargetIn) -> dict[str, Any]:
        _known_region(region_code)
        forbid_outside(principal, region_code)
        async with runtime.database.transaction() as session:
            await repository.put_target(session, region_code, body.fiscal_year, body.target_population,
                                        body.source.strip(), runtime.clock.now(), principal.name)
        publisher.mark([(body.fiscal_year, region_code)])
        return {"region_code": region_code, **body.model_dump()}

    @router.put("/v1/regions/{region_code}/regulation", tags=["records"], summary="Record a region's regulation",
                responses=UNKNOWN_REGION)
    async def put_regulation(principal: Admin, region_code: AdminRegionParam, body: RegulationIn) -> dict[str, Any]:
        _known_region(region_code)
        forbid_outside(principal, region_code)
        problem = regulation_problem(region_code, body.status, body.instrument, body.reference, body.enacted_on)
        if problem is not None:
            raise ApiError(422, problem[1], problem[2], field=problem[0])
        async with runtime.database.transaction() as session:
            await repository.put_regulation(session, region_code, body.model_dump(), runtime.clock.now(),
                                            principal.name)
        publisher.mark([(runtime.clock.today().year, region_code)])
        return {"region_code": region_code, **body.model_dump(mode="json")}

    @router.post("/v1/regions/{region_code}/innovations", tags=["records"], status_code=201,
                 summary="Record an innovation with the committee's points", responses=UNKNOWN_REGION)
    async def add_innovation(principal: Admin, region_code: AdminRegionParam, body: InnovationIn) -> dict[str, Any]:
        _known_region(region_code)
        forbid_outside(principal, region_code)
        record = {"region_code": region_code, "fiscal_year": body.fiscal_year, "title": body.title.strip(),
                  "note": body.note, "points": body.points, "awarded_by": principal.name,
                  "created_at": runtime.clock.now()}
        async with runtime.database.transaction() as session:
            innovation_id = await repository.add_innovation(session, record)
        publisher.mark([(body.fiscal_year, region_code)])
        return {"innovation_id": innovation_id, **record}

    return router
