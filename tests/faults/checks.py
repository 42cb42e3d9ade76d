"""What is checked after every fault, once the stack is quiet again, besides `paritrana.invariants`:

- on `subsidy.decisions`, every decided registration has exactly one decision event (one id: a re-sent copy
  keeps its id), and it says what subsidy's database says;
- the dead-letter topics hold exactly the poison the suite injected, where it should be, and nothing else;
- `paritrana award rebuild`, run into a fresh database, gives the live projection row for row.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer, ConsumerRecord
from sqlalchemy import select

from paritrana.invariants import InvariantReport, check_databases
from services.award import models as award_models
from services.subsidy import models as subsidy_models
from shared.database import Database
from shared.events import InvalidEvent, SubsidyDenied, SubsidyGranted, parse_event
from shared.kafka import read_to_end
from shared.topics import DECISIONS, TOPICS, WORKERS, dead_letter
from tests.faults.stack import RunningStack
from tests.support import create_postgres_database, drop_postgres_database, postgres_admin_url

DEAD_LETTER_TOPICS = tuple(t.name for t in TOPICS if t.name.endswith(".dead-letter"))
# The projection a rebuild must reproduce; the inbox differs by design (the rebuild saw every copy once).
REBUILT_TABLES = (award_models.registrations, award_models.tallies, award_models.daily, award_models.budgets)


async def wait_quiet(stack: RunningStack, accepted: Iterable[str], timeout: float) -> InvariantReport:
    """Poll the invariants until they hold: every accepted registration decided, statuses and award tallies
    caught up, outboxes empty. While events are in flight they simply do not hold yet."""
    accepted = set(accepted)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        report = await check_databases(**stack.databases, accepted=accepted)
        if report.holds or loop.time() > deadline:
            return report
        await asyncio.sleep(0.5)


async def read_topics(bootstrap_servers: str, topics: Iterable[str]) -> dict[str, list[ConsumerRecord]]:
    """Every message on the topics, from the first offset to the end, without a consumer group."""
    topics = list(topics)
    records: dict[str, list[ConsumerRecord]] = {topic: [] for topic in topics}
    async for batch in read_to_end(bootstrap_servers, topics, client_id="fault-suite-reader"):
        for record in batch:
            records[record.topic].append(record)
    return records


async def read_topic(bootstrap_servers: str, topic: str) -> list[ConsumerRecord]:
    return (await read_topics(bootstrap_servers, [topic]))[topic]


async def decisions_on_topic(stack: RunningStack) -> tuple[dict[str, str], list[str]]:
    """({registration_id: "granted"|"denied"} from subsidy.decisions, registrations with more than one)."""
    ids: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for record in await read_topic(stack.bootstrap_servers, DECISIONS.name):
        try:
            event = parse_event(record.value)
        except InvalidEvent:
            continue  # injected poison: the dead-letter check accounts for it
        if isinstance(event.data, SubsidyGranted | SubsidyDenied):
            outcome = "granted" if isinstance(event.data, SubsidyGranted) else "denied"
            ids[str(event.data.registration_id)].add((str(event.id), outcome))
    single = {rid: next(iter(found))[1] for rid, found in ids.items() if len(found) == 1}
    return single, sorted(rid for rid, found in ids.items() if len(found) > 1)


async def decisions_in_database(subsidy: Database, registration_ids: Iterable[str] | None = None) -> dict[str, str]:
    table = subsidy_models.registrations
    query = select(table.c.registration_id, table.c.status)
    wanted = None if registration_ids is None else list(registration_ids)
    found: dict[str, str] = {}
    async with subsidy.reading() as session:
        if wanted is None:
            return {r.registration_id: r.status for r in await session.execute(query)}
        for start in range(0, len(wanted), 500):
            rows = await session.execute(query.where(table.c.registration_id.in_(wanted[start:start + 500])))
            found.update({r.registration_id: r.status for r in rows})
    return found


# --- poison and the dead-letter topics ---

def poison(topic: str) -> bytes:
    """An event no consumer can take: a known type at a version nobody publishes. Unique, so it can be traced."""
    event_type = "worker.registered" if topic == WORKERS.name else "subsidy.granted"
    return (f'{{"specversion": "1.0", "id": "{uuid.uuid4()}", "source": "/paritrana/fault-suite", '
            f'"type": "{event_type}", "dataversion": 99, "data": {{"poison": true}}}}').encode()


async def produce(bootstrap_servers: str, messages: Iterable[tuple[str, bytes | None, bytes, list]]) -> int:
    """Publish raw (topic, key, value, headers) messages, as another producer on the cluster would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=value, key=key, headers=list(headers or ()))
                   for topic, key, value, headers in messages]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


def expected_dead_letters(injected: Iterable[tuple[str, bytes]]) -> Counter[tuple[str, str, str]]:
    """Each poison goes, once, to the dead-letter topic of every service that consumes its topic:
    (dead-letter topic, original topic, SHA-256 of the original)."""
    consumers = {t.name: t.consumers for t in TOPICS}
    return Counter((dead_letter(service).name, topic, hashlib.sha256(value).hexdigest())
                   for topic, value in injected for service in consumers[topic])


async def dead_letters(stack: RunningStack) -> Counter[tuple[str, str, str]]:
    """What the dead-letter topics hold, named as expected_dead_letters() names it. A message that is not a known
    event is kept masked, with its original's hash in a header; a known event is kept as it was."""
    found: Counter[tuple[str, str, str]] = Counter()
    for topic, records in (await read_topics(stack.bootstrap_servers, DEAD_LETTER_TOPICS)).items():
        for record in records:
            headers = {k: v.decode() for k, v in record.headers or ()}
            digest = headers.get("dlq.original_sha256") or hashlib.sha256(record.value or b"").hexdigest()
            found[(topic, headers.get("dlq.topic", "?"), digest)] += 1
    return found


# --- award rebuild ---

@dataclass
class RebuildComparison:
    events_line: str
    rows: int
    differences: list[str]


async def compare_rebuild(stack: RunningStack, label: str) -> RebuildComparison:
    """Run `paritrana award rebuild` into a fresh database (the live one keeps serving) and compare it with the
    live projection. The live award database is never emptied, so a rebuild that loses events cannot hide."""
    admin = postgres_admin_url()
    if stack.backend == "postgresql":
        url = await create_postgres_database(admin)  # type: ignore[arg-type]
    else:
        url = f"sqlite+aiosqlite:///{stack.root / f'rebuild-{label}.db'}"
    rebuilt = Database(url)
    try:
        output = await stack.command("award", "rebuild", database_urls={"award": url})
        live_rows = await _projection(stack.databases["award"])
        rebuilt_rows = await _projection(rebuilt)
    finally:
        await rebuilt.dispose()
        if stack.backend == "postgresql":
            await drop_postgres_database(admin, url)  # type: ignore[arg-type]
    differences = []
    for table, live in live_rows.items():
        again = rebuilt_rows[table]
        for key in sorted(set(live) | set(again), key=repr):
            if live.get(key) != again.get(key):
                differences.append(f"{table} {key}: live {live.get(key)}, rebuilt {again.get(key)}")
    return RebuildComparison(output.splitlines()[-1] if output else "", sum(map(len, live_rows.values())),
                             differences)


async def _projection(database: Database) -> dict[str, dict[tuple, tuple]]:
    result = {}
    async with database.reading() as session:
        for table in REBUILT_TABLES:
            key_columns = [c for c in table.columns if c.primary_key]
            query = select(table)
            if "value" in table.c:
                # A count that went up and back to 0 keeps its row live; a rebuild folding the same events in one
                # batch never writes it. Both say 0.
                query = query.where(table.c.value != 0)
            rows = (await session.execute(query)).mappings().all()
            result[table.name] = {tuple(str(row[c.name]) for c in key_columns):
                                  tuple(_comparable(row[c.name]) for c in table.columns if not c.primary_key)
                                  for row in rows}
    return result


def _comparable(value: object) -> object:
    """SQLite hands back naive datetimes and JSON dicts in insertion order; compare what they mean."""
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    if hasattr(value, "isoformat"):
        return value.isoformat()[:19]  # type: ignore[union-attr]
    return value
