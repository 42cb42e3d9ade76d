"""The database's raw limit on this machine: the rows the field-kit scenario stored, inserted again with the bare
driver (sqlite3 executemany; asyncpg executemany and COPY) into a scratch table shaped like enrolment's
registrations table (same columns, primary key and indexes), 500 rows per transaction like a kit's batch, in the
same database. The scratch table is dropped afterwards."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from sqlalchemy import MetaData, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from services.enrolment.models import registrations

SCRATCH = "bench_raw_registrations"


def _scratch_ddl(dialect: Any) -> list[str]:
    table = registrations.to_metadata(MetaData(), name=SCRATCH)
    for index in table.indexes:
        index.name = f"{SCRATCH}_{index.name}"
    return [str(CreateTable(table, include_foreign_key_constraints=[]).compile(dialect=dialect))] + [
        str(CreateIndex(index).compile(dialect=dialect)) for index in sorted(table.indexes, key=lambda i: i.name)]


async def stored_rows(database_url: str, device_prefix: str, limit: int) -> list[tuple[Any, ...]]:
    """The registrations the bench's kits stored, as the driver returns them."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(select(registrations).where(
                registrations.c.device_id.like(f"{device_prefix}%")).limit(limit))
            return [tuple(row) for row in result]
    finally:
        await engine.dispose()


def _sqlite_insert(path: str, rows: list[tuple[Any, ...]], batch: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # The service's own settings (shared/database.py): WAL, synchronous NORMAL.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        for statement in _scratch_ddl(sqlite.dialect()):
            conn.execute(statement)
        marks = ", ".join("?" * len(registrations.columns))
        sql = f"INSERT INTO {SCRATCH} VALUES ({marks})"
        values = [tuple(_sqlite_value(v) for v in row) for row in rows]
        started = time.perf_counter()
        for i in range(0, len(values), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, values[i:i + batch])
            conn.execute("COMMIT")
        seconds = time.perf_counter() - started
        conn.execute(f"DROP TABLE {SCRATCH}")
        return seconds
    finally:
        conn.close()


def _sqlite_value(value: Any) -> Any:
    # SQLAlchemy stores dates and datetimes on SQLite as ISO text; the raw insert writes the same text.
    return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat() if hasattr(value, "year") \
        else value


async def _postgres_insert(url: str, rows: list[tuple[Any, ...]], batch: int) -> dict[str, float]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    columns = [c.name for c in registrations.columns]
    seconds: dict[str, float] = {}
    try:
        for method in ("executemany", "copy"):
            await conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
            for statement in _scratch_ddl(postgresql.dialect()):
                await conn.execute(statement)
            marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
            started = time.perf_counter()
            for i in range(0, len(rows), batch):
                async with conn.transaction():
                    if method == "copy":
                        await conn.copy_records_to_table(SCRATCH, records=rows[i:i + batch], columns=columns)
                    else:
                        await conn.executemany(f"INSERT INTO {SCRATCH} VALUES ({marks})", rows[i:i + batch])
            seconds[method] = time.perf_counter() - started
        await conn.execute(f"DROP TABLE {SCRATCH}")
    finally:
        await conn.close()
    return seconds


async def insert_limit(database_url: str, rows: list[tuple[Any, ...]], batch: int = 500) -> dict[str, Any]:
    """Rows per second for each raw method; `best` names the fastest."""
    if not rows:
        return {"rows": 0, "methods": {}, "best": None, "best_rows_per_second": 0.0}
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        seconds = {"executemany": await asyncio.to_thread(_sqlite_insert, path, rows, batch)}
    else:
        seconds = await _postgres_insert(database_url, rows, batch)
    methods = {m: {"seconds": round(s, 3), "rows_per_second": round(len(rows) / s, 1)} for m, s in seconds.items()}
    best = max(methods, key=lambda m: methods[m]["rows_per_second"])
    return {"rows": len(rows), "rows_per_transaction": batch, "table": f"{SCRATCH} (the columns, primary key and "
            "indexes of enrolment's registrations)", "methods": methods, "best": best,
            "best_rows_per_second": methods[best]["rows_per_second"]}
