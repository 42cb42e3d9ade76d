"""Async SQLAlchemy 2 engine, sessions and Alembic migrations for each service's own database.

SQLite (aiosqlite) is the embedded default: WAL, a busy timeout, and write transactions that start with
``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing when a read turns into a write.
PostgreSQL (asyncpg) is used when the URL says ``postgresql+asyncpg://``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, CursorResult, Result, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A write-ahead log past this size is checkpointed and truncated (see Database.checkpoint_wal).
WAL_LIMIT_BYTES = 64 * 1024 * 1024
# Set in a session's info by whatever enqueues events in its transaction.
EVENTS_ENQUEUED = "events_enqueued"


class Base(DeclarativeBase):
    """Declarative base; each service keeps its own MetaData by subclassing with ``metadata = MetaData()``."""


def normalise_url(url: str) -> str:
    """Accept the plain URLs people paste (postgresql://, sqlite:///) and pick the async driver."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url


def is_sqlite(url: str) -> bool:
    return normalise_url(url).startswith("sqlite")


def changed_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (what its CursorResult counts)."""
    return cast(CursorResult[Any], result).rowcount


def dialect_insert(session: AsyncSession, table: Table) -> Any:
    """An INSERT of the session's dialect, so ON CONFLICT (an upsert) can follow on either backend."""
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


def stored_utc(value: datetime) -> datetime:
    """A stored timestamp as aware UTC: every one is stored in UTC, and SQLite hands them back without their zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, *, plan_each_execution: bool = False, **kwargs: Any) -> AsyncEngine:
    """``plan_each_execution``: PostgreSQL plans every statement anew, for a database filled from empty within the
    life of its connections (a replay). asyncpg prepares each statement once per connection, and after five runs
    PostgreSQL may keep a generic plan made while a table was still nearly empty: in a subsidy replay the look-up
    of 500 registrations by id stayed a sequential scan as the table grew, 180 ms each instead of about 1 ms. The
    services keep PostgreSQL's default; whether they would gain from it too is not measured."""
    url = normalise_url(url)
    # A database error's text would otherwise quote the bound values: NIKs, names, phone numbers.
    kwargs.setdefault("hide_parameters", True)
    if not is_sqlite(url):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
        if plan_each_execution:
            kwargs.setdefault("connect_args", {"server_settings": {"plan_cache_mode": "force_custom_plan"}})
        return create_async_engine(url, **kwargs)

    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so "begin" below decides how each one starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "DEFERRED" if conn.get_execution_options().get("readonly") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class WriteTurns:
    """Lets a few SQLite writers go first within one process.

    SQLite has one write lock, and a writer that finds it taken polls for it, sleeping longer the longer it has
    waited (up to 100 ms a try). Under a wave of field-kit batches a fresh intake transaction therefore nearly always
    beats one that has been waiting: the outbox relay waited seconds to mark a batch sent, published 6 batches in
    the 9 s of a 40,000-registration intake, and subsidy and award sat idle until the intake ended. A priority
    writer (the relay; enrolment's consumer of decisions) raises a flag; ordinary transactions that have not begun
    yet wait for it to come down, so the priority writer only waits for the transactions already under way."""

    def __init__(self) -> None:
        self._priority_writers = 0
        self._clear = asyncio.Event()
        self._clear.set()

    @asynccontextmanager
    async def take(self, *, first: bool) -> AsyncIterator[None]:
        """A priority writer raises the flag for as long as its block runs; an ordinary one waits until it is down."""
        if not first:
            if not self._clear.is_set():
                await self._clear.wait()
            yield
            return
        self._priority_writers += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._priority_writers -= 1
            if not self._priority_writers:
                self._clear.set()


class Database:
    """One service's database: engine, sessions, readiness ping and migrations."""

    def __init__(self, url: str, migrations: Path | None = None, version_table: str = "alembic_version",
                 **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.migrations = migrations
        self.version_table = version_table
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._readonly_engine = self.engine.execution_options(readonly=True)
        self.read_sessions = async_sessionmaker(self._readonly_engine, expire_on_commit=False)
        # PostgreSQL locks rows, not the database: its writers need no turns.
        self._turns = WriteTurns() if self.dialect == "sqlite" else None
        self._on_events_committed: list[Callable[[], None]] = []

    def on_events_committed(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every transaction that enqueued events commits (the outbox relay's wake-up)."""
        self._on_events_committed.append(callback)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, first: bool = False) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends, rolls back if it raises. Events enqueued in it
        (``shared.outbox.enqueue``) wake the relay once it has committed, so no caller has to.

        ``first``: on SQLite, transactions that have not begun yet wait until this one is done (WriteTurns). For
        short writes that keep what is already stored moving, such as the outbox relay's and enrolment's
        consumer of decisions."""
        turn = self._turns.take(first=first) if self._turns is not None else nullcontext()
        async with turn, self.sessions() as session:
            async with session.begin():
                yield session
            if session.info.pop(EVENTS_ENQUEUED, False):
                for callback in self._on_events_committed:
                    callback()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only session; on SQLite it does not take the write lock."""
        async with self.read_sessions() as session:
            yield session

    async def ping(self, timeout: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(timeout):
                async with self._readonly_engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    @property
    def sqlite_path(self) -> Path | None:
        if self.dialect != "sqlite":
            return None
        path = self.engine.url.database
        return Path(path) if path and path != ":memory:" else None

    async def checkpoint_wal(self, limit_bytes: int = WAL_LIMIT_BYTES) -> bool:
        """SQLite only: once the write-ahead log has grown past `limit_bytes`, copy it into the database and
        truncate it. True when it did.

        SQLite's own checkpoints after each commit copy the log into the database but start the log over only at a
        moment when no reader is using it, and a busy service always has one: in a run of a million field-kit
        registrations enrolment's log reached 2.2 GB after 310,000, and every read had to search it. TRUNCATE
        waits (the busy timeout) for the readers of the moment to finish, holding writers off meanwhile.
        """
        path = self.sqlite_path
        wal = path.with_name(path.name + "-wal") if path is not None else None
        if wal is None or not wal.exists() or wal.stat().st_size <= limit_bytes:
            return False
        async with self.engine.connect() as conn:
            # The driver's own connection: through SQLAlchemy the pragma would run inside a transaction (the
            # "begin" listener above), where a checkpoint cannot run.
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            async with raw.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
                busy, _, _ = await cursor.fetchone()
        return bool(busy == 0)

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision of this database's chain."""
        assert self.migrations is not None, "this database has no migration chain"
        async with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                # Two replicas starting together must not both run the same migration.
                await conn.execute(text("SELECT pg_advisory_lock(hashtext(:t))"), {"t": self.version_table})
            await conn.run_sync(self._upgrade)
            if self.dialect == "postgresql":
                await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:t))"), {"t": self.version_table})
            await conn.commit()

    def _upgrade(self, sync_connection: Any) -> None:
        config = alembic_config(self.migrations, self.url, self.version_table)
        config.attributes["connection"] = sync_connection
        command.upgrade(config, "head")

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(migrations: Path | None, url: str, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["version_table"] = version_table
    return config


def run_migrations(target_metadata: Any) -> None:
    """The body of every service's migrations/env.py: runs on the connection Database.migrate hands over."""
    from alembic import context

    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `paritrana migrate SERVICE`, not the alembic command line")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=context.config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
