"""A full replay into an empty database rebuilds the same ledger; poison goes to subsidy.dead-letter while the
partition keeps flowing."""

import hashlib
import random
from datetime import datetime

from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.subsidy import repository
from services.subsidy.app import create_app
from services.subsidy.cli import replay
from services.subsidy.models import budgets, registrations
from shared.clock import FISCAL_TZ
from shared.database import Database
from shared.kafka import read_to_end
from shared.topics import WORKERS
from tests.subsidy.workers import MONTHLY, api_key, decided, ended, lines, publish, registered
from tests.support import caught_up, eventually, serving

REGENCIES = ("36.72", "36.73", "32.75")


async def snapshot(database):
    async with database.reading() as session:
        ledger = await repository.whole_ledger(session)
        money = (await session.execute(select(budgets.c.region_code, budgets.c.allocation_rupiah,
                                              budgets.c.committed_rupiah, budgets.c.funded_members)
                                       .order_by(budgets.c.region_code))).all()
        decisions = dict((await session.execute(select(registrations.c.registration_id,
                                                       registrations.c.status))).all())
    return ledger, [tuple(r) for r in money], decisions


async def test_a_full_replay_into_an_empty_database_rebuilds_the_same_ledger(isolated_broker, make_settings,
                                                                              database_url):
    settings = await make_settings(isolated_broker)
    admin = await api_key(settings, ["admin"], ["*"])
    rng = random.Random(7)
    events = [registered(rng.choice(REGENCIES), start=rng.randint(1, 12), months=rng.randint(1, 12))
              for _ in range(600)]
    ends = [ended(e, rng.randint(e.data.start_month, 12)) for e in rng.sample(events, 120)]
    async with serving(create_app, settings) as server:
        server.runtime.clock.set(datetime(2024, 3, 1, 9, tzinfo=FISCAL_TZ))
        async with server.client(admin) as http:
            for i, regency in enumerate(REGENCIES):
                body = lines(300 * MONTHLY * (i + 1), 100 * MONTHLY, policy="deny")
                assert (await http.put(f"/v1/budgets/{regency}/2024/lines", json=body)).status_code == 200
        await publish(settings, events)
        await eventually(lambda: decided(server.runtime.database, 600), timeout=60)
        await publish(settings, ends)
        await eventually(lambda: caught_up(server.runtime.consumers), timeout=60)
        original = await snapshot(server.runtime.database)

    assert sum(1 for s in original[2].values() if s == "denied") > 0, "the budgets must run out for this to test"
    empty = settings.model_copy(update={"subsidy_database_url": await database_url("subsidy_replay")})
    result = await replay(empty)
    assert result.events == len(events) + len(ends) and result.budgets_restored == len(REGENCIES)
    rebuilt_database = Database(empty.database_url("subsidy"))
    try:
        rebuilt = await snapshot(rebuilt_database)
    finally:
        await rebuilt_database.dispose()
    assert rebuilt == original


async def test_poison_is_dead_lettered_and_the_partition_keeps_flowing(isolated_broker, make_settings):
    settings = await make_settings(isolated_broker)
    admin = await api_key(settings, ["admin"], ["*"])
    good = [registered("36.72") for _ in range(5)]
    unpriceable = registered("36.72", programme="no-such-programme")
    raw = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    async with serving(create_app, settings) as server:
        server.runtime.clock.set(datetime(2024, 3, 1, 9, tzinfo=FISCAL_TZ))
        async with server.client(admin) as http:
            assert (await http.put("/v1/budgets/36.72/2024/lines", json=lines(100 * MONTHLY))).status_code == 200
        await publish(settings, good[:2])
        await raw.start()
        try:
            await raw.send_and_wait(WORKERS.name, b"\xff not json", key=b"36.72")
            await raw.send_and_wait(WORKERS.name, b'{"type": "worker.registered", "dataversion": 9}', key=b"36.72")
        finally:
            await raw.stop()
        await publish(settings, [unpriceable, *good[2:]])
        await eventually(lambda: decided(server.runtime.database, 5), timeout=30)
        async with server.runtime.database.reading() as session:
            ids = set((await session.scalars(select(registrations.c.registration_id))).all())

    assert ids == {str(e.data.registration_id) for e in good}
    dead = [m.value async for batch in read_to_end(settings.bootstrap_servers, ["subsidy.dead-letter"],
                                                  client_id="test-reader") for m in batch]
    assert len(dead) == 3
    assert hashlib.sha256(b"\xff not json").hexdigest().encode() in dead[0]  # not JSON: kept as its hash
    assert str(unpriceable.data.registration_id).encode() in dead[2]  # the original, as it was
