"""A region's year in enrolment: waiting for funding with a position, replacing a member by a successor (both or
neither), and renewing a cohort into the next fiscal year (once, however often it runs)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import jsonschema
import pytest
from sqlalchemy import insert, select, update

from services.enrolment.domain import renewal_id
from services.enrolment.models import registrations
from shared.broker import EmbeddedBroker
from shared.events import SubsidyGranted, SubsidyWaitlisted, json_schema, new_event
from shared.kafka import EventProducer
from tests.conftest import start_broker
from tests.enrolment.sample import item, synthetic_nik
from tests.enrolment.test_lifecycle import DECIDED, attributes, status_of
from tests.support import eventually


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """This module's own broker: renewing a cohort publishes tens of thousands of events, which every later stack on
    the session broker would otherwise have to read before its own (a new consumer group starts at the earliest)."""
    broker = start_broker(tmp_path_factory.mktemp("year-broker"))
    yield broker
    broker.stop()


async def admin_key(enrolment, regions: list[str]) -> str:
    return (await enrolment.server.runtime.access.create("disnaker", "staff", ["admin"], regions)).secret


def waitlisted(receipt: dict, arrival: int):
    return new_event(SubsidyWaitlisted(**attributes(receipt), amount_rupiah=168_000, arrival=arrival, position=1,
                                       decided_at=DECIDED), source="/paritrana/subsidy",
                     subject=receipt["registration_id"])


async def test_waiting_shows_its_position_and_a_late_grant_activates_it(enrolment):
    bodies = [item(regency="36.71") for _ in range(3)]
    async with enrolment.client("banten") as client:
        receipts = [(await client.post("/v1/registrations", json=b)).json() for b in bodies]
        producer = EventProducer(enrolment.settings, "subsidy")
        await producer.start()
        try:
            await producer.publish([(waitlisted(r, 100 + i), r["regency_code"]) for i, r in enumerate(receipts)])
            await eventually(lambda: _all_waiting(client, receipts), timeout=20)
            positions = [(await client.get(f"/v1/registrations/{r['registration_id']}")).json()["waiting_position"]
                         for r in receipts]
            assert positions == [1, 2, 3]
            first = receipts[0]
            grant = new_event(SubsidyGranted(**attributes(first), amount_rupiah=16_800 * 10, schedule=[],
                                             funding_region_code="36.71", decided_at=DECIDED),
                              source="/paritrana/subsidy", subject=first["registration_id"])
            await producer.publish([(grant, "36.71"), (waitlisted(first, 100), "36.71")])  # a replay changes nothing
            await eventually(lambda: _status_is(client, first["registration_id"], "active"), timeout=20)
            later = (await client.get(f"/v1/registrations/{receipts[2]['registration_id']}")).json()
            assert (later["status"], later["waiting_position"]) == ("waiting_funding", 2)
            # Waiting holds the NIK's place in the programme and year.
            again = await client.post("/v1/registrations", json=item(regency="36.71", nik=bodies[1]["nik"]))
            assert again.status_code == 409
        finally:
            await producer.stop()


async def _all_waiting(client, receipts) -> bool:
    return all([await status_of(client, r["registration_id"]) == "waiting_funding" for r in receipts])


async def _status_is(client, registration_id: str, status: str) -> bool:
    return await status_of(client, registration_id) == status


def successor_body(**overrides) -> dict:
    body = item(**overrides)
    for name in ("coverage", "regency_code", "category"):
        body.pop(name)
    return body


async def test_a_replacement_ends_the_holder_and_registers_the_successor_for_the_months_left(enrolment, watch):
    holder = item(coverage={"start_month": "2025-02", "months": 11})
    successor = successor_body()
    async with enrolment.client("banten") as client:
        assert (await client.post("/v1/registrations", json=holder)).status_code == 201
        before = (await client.get(f"/v1/registrations/{holder['registration_id']}")).json()
        path = f"/v1/registrations/{holder['registration_id']}/replace"
        answer = await client.post(path, json={"successor": successor})
        resent = await client.post(path, json={"successor": successor})
        held = (await client.get(f"/v1/registrations/{holder['registration_id']}")).json()
    assert answer.status_code == 201, answer.text
    taken = answer.json()
    assert (taken["regency_code"], taken["category"], taken["replaces"]) == ("36.72", "posyandu_cadre",
                                                                             holder["registration_id"])
    # The clock is in March: the holder keeps March, the successor covers April to December.
    assert taken["coverage"] == {"fiscal_year": 2025, "start_month": "2025-04", "months": 9, "end_month": None}
    assert (held["status"], held["status_reason"], held["coverage"]["end_month"]) == ("ended", "replaced", "2025-03")
    assert before["replaced_by"] is None, "no successor before the replacement"
    assert held["replaced_by"] == successor["registration_id"], "the holder's view links forward to its successor"
    assert resent.status_code == 200 and resent.json()["registration_id"] == successor["registration_id"]

    ended = (await watch.events_of(holder["registration_id"], count=2))[1]
    document = json.loads(ended.raw)
    jsonschema.validate(document, json_schema("worker.ended", 2))
    assert (document["dataversion"], document["data"]["reason"]) == (2, "replaced")
    [registered] = await watch.events_of(successor["registration_id"])
    assert registered.event.dataversion == 2 and str(registered.event.data.replaces) == holder["registration_id"]
    assert ended.event.time <= registered.event.time


async def test_a_replacement_that_fails_changes_nothing(enrolment):
    holder = item(coverage={"start_month": "2025-03", "months": 10})
    live = item()
    async with enrolment.client("banten") as client:
        for body in (holder, live):
            assert (await client.post("/v1/registrations", json=body)).status_code == 201
        path = f"/v1/registrations/{holder['registration_id']}/replace"
        bad_nik = await client.post(path, json={"successor": successor_body(nik="1234")})
        other_category = await client.post(path, json={"successor": successor_body() | {"category": "marbot"}})
        with_coverage = await client.post(path, json={"successor": successor_body() | {
            "coverage": {"start_month": "2025-04", "months": 2}}})
        taken_nik = await client.post(path, json={"successor": successor_body(nik=live["nik"])})
        view = (await client.get(f"/v1/registrations/{holder['registration_id']}")).json()
    assert bad_nik.status_code == 422 and {e["field"] for e in bad_nik.json()["errors"]} == {"successor.nik"}
    assert (other_category.status_code, other_category.json()["errors"][0]["code"]) == (422, "not_holders_category")
    assert (with_coverage.status_code, with_coverage.json()["errors"][0]["field"]) == (422, "successor.coverage")
    assert (taken_nik.status_code, taken_nik.json()["errors"][0]["code"]) == (409, "nik_already_registered")
    assert view["status"] == "pending_funding" and view["coverage"]["end_month"] is None
    assert await enrolment.count_events(holder["registration_id"]) == 1  # its worker.registered, nothing more


COHORT = 10_000


async def seed_members(enrolment, regency: str, count: int, status: str = "active") -> list[str]:
    """Members of fiscal year 2025, stored as a funded registration would be (the cheap path: the intake and the
    funding gate are other tests' subjects)."""
    template = item(regency=regency)
    async with enrolment.client("national") as client:
        assert (await client.post("/v1/registrations", json=template)).status_code == 201
    async with enrolment.database.reading() as session:
        row = dict((await session.execute(select(registrations).where(
            registrations.c.registration_id == template["registration_id"]))).mappings().one())
    district = regency.replace(".", "") + "01"
    rows = [row | {"registration_id": str(uuid.uuid4()), "nik": synthetic_nik(district),
                   "content_sha256": uuid.uuid4().hex * 2, "status": status,
                   "decided_at": datetime(2025, 3, 10, tzinfo=UTC)} for _ in range(count)]
    async with enrolment.database.transaction() as session:
        for start in range(0, len(rows), 1000):
            await session.execute(insert(registrations), rows[start:start + 1000])
        await session.execute(update(registrations).where(
            registrations.c.registration_id == template["registration_id"]).values(status="ended"))
    return [r["registration_id"] for r in rows]


async def test_renewing_a_cohort_of_10000_twice_renews_each_member_once(enrolment):
    members = await seed_members(enrolment, "36.04", COHORT)
    gone = await seed_members(enrolment, "36.04", 50, status="ended")
    unfunded = await seed_members(enrolment, "36.04", 50, status="unfunded")
    admin = await admin_key(enrolment, ["36.04"])
    request = {"region_code": "36.04", "from_year": 2025, "to_year": 2026}
    async with enrolment.server.client(admin) as client:
        preview = (await client.post("/v1/renewals", json=request | {"dry_run": True})).json()
        first = (await client.post("/v1/renewals", json=request)).json()
        second = (await client.post("/v1/renewals", json=request)).json()
        wrong_year = await client.post("/v1/renewals", json=request | {"to_year": 2027})
        outside = await client.post("/v1/renewals", json=request | {"region_code": "36.72"})
        renewal = (await client.get(f"/v1/registrations/{renewal_id(members[0], 2026)}")).json()
    assert (preview["cohort"], preview["renewable"], preview["renewed"], preview["member_months"]) == \
        (COHORT, COHORT, 0, 12 * COHORT)
    assert (first["renewed"], first["already_renewed"]) == (COHORT, 0)
    assert (second["renewed"], second["already_renewed"]) == (0, COHORT)
    assert (wrong_year.status_code, wrong_year.json()["errors"][0]["field"]) == (422, "to_year")
    assert outside.status_code == 403
    # The renewals exist once each, linked to what they renew, for the same worker.
    assert await enrolment.count_rows(registrations.c.renews.is_not(None),
                                      registrations.c.regency_code == "36.04") == COHORT
    assert await enrolment.count_rows(registrations.c.renews.in_(gone + unfunded)) == 0
    assert (renewal["status"], renewal["renews"], renewal["coverage"]["fiscal_year"]) == \
        ("pending_funding", members[0], 2026)
    async with enrolment.database.reading() as session:
        refs = dict((await session.execute(select(registrations.c.registration_id, registrations.c.worker_ref).where(
            registrations.c.registration_id.in_([members[0], renewal_id(members[0], 2026)])))).all())
    assert refs[members[0]] == refs[renewal_id(members[0], 2026)]
