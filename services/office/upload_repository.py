"""The Upload page's table: one row per spreadsheet import, with its progress, its counts and its error report.

The uploaded file itself is never stored (it holds personal data); only its name, its SHA-256 (so the same file
sent again reuses the first import's capture time and the server answers "duplicate"), the counts and the report,
which names rows, columns and problems but no cell value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, Row, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.office.models import metadata
from services.office.repository import _in_regions, _utc

imports = Table(
    "imports", metadata,
    Column("import_id", String(36), primary_key=True),
    Column("region_code", String(13), nullable=False),
    Column("file_name", String(200), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    # running -> done | failed (the file could not be read, or enrolment refused the office's key)
    Column("status", String(16), nullable=False),
    Column("rows_total", Integer, nullable=False),
    Column("rows_done", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("duplicate", Integer, nullable=False),
    Column("invalid", Integer, nullable=False),
    Column("conflict", Integer, nullable=False),
    # The capture time sent with every row: the first import of the same file's, so a retry is a resend.
    Column("captured_at", DateTime(timezone=True), nullable=False),
    Column("error_code", String(64), nullable=True),
    Column("report", LargeBinary, nullable=True),  # the XLSX error report
    Column("started_by", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Index("ix_imports_region_started", "region_code", "started_at"),
    Index("ix_imports_file", "region_code", "file_sha256"),
)


@dataclass(frozen=True)
class ImportRow:
    import_id: str
    region_code: str
    file_name: str
    file_sha256: str
    status: str
    rows_total: int
    rows_done: int
    accepted: int
    duplicate: int
    invalid: int
    conflict: int
    captured_at: datetime
    error_code: str | None
    has_report: bool
    started_by: str
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def percent(self) -> int:
        if self.status != "running":
            return 100
        return 0 if not self.rows_total else min(99, self.rows_done * 100 // self.rows_total)


_COLUMNS = [c for c in imports.c if c.name != "report"]


def _row(row: Row[Any]) -> ImportRow:
    return ImportRow(row.import_id, row.region_code, row.file_name, row.file_sha256, row.status, row.rows_total,
                     row.rows_done, row.accepted, row.duplicate, row.invalid, row.conflict,
                     _utc(row.captured_at), row.error_code, bool(row.has_report),  # type: ignore[arg-type]
                     row.started_by, _utc(row.started_at), _utc(row.updated_at),  # type: ignore[arg-type]
                     _utc(row.finished_at))


def _select() -> Any:
    return select(*_COLUMNS, imports.c.report.is_not(None).label("has_report"))


async def add_import(session: AsyncSession, **values: Any) -> None:
    await session.execute(insert(imports).values(rows_done=0, accepted=0, duplicate=0, invalid=0, conflict=0,
                                                 **values))


async def first_capture(session: AsyncSession, region_code: str, file_sha256: str) -> datetime | None:
    """The capture time the first import of this file into this region sent (None: the file is new here)."""
    row = (await session.execute(
        select(imports.c.captured_at).where(imports.c.region_code == region_code,
                                            imports.c.file_sha256 == file_sha256)
        .order_by(imports.c.started_at).limit(1))).first()
    return _utc(row.captured_at) if row else None


async def progress(session: AsyncSession, import_id: str, *, now: datetime, rows_done: int, accepted: int,
                   duplicate: int, invalid: int, conflict: int, rows_total: int | None = None) -> None:
    values: dict[str, Any] = {"rows_done": rows_done, "accepted": accepted, "duplicate": duplicate,
                              "invalid": invalid, "conflict": conflict, "updated_at": now}
    if rows_total is not None:
        values["rows_total"] = rows_total
    await session.execute(update(imports).where(imports.c.import_id == import_id).values(**values))


async def finish(session: AsyncSession, import_id: str, *, now: datetime, status: str, report: bytes | None,
                 error_code: str | None = None) -> None:
    await session.execute(update(imports).where(imports.c.import_id == import_id).values(
        status=status, report=report, error_code=error_code, finished_at=now, updated_at=now))


async def import_by_id(session: AsyncSession, import_id: str) -> ImportRow | None:
    row = (await session.execute(_select().where(imports.c.import_id == import_id))).first()
    return _row(row) if row else None


async def report_of(session: AsyncSession, import_id: str) -> bytes | None:
    row = (await session.execute(select(imports.c.report).where(imports.c.import_id == import_id))).first()
    return row.report if row else None


async def recent(session: AsyncSession, region_code: str, limit: int = 20) -> list[ImportRow]:
    """The region's imports (a province's include its regencies/cities'), newest first."""
    query = _select().order_by(imports.c.started_at.desc()).limit(limit)
    scope = _in_regions(imports.c.region_code, (region_code,))
    if scope is not None:
        query = query.where(scope)
    return [_row(r) for r in await session.execute(query)]
