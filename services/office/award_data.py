"""The Award data page: what a region records for the Paritrana Award through the award service's API, with the
office's key: the target population with its source, the regulation status with its reference, and innovations.
Read from `GET /v1/indicators/{region}` (target, regulation) and `GET /v1/regions/{region}/innovations`; written with
`PUT .../target`, `PUT .../regulation` and `POST .../innovations`. Each change is audited with what it was before
(none of it is personal data)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.office import service
from services.office.api import FormDep, RegionPath, Session, SessionDep, UpstreamDep, render, require, see
from services.office.clients import Upstream, UpstreamError
from shared.clock import Clock
from shared.database import Database
from shared.service import ClockDep, DatabaseDep

router = APIRouter(include_in_schema=False)

REGULATION_STATUSES = ("none", "in_preparation", "perkada", "perda")
INSTRUMENTS = ("pergub", "perbup", "perwali")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
YearQuery = Annotated[int | None, Query(ge=2000, le=2100)]
YearPath = Annotated[int, Path(ge=2000, le=2100)]


async def records(up: Upstream, region_code: str, year: int) -> dict[str, Any]:
    """The region's target, regulation and innovations for the year; `unavailable` when award cannot answer."""
    shown: dict[str, Any] = {"target": None, "regulation": None, "innovations": [], "unavailable": False}
    try:
        report = await up.json(up.award, "GET", f"/v1/indicators/{region_code}", ok=(200, 404),
                               params={"year": year})
        if "errors" not in report:
            shown["target"], shown["regulation"] = report.get("target"), report.get("regulation")
        listed = await up.json(up.award, "GET", f"/v1/regions/{region_code}/innovations", params={"year": year})
        shown["innovations"] = listed["innovations"]
    except UpstreamError:
        shown["unavailable"] = True
    return shown


async def _audit(database: Database, clock: Clock, session: Session, action: str, region_code: str,
                 before: Any, after: Any, subject: str | None = None) -> None:
    async with database.transaction() as db:
        await service._audit(db, clock, service.Actor.of(session.staff, session.ip), action, region_code, subject,
                             before=before, after=after)


def _page_url(region_code: str, year: int, *, done: str | None = None, problem: str | None = None) -> str:
    url = f"/regions/{region_code}/award-data?year={year}"
    if done:
        url += f"&done={done}"
    if problem:
        url += f"&problem={re.sub(r'[^a-z0-9_]', '', problem.lower())[:48] or 'refused'}"
    return url


def _refusal(exc: UpstreamError) -> str:
    return "award_unavailable" if exc.status == 0 or exc.status >= 500 else exc.code


@router.get("/regions/{region_code}/award-data")
async def award_data_page(request: Request, region_code: RegionPath, session: SessionDep, clock: ClockDep,
                          up: UpstreamDep, year: YearQuery = None, done: str | None = None,
                          problem: str | None = None) -> HTMLResponse:
    require(session, "view", region_code)
    year = year or clock.today().year
    shown = await records(up, region_code, year)
    return render(request, "award_data.html", session, region=region_code, year=year, records=shown,
                  done=done, problem=problem, may_act=session.staff.may("submit"),
                  regulation_statuses=REGULATION_STATUSES, instruments=INSTRUMENTS)


def _int(value: Any) -> int | None:
    text = str(value or "").replace(".", "").replace(",", "").replace(" ", "").strip()
    return int(text) if text.isdigit() and len(text) <= 12 else None


@router.post("/regions/{region_code}/award-data/{year}/target")
async def record_target(region_code: RegionPath, year: YearPath, session: SessionDep, form: FormDep,
                        database: DatabaseDep, clock: ClockDep, up: UpstreamDep) -> Response:
    require(session, "submit", region_code)
    posted = form["_form"]
    population = _int(posted.get("target_population"))
    source = " ".join(str(posted.get("source") or "").split())
    if population is None or population < 1:
        return see(_page_url(region_code, year, problem="bad_target"))
    before = (await records(up, region_code, year))["target"]
    try:
        await up.json(up.award, "PUT", f"/v1/regions/{region_code}/target",
                      json={"fiscal_year": year, "target_population": population, "source": source})
    except UpstreamError as exc:
        return see(_page_url(region_code, year, problem=_refusal(exc)))
    await _audit(database, clock, session, "award_target_recorded", region_code,
                 before and {"target_population": before["target_population"], "source": before["source"]},
                 {"fiscal_year": year, "target_population": population, "source": source})
    return see(_page_url(region_code, year, done="award_recorded"))


@router.post("/regions/{region_code}/award-data/{year}/regulation")
async def record_regulation(region_code: RegionPath, year: YearPath, session: SessionDep, form: FormDep,
                            database: DatabaseDep, clock: ClockDep, up: UpstreamDep) -> Response:
    require(session, "submit", region_code)
    posted = form["_form"]
    status = str(posted.get("status") or "")
    if status not in REGULATION_STATUSES:
        return see(_page_url(region_code, year, problem="bad_regulation_status"))
    body: dict[str, Any] = {"status": status}
    instrument = str(posted.get("instrument") or "")
    reference = " ".join(str(posted.get("reference") or "").split())
    enacted_on = str(posted.get("enacted_on") or "").strip()
    if instrument in INSTRUMENTS:
        body["instrument"] = instrument
    if reference:
        body["reference"] = reference
    if DATE.match(enacted_on):
        body["enacted_on"] = enacted_on
    before = (await records(up, region_code, year))["regulation"]
    try:
        await up.json(up.award, "PUT", f"/v1/regions/{region_code}/regulation", json=body)
    except UpstreamError as exc:
        return see(_page_url(region_code, year, problem=_refusal(exc)))
    await _audit(database, clock, session, "award_regulation_recorded", region_code,
                 before and {k: before.get(k) for k in ("status", "instrument", "reference", "enacted_on")}, body)
    return see(_page_url(region_code, year, done="award_recorded"))


@router.post("/regions/{region_code}/award-data/{year}/innovations")
async def record_innovation(region_code: RegionPath, year: YearPath, session: SessionDep, form: FormDep,
                            database: DatabaseDep, clock: ClockDep, up: UpstreamDep) -> Response:
    require(session, "submit", region_code)
    posted = form["_form"]
    points = _int(posted.get("points"))
    body = {"fiscal_year": year, "title": " ".join(str(posted.get("title") or "").split()),
            "note": str(posted.get("note") or "").strip(), "points": points if points is not None else -1}
    try:
        made = await up.json(up.award, "POST", f"/v1/regions/{region_code}/innovations", ok=(201,), json=body)
    except UpstreamError as exc:
        return see(_page_url(region_code, year, problem=_refusal(exc)))
    await _audit(database, clock, session, "award_innovation_recorded", region_code, None,
                 {"fiscal_year": year, "title": body["title"], "points": body["points"]},
                 subject=str(made.get("innovation_id")))
    return see(_page_url(region_code, year, done="award_recorded"))
