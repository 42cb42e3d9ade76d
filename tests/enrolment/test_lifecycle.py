"""Status changes: subsidy decisions from the decisions topic, and ending coverage with worker.ended."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import jsonschema
from sqlalchemy import select

from services.enrolment.models import inbox
from services.enrolment.service import apply_subsidy_decisions
from shared.events import (
    BudgetAllocated,
    MonthlyAmount,
    SubsidyDenied,
    SubsidyGranted,
    SubsidyReleased,
    SubsidyWaitlisted,
    json_schema,
    new_event,
)
from shared.kafka import Consumed, EventProducer
from shared.topics import DECISIONS
from tests.enrolment.sample import item
from tests.support import eventually

DECIDED = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)


def attributes(receipt: dict, worker_ref: str = "b" * 64) -> dict:
    return {"registration_id": uuid.UUID(receipt["registration_id"]), "worker_ref": worker_ref,
            "province_code": receipt["province_code"], "regency_code": receipt["regency_code"],
            "category": receipt["category"], "sex": receipt["sex"], "age_band": receipt["age_band"],
            "fiscal_year": 2025, "start_month": 3, "months": 10}


def granted(receipt: dict):
    return new_event(SubsidyGranted(**attributes(receipt), amount_rupiah=168_000,
                                    schedule=[MonthlyAmount(month=m, amount_rupiah=16_800) for m in range(3, 13)],
                                    funding_region_code=receipt["regency_code"], decided_at=DECIDED),
                     source="/paritrana/subsidy", subject=receipt["registration_id"])


def denied(receipt: dict):
    return new_event(SubsidyDenied(**attributes(receipt), amount_rupiah=168_000, reason="budget_exhausted",
                                   remaining_rupiah=0, decided_at=DECIDED),
                     source="/paritrana/subsidy", subject=receipt["registration_id"])


async def status_of(client, registration_id: str) -> str:
    return (await client.get(f"/v1/registrations/{registration_id}")).json()["status"]


async def test_decisions_on_the_topic_activate_or_leave_unfunded_and_are_applied_once(enrolment):
    funded, refused = item(regency="36.73"), item(regency="36.73")
    async with enrolment.client("banten") as client:
        receipts = [(await client.post("/v1/registrations", json=b)).json() for b in (funded, refused)]
        grant, denial = granted(receipts[0]), denied(receipts[1])
        # Events this service does not act on are still recorded as processed.
        attrs = {k: v for k, v in attributes(receipts[0]).items() if k not in ("start_month", "months")}
        released = new_event(SubsidyReleased(**attrs, end_month=12, months_released=0, amount_rupiah=0,
                                             schedule=[], funding_region_code="36.73", released_at=DECIDED),
                             source="/paritrana/subsidy")
        budget = new_event(BudgetAllocated(region_code="36.73", fiscal_year=2025, allocation_rupiah=1_000_000,
                                           lines=[], changed_at=DECIDED), source="/paritrana/subsidy")
        late_grant = granted(receipts[1])  # after the denial: must not revive it
        producer = EventProducer(enrolment.settings, "subsidy")
        await producer.start()
        try:
            await producer.publish([(grant, "36.73"), (denial, "36.73"), (released, "36.73"), (budget, "36.73"),
                                    (grant, "36.73"), (late_grant, "36.73")])
        finally:
            await producer.stop()

        await eventually(lambda: _ids_in_inbox(enrolment, [grant.id, denial.id, released.id, budget.id,
                                                           late_grant.id]), timeout=30)
        assert await status_of(client, funded["registration_id"]) == "active"
        refused_view = (await client.get(f"/v1/registrations/{refused['registration_id']}")).json()
        assert (refused_view["status"], refused_view["status_reason"]) == ("unfunded", "budget_exhausted")
        assert refused_view["decided_at"].startswith("2025-03-10T03:00:00")

        # An unfunded registration no longer holds the NIK: the worker can be registered again.
        retry = await client.post("/v1/registrations", json=item(regency="36.73", nik=refused["nik"]))
        assert retry.status_code == 201
        # The original answer is still the original answer, whatever happened since.
        assert (await client.post("/v1/registrations", json=funded)).json() == receipts[0]


def waitlisted(receipt: dict):
    return new_event(SubsidyWaitlisted(**attributes(receipt), amount_rupiah=168_000, arrival=1, position=1,
                                       decided_at=DECIDED),
                     source="/paritrana/subsidy", subject=receipt["registration_id"])


def polled(*events) -> list:
    return [Consumed(e, DECISIONS.name, 0, offset, "36.73") for offset, e in enumerate(events)]


async def test_a_polled_batch_of_decisions_is_applied_whole_in_one_transaction(enrolment):
    """The consumer hands the handler a polled batch; if the handler fails, it handles the batch's events one
    transaction each, which is correct but about 200 a second. So the handler must take a batch of many decisions,
    of every kind, for pending and waiting registrations alike, without failing."""
    async with enrolment.client("banten") as client:
        receipts = [(await client.post("/v1/registrations", json=item(regency="36.73"))).json() for _ in range(5)]
        assert {r["status"] for r in receipts} == {"pending_funding"}
        funded, refused, waiting, queued, later = receipts
        await apply_subsidy_decisions(enrolment.database, polled(waitlisted(waiting), waitlisted(later)), DECIDED)
        assert [await status_of(client, r["registration_id"]) for r in (waiting, later)] == ["waiting_funding"] * 2

        grant, late_grant = granted(funded), granted(refused)
        batch = polled(grant, denied(refused), granted(waiting), waitlisted(queued), late_grant, grant)
        await apply_subsidy_decisions(enrolment.database, batch, DECIDED)

        statuses = [await status_of(client, r["registration_id"]) for r in receipts]
    # The first final decision for a registration wins; a later one, or a repeated event, changes nothing.
    assert statuses == ["active", "unfunded", "active", "waiting_funding", "waiting_funding"]
    assert await _ids_in_inbox(enrolment, [c.event.id for c in batch])


async def _ids_in_inbox(enrolment, ids) -> bool:
    async with enrolment.database.reading() as session:
        found = set((await session.execute(select(inbox.c.event_id))).scalars())
    return {str(i) for i in ids} <= found


async def test_ending_publishes_worker_ended_and_frees_the_nik(enrolment, watch):
    body = item(coverage={"start_month": "2025-02", "months": 6})
    async with enrolment.client("banten") as client:
        assert (await client.post("/v1/registrations", json=body)).status_code == 201
        path = f"/v1/registrations/{body['registration_id']}/end"
        outside = await client.post(path, json={"reason": "moved", "end_month": "2025-08"})
        bad_reason = await client.post(path, json={"reason": "bored"})
        ended = await client.post(path, json={"reason": "moved"})
        resent = await client.post(path, json={"reason": "moved"})
        other = await client.post(path, json={"reason": "died"})
        again = await client.post("/v1/registrations", json=item(nik=body["nik"]))
    async with enrolment.client("jabar_reader") as stranger:
        hidden = await stranger.post(path, json={"reason": "moved"})

    assert (outside.status_code, outside.json()["errors"][0]["code"]) == (422, "end_month_outside_coverage")
    assert bad_reason.status_code == 422
    assert ended.status_code == 200, ended.text
    view = ended.json()
    assert (view["status"], view["status_reason"], view["coverage"]["end_month"]) == ("ended", "moved", "2025-03")
    assert "worker" not in view
    assert resent.status_code == 200 and resent.json() == view
    assert (other.status_code, other.json()["errors"][0]["code"]) == (409, "registration_not_live")
    assert hidden.status_code == 403
    assert again.status_code == 201

    published = await watch.events_of(body["registration_id"], count=2)
    assert [p.event.type for p in published] == ["worker.registered", "worker.ended"]
    document = json.loads(published[1].raw)
    jsonschema.validate(document, json_schema("worker.ended", 1))
    assert (document["data"]["end_month"], document["data"]["reason"]) == (3, "moved")
    assert document["data"]["worker_ref"] == published[0].event.data.worker_ref
    assert body["nik"].encode() not in published[1].raw

    # The end is the key's action in enrolment's trail, once (the resend and the refused end added nothing), by
    # registration id and without the person's data.
    async with enrolment.client("admin") as admin:
        trail = (await admin.get("/v1/audit/key-actions", params={"region_code": "36"})).json()["items"]
    mine = [e for e in trail if e["subject"] == body["registration_id"]]
    assert [(e["action"], e["key_name"], e["after"]) for e in mine] == [
        ("registration_ended", "banten", {"status": "ended", "reason": "moved", "end_month": 3})]
    assert mine[0]["before"]["status"] in ("pending_funding", "waiting_funding", "active")
    dumped = json.dumps(mine)
    assert body["nik"] not in dumped and body["full_name"] not in dumped


async def test_a_bills_niks_and_kpj_numbers_find_their_registrations_and_nothing_else(enrolment):
    body = item(coverage={"start_month": "2025-02", "months": 6})
    async with enrolment.client("banten") as client:
        assert (await client.post("/v1/registrations", json=body)).status_code == 201
        asked = {"fiscal_year": 2025, "niks": [body["nik"], "1234", "x" * 32], "kpj_numbers": ["25000000001"]}
        found = await client.post("/v1/registrations/lookup", json=asked)
        elsewhere = await client.post("/v1/registrations/lookup", json=asked | {"fiscal_year": 2026})
        too_long = await client.post("/v1/registrations/lookup", json=asked | {"niks": ["1" * 33]})
    async with enrolment.client("jabar_reader") as stranger:
        hidden = await stranger.post("/v1/registrations/lookup", json=asked)
    async with enrolment.client("cilegon_kit") as kit:
        unread = await kit.post("/v1/registrations/lookup", json=asked)

    assert found.status_code == 200, found.text
    answer = found.json()
    assert list(answer["by_nik"]) == [body["nik"]] and answer["by_kpj_number"] == {}
    [ref] = answer["by_nik"][body["nik"]]
    assert set(ref) == {"registration_id", "regency_code", "province_code", "status", "decided_at", "registered_at"}
    assert (ref["registration_id"], ref["regency_code"]) == (body["registration_id"], "36.72")
    assert body["full_name"] not in found.text and body["phone"] not in found.text
    assert elsewhere.json() == {"by_nik": {}, "by_kpj_number": {}}
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"].startswith("niks")
    assert hidden.status_code == 200 and hidden.json() == {"by_nik": {}, "by_kpj_number": {}}
    assert unread.status_code == 403
