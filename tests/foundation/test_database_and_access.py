"""The database helpers and the API-key store, on SQLite and PostgreSQL."""

import asyncio

import pytest
from sqlalchemy import text

from shared.access import AccessStore, region_covers
from shared.database import Database, is_sqlite


async def test_migrations_apply_and_are_idempotent(database_url):
    store = AccessStore.from_url(await database_url("access"))
    try:
        await store.database.migrate()
        await store.database.migrate()
        assert await store.database.ping()
        async with store.database.reading() as session:
            version = (await session.execute(text("SELECT version_num FROM alembic_version_access"))).scalar_one()
        assert version == "0002"
    finally:
        await store.database.dispose()


async def test_concurrent_read_modify_write_transactions_queue_instead_of_failing(database_url):
    database = Database(await database_url("counter"))
    try:
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await session.execute(text("INSERT INTO counter VALUES (0)"))

        async def increment() -> None:
            async with database.transaction() as session:
                n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(0.001)
                # On PostgreSQL a plain read-then-write would race; the row lock makes it a queue, as on SQLite.
                if database.dialect == "postgresql":
                    n = (await session.execute(text("SELECT n FROM counter FOR UPDATE"))).scalar_one()
                await session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(increment() for _ in range(20)))
        async with database.reading() as session:
            assert (await session.execute(text("SELECT n FROM counter"))).scalar_one() == 20
    finally:
        await database.dispose()


async def test_a_database_filled_by_a_replay_plans_each_execution_on_postgresql(database_url):
    """A generic plan made while the replay's tables were empty kept scanning them as they grew (make_engine)."""
    url = await database_url("plans")
    if is_sqlite(url):
        pytest.skip("PostgreSQL only: SQLite has no plan cache to pin a stale plan")
    for plan_each_execution, mode in ((True, "force_custom_plan"), (False, "auto")):
        database = Database(url, plan_each_execution=plan_each_execution)
        try:
            async with database.reading() as session:
                assert (await session.execute(text("SHOW plan_cache_mode"))).scalar_one() == mode
        finally:
            await database.dispose()


async def test_on_sqlite_a_first_writer_goes_before_writers_that_begin_after_it_asked(tmp_path):
    """The outbox relay's turn (WriteTurns): without it, fresh writers beat one that has been polling for the lock."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    order: list[str] = []
    try:
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE log (who TEXT NOT NULL)"))

        async def write(who: str, *, first: bool = False, hold: float = 0.0) -> None:
            async with database.transaction(first=first) as session:
                await session.execute(text("INSERT INTO log VALUES (:who)"), {"who": who})
                await asyncio.sleep(hold)
            order.append(who)

        holder = asyncio.create_task(write("holder", hold=0.5))
        await asyncio.sleep(0.05)  # the holder has the write lock
        relay = asyncio.create_task(write("relay", first=True))
        await asyncio.sleep(0.3)  # the relay has been polling for the lock a while, backing off
        others = [asyncio.create_task(write(f"intake-{i}", hold=0.05)) for i in range(4)]
        await asyncio.gather(holder, relay, *others)
        assert order[:2] == ["holder", "relay"], order
        assert sorted(order[2:]) == [f"intake-{i}" for i in range(4)]
    finally:
        await database.dispose()


async def test_keys_are_hashed_scoped_and_revocable(database_url):
    store = AccessStore.from_url(await database_url("access"))
    await store.database.migrate()
    try:
        issued = await store.create("kit-0042", "field_kit", ["registrations:write"], ["36.72"])
        principal = await store.authenticate(issued.secret)
        assert principal is not None and principal.key_id == issued.key_id
        assert principal.may_act_in("36.72") and not principal.may_act_in("36.71") and not principal.may_act_in("36")
        assert principal.has_scope("registrations:write") and not principal.has_scope("admin")

        async with store.database.reading() as session:
            stored = (await session.execute(text("SELECT secret_sha256 FROM api_keys"))).scalar_one()
        assert issued.secret not in stored and len(stored) == 64

        assert await store.authenticate(issued.secret[:-1] + "x") is None
        assert await store.authenticate("prt_0000000000000000_" + "a" * 43) is None
        assert await store.authenticate("garbage") is None
        assert await store.revoke(issued.key_id)
        assert await store.authenticate(issued.secret) is None
        assert not await store.revoke(issued.key_id)
    finally:
        await store.database.dispose()


@pytest.mark.parametrize("granted, region, covered", [
    ("*", "36.72", True), ("36", "36.72", True), ("36", "36", True), ("36.72", "36.72.01", True),
    ("36.72", "36", False), ("36", "32.75", False), ("3", "36", False), ("36.7", "36.72", False),
])
def test_region_cover(granted: str, region: str, covered: bool) -> None:
    assert region_covers(granted, region) is covered


async def test_bad_key_requests_are_refused(database_url):
    store = AccessStore.from_url(await database_url("access"))
    await store.database.migrate()
    try:
        with pytest.raises(ValueError, match="scopes"):
            await store.create("x", "partner_app", ["everything"], ["36"])
        with pytest.raises(ValueError, match="regions"):
            await store.create("x", "partner_app", ["admin"], ["Banten"])
        with pytest.raises(ValueError, match="kind"):
            await store.create("x", "robot", ["admin"], ["36"])
    finally:
        await store.database.dispose()


async def test_a_sqlite_write_ahead_log_kept_growing_by_a_reader_is_truncated(tmp_path):
    """SQLite starts its log over only when no reader uses it; a service always has one, so the log grew without
    bound (2.2 GB in a bench run) until the runtime's checkpoint truncated it."""
    database = Database(f"sqlite:///{tmp_path}/wal.db")
    wal = tmp_path / "wal.db-wal"
    try:
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE page (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"))
        async with database.reading() as reader:
            await reader.execute(text("SELECT count(*) FROM page"))  # holds its snapshot through the writes
            for _ in range(20):
                async with database.transaction() as session:
                    await session.execute(text("INSERT INTO page (body) VALUES (randomblob(200000))"))
        grown = wal.stat().st_size
        assert grown > 2_000_000
        assert not await database.checkpoint_wal(limit_bytes=grown)  # under the limit: left alone
        assert await database.checkpoint_wal(limit_bytes=1_000_000)
        assert wal.stat().st_size == 0
        async with database.reading() as session:
            assert (await session.execute(text("SELECT count(*) FROM page"))).scalar_one() == 20
    finally:
        await database.dispose()

