"""The Upload page: an operator uploads an XLSX/CSV of registrations for a regency/city; the office sends it to
enrolment in the background and the page polls a progress fragment (htmx) until the counts and the error report are
there. Viewers see the imports but cannot upload; another region's account gets 403 on every route."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from services.office import upload_service
from services.office.api import FormDep, PageError, RegionPath, SessionDep, render, require, see
from services.office.domain import Refused
from services.office.upload_repository import ImportRow
from shared.service import ClockDep, DatabaseDep, SettingsDep

router = APIRouter(include_in_schema=False)

MAX_UPLOAD_BYTES = 8 * 1024 * 1024  # the office's body limit is a little above this (app.py)
STALLED_AFTER = timedelta(minutes=2)  # a running import with no progress this long was cut off (a restart)
ImportId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


def _stalled(found: ImportRow, now: Any) -> bool:
    return found.status == "running" and now - found.updated_at > STALLED_AFTER


async def _import_in(database: Any, region_code: str, import_id: str) -> ImportRow:
    found = await upload_service.import_of(database, import_id)
    if found is None or found.region_code != region_code:
        raise PageError(404, "unknown_import")
    return found


async def _page(request: Request, session: Any, database: Any, region_code: str, *, problem: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    imports = await upload_service.recent_imports(database, region_code)
    return render(request, "upload.html", session, status_code=status_code, region=region_code, imports=imports,
                  problem=problem, may_upload=session.staff.may("submit") and region_code.count(".") == 1)


@router.get("/regions/{region_code}/upload")
async def upload_page(request: Request, region_code: RegionPath, session: SessionDep,
                      database: DatabaseDep) -> HTMLResponse:
    require(session, "view", region_code)
    return await _page(request, session, database, region_code)


@router.post("/regions/{region_code}/upload")
async def upload(request: Request, region_code: RegionPath, session: SessionDep, form: FormDep,
                 database: DatabaseDep, clock: ClockDep, settings: SettingsDep) -> Response:
    require(session, "submit", region_code)
    posted = form["_form"].get("file")
    if not isinstance(posted, UploadFile) or not posted.filename:
        return await _page(request, session, database, region_code, problem="no_file", status_code=422)
    raw = await posted.read(MAX_UPLOAD_BYTES + 1)
    if len(raw) > MAX_UPLOAD_BYTES:
        return await _page(request, session, database, region_code, problem="file_too_large", status_code=413)
    try:
        started = await upload_service.start_import(database, clock, settings, session.staff, session.ip,
                                                    region_code, posted.filename, raw)
    except Refused as refused:
        if refused.code in ("not_a_maker", "outside_region"):
            raise PageError(403, refused.code) from None
        return await _page(request, session, database, region_code, problem=refused.code, status_code=422)
    return see(f"/regions/{region_code}/upload/{started.import_id}")


@router.get("/regions/{region_code}/upload/{import_id}")
async def import_page(request: Request, region_code: RegionPath, import_id: ImportId, session: SessionDep,
                      database: DatabaseDep, clock: ClockDep) -> HTMLResponse:
    require(session, "view", region_code)
    found = await _import_in(database, region_code, import_id)
    return render(request, "upload_import.html", session, region=region_code, item=found,
                  stalled=_stalled(found, clock.now()))


@router.get("/regions/{region_code}/upload/{import_id}/progress")
async def import_progress(request: Request, region_code: RegionPath, import_id: ImportId, session: SessionDep,
                          database: DatabaseDep, clock: ClockDep) -> HTMLResponse:
    """The progress fragment htmx polls; once the import has ended it no longer asks to be polled."""
    require(session, "view", region_code)
    found = await _import_in(database, region_code, import_id)
    return render(request, "_upload_progress.html", session, region=region_code, item=found,
                  stalled=_stalled(found, clock.now()))


@router.get("/regions/{region_code}/upload/{import_id}/errors.xlsx")
async def import_errors(region_code: RegionPath, import_id: ImportId, session: SessionDep,
                        database: DatabaseDep) -> Response:
    require(session, "view", region_code)
    found = await _import_in(database, region_code, import_id)
    report = await upload_service.report_of(database, import_id)
    if report is None:
        raise PageError(404, "no_report")
    stem = found.file_name.rsplit(".", 1)[0] or "unggahan"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:80]
    return Response(report, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{safe}.kesalahan.xlsx"',
                             "Cache-Control": "no-store"})
