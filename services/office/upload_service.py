"""The Upload page's use cases: an operator's spreadsheet of registrations, read with the bulk importer's header
detection and NIK safeguards (paritrana/bulk_import.py, shared/spreadsheet.py), sent to enrolment's
`POST /v1/registrations/batch` with the office's API key in a background task whose progress lives in the
``imports`` table (so a reloaded page, or another office replica, reads it from the database).

Each row's registration_id is the bulk importer's (the file's SHA-256 and the row's number), and every row of a
file sent again into the same region carries the first import's capture time: a retried upload is a resend, which
enrolment answers "duplicate", never a second registration.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

import httpx

from paritrana import bulk_import
from services.office import upload_repository as repo
from services.office.domain import Refused, Staff
from services.office.service import Actor, _audit
from shared import spreadsheet
from shared.access.keys import region_covers
from shared.clock import Clock
from shared.database import Database
from shared.settings import Settings

log = logging.getLogger(__name__)

SUFFIXES = (".xlsx", ".xlsm", ".csv", ".txt")
BATCH_SIZE = 250  # enrolment takes up to 1,000; smaller batches move the progress bar more often
ATTEMPTS = 3  # per batch, when enrolment cannot be reached or answers 5xx
# A NIK cell Excel held as a number reaches us as 3.67201450190000E+15 (shared.spreadsheet.nik_cell): never sent.
NIK_AS_NUMBER = re.compile(r"^\d(\.\d+)?E\+\d+$", re.IGNORECASE)
OUTSIDE = "Kabupaten/kota pada baris ini di luar wilayah unggahan."
REPORT_SHEET = "Kesalahan"

_TASKS: set[asyncio.Task[None]] = set()


@dataclass(frozen=True)
class Started:
    import_id: str
    rows: int


def read_upload(file_name: str, raw: bytes) -> bulk_import.SourceFile:
    """The spreadsheet as the bulk importer reads it, or Refused (bad_file_type, unreadable_file, no_header,
    no_rows)."""
    path = Path(PurePath(file_name or "unggahan").name)
    if path.suffix.lower() not in SUFFIXES:
        raise Refused("bad_file_type")
    try:
        source = bulk_import.read_source(raw, path)
    except ValueError as exc:
        raise Refused("no_header" if "header" in str(exc) else "unreadable_file") from None
    except Exception:  # not a spreadsheet at all (a renamed file, a broken zip)
        raise Refused("unreadable_file") from None
    if not source.rows:
        raise Refused("no_rows")
    return source


async def start_import(database: Database, clock: Clock, settings: Settings, staff: Staff, ip: str | None,
                       region_code: str, file_name: str, raw: bytes) -> Started:
    """Read the file, record the import and start sending it in the background."""
    if not staff.may("submit"):
        raise Refused("not_a_maker")
    if not staff.may_act_in(region_code):
        raise Refused("outside_region")
    if region_code.count(".") != 1:
        raise Refused("upload_regency_only")
    source = await asyncio.to_thread(read_upload, file_name, raw)
    name = PurePath(file_name).name[:200]
    import_id = str(uuid.uuid4())
    now = clock.now()
    async with database.transaction() as session:
        captured_at = await repo.first_capture(session, region_code, source.digest) or now
        await repo.add_import(session, import_id=import_id, region_code=region_code, file_name=name,
                              file_sha256=source.digest, status="running", rows_total=len(source.rows),
                              captured_at=captured_at, started_by=staff.staff_id, started_at=now, updated_at=now)
        await _audit(session, clock, Actor.of(staff, ip), "upload_started", region_code, import_id,
                     after={"file_name": name, "rows": len(source.rows), "format": source.format,
                            "resend": captured_at != now})
    task = asyncio.create_task(send_import(database, clock, settings, Actor.of(staff, ip), import_id, region_code,
                                           source, captured_at))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return Started(import_id, len(source.rows))


@dataclass
class Tally:
    done: int = 0
    accepted: int = 0
    duplicate: int = 0
    conflict: int = 0
    invalid_rows: set[int] | None = None

    @property
    def invalid(self) -> int:
        return len(self.invalid_rows or ())


def local_problems(row: bulk_import.SourceRow, body: dict[str, Any],
                   region_code: str) -> list[bulk_import.RowProblem]:
    """What the office refuses before sending: a NIK stored as a number (the server refuses it too; it is never
    even sent) and a row whose own regency/city is outside the page's region (the office's key is national)."""
    problems = []
    if NIK_AS_NUMBER.match(body.get("nik") or ""):
        problems.append(bulk_import.RowProblem(row.number, row.columns.get("nik", "NIK"), "nik_as_number",
                                               bulk_import.PESAN["nik_as_number"]))
    regency = body.get("regency_code") or ""
    if not region_covers(region_code, regency):
        problems.append(bulk_import.RowProblem(row.number, row.columns.get("regency_code", "Kode wilayah"),
                                               "outside_region", OUTSIDE))
    return problems


class EnrolmentDown(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def _post_batch(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Enrolment's results for a batch; a batch that failed in transit is sent again (the ids make it safe)."""
    code = "upstream_unavailable"
    for attempt in range(ATTEMPTS):
        try:
            response = await client.post("/v1/registrations/batch", json={"items": items})
        except httpx.HTTPError:
            code = "upstream_unavailable"
        else:
            if response.status_code == 200:
                results: list[dict[str, Any]] = response.json()["results"]
                return results
            if response.status_code in (401, 403):
                raise EnrolmentDown("upstream_refused_key")
            code = "upstream_unavailable" if response.status_code >= 500 or response.status_code == 429 \
                else "upstream_refused"
            if code == "upstream_refused":
                raise EnrolmentDown(code)
        await asyncio.sleep(0.5 * (attempt + 1))
    raise EnrolmentDown(code)


async def send_import(database: Database, clock: Clock, settings: Settings, actor: Actor, import_id: str,
                      region_code: str, source: bulk_import.SourceFile, captured_at: datetime,
                      batch_size: int = BATCH_SIZE) -> None:
    """Send every row (the background task): progress after each batch, then the counts and the error report."""
    options = bulk_import.ImportOptions(region=region_code)
    problems: list[bulk_import.RowProblem] = []
    tally = Tally(invalid_rows=set())
    assert tally.invalid_rows is not None
    ready: list[tuple[bulk_import.SourceRow, dict[str, Any]]] = []
    for row in source.rows:
        body = bulk_import.registration_body(source, row, options, captured_at)
        refused = local_problems(row, body, region_code)
        if refused:
            problems += refused
            tally.invalid_rows.add(row.number)
        else:
            ready.append((row, body))
    ready, repeated = bulk_import.without_repeats(ready)
    problems += repeated
    tally.invalid_rows.update(p.row for p in repeated)
    tally.done = len(source.rows) - len(ready)
    headers = {"Authorization": f"Bearer {settings.office_api_key}"} if settings.office_api_key else {}
    status, error_code = "done", None
    try:
        async with httpx.AsyncClient(base_url=settings.upstream_url("enrolment"), headers=headers,
                                     timeout=60.0) as client:
            await _save_progress(database, clock, import_id, tally)
            for batch in bulk_import.iter_batches(ready, batch_size):
                results = await _post_batch(client, [body for _, body in batch])
                for (row, _body), result in zip(batch, results, strict=True):
                    outcome = result["status"]
                    if outcome == "accepted":
                        tally.accepted += 1
                    elif outcome == "duplicate":
                        tally.duplicate += 1
                    else:
                        problems += bulk_import.problems_for(row, result.get("errors") or [],
                                                             region_header="Kode wilayah")
                        if outcome == "conflict":
                            tally.conflict += 1
                        else:
                            tally.invalid_rows.add(row.number)
                tally.done += len(batch)
                await _save_progress(database, clock, import_id, tally)
    except EnrolmentDown as down:
        status, error_code = "failed", down.code
    except asyncio.CancelledError:
        await _finish(database, clock, actor, import_id, region_code, tally, problems, "failed", "interrupted")
        raise
    except Exception:  # recorded as failed, so the page does not wait forever; the log line holds no row data
        log.exception("upload %s failed", import_id)
        status, error_code = "failed", "internal"
    await _finish(database, clock, actor, import_id, region_code, tally, problems, status, error_code)


async def _save_progress(database: Database, clock: Clock, import_id: str, tally: Tally) -> None:
    async with database.transaction() as session:
        await repo.progress(session, import_id, now=clock.now(), rows_done=tally.done, accepted=tally.accepted,
                            duplicate=tally.duplicate, invalid=tally.invalid, conflict=tally.conflict)


async def _finish(database: Database, clock: Clock, actor: Actor, import_id: str, region_code: str, tally: Tally,
                  problems: list[bulk_import.RowProblem], status: str, error_code: str | None) -> None:
    report = None
    if problems:
        report = await asyncio.to_thread(spreadsheet.write_table, bulk_import.REPORT_HEADER,
                                         bulk_import.report_rows(problems), "xlsx", REPORT_SHEET)
    async with database.transaction() as session:
        await repo.progress(session, import_id, now=clock.now(), rows_done=tally.done, accepted=tally.accepted,
                            duplicate=tally.duplicate, invalid=tally.invalid, conflict=tally.conflict)
        await repo.finish(session, import_id, now=clock.now(), status=status, report=report, error_code=error_code)
        counts = {"accepted": tally.accepted, "duplicate": tally.duplicate, "invalid": tally.invalid,
                  "conflict": tally.conflict, "rows_sent_or_refused": tally.done}
        await _audit(session, clock, actor, "upload_finished" if status == "done" else "upload_failed", region_code,
                     import_id, after=counts | ({"error": error_code} if error_code else {}))


async def stop_all() -> None:
    """Cancel the imports still sending (the office is shutting down): each is marked failed ("interrupted")."""
    tasks = list(_TASKS)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def wait_all() -> None:
    """For tests and the command line: wait until every import this process started has finished."""
    await asyncio.gather(*list(_TASKS), return_exceptions=True)


async def import_of(database: Database, import_id: str) -> repo.ImportRow | None:
    async with database.reading() as session:
        return await repo.import_by_id(session, import_id)


async def report_of(database: Database, import_id: str) -> bytes | None:
    async with database.reading() as session:
        return await repo.report_of(session, import_id)


async def recent_imports(database: Database, region_code: str) -> list[repo.ImportRow]:
    async with database.reading() as session:
        return await repo.recent(session, region_code)
