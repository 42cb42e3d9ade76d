"""Field-kit batches: one result per item, never all-or-nothing, safe to resend whole."""

from __future__ import annotations

import asyncio
import json

from services.enrolment.models import registrations
from tests.enrolment.sample import item, synthetic_nik


async def test_every_item_gets_its_own_result_and_a_resend_stores_nothing_new(enrolment, watch):
    stored_earlier = item()
    async with enrolment.client("banten") as client:
        assert (await client.post("/v1/registrations", json=stored_earlier)).status_code == 201
        good = [item(), item(regency="36.71", category="ojol"), item(regency="36.03", phone=None)]
        same_nik = item(nik=good[0]["nik"])
        bad = item(nik="3672011302900000", phone="12345")  # 13 February, serial 0000; not a phone number
        outside = item(regency="32.73")
        reused_id = item(registration_id=stored_earlier["registration_id"])  # same id, another worker
        items = [good[0], bad, good[1], dict(good[0]), same_nik, outside, reused_id, good[2],
                 dict(stored_earlier)]
        response = await client.post("/v1/registrations/batch", json={"items": items})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        again = await client.post("/v1/registrations/batch", json={"items": items})

    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == ["accepted", "invalid", "accepted", "duplicate", "conflict", "invalid",
                                              "conflict", "accepted", "duplicate"]
    assert [r["registration_id"] for r in results] == [i["registration_id"] for i in items]
    assert {(e["field"], e["code"]) for e in results[1]["errors"]} == {("nik", "nik_serial"),
                                                                        ("phone", "invalid_phone")}
    assert results[4]["errors"][0]["code"] == "nik_already_registered"
    assert results[4]["existing_registration_id"] == good[0]["registration_id"]
    assert results[5]["errors"] == [{"field": "regency_code", "code": "outside_region",
                                     "message": "This key may not act in that region."}]
    assert results[6]["errors"][0]["code"] == "registration_id_conflict"
    assert response.json()["counts"] == {"accepted": 3, "duplicate": 2, "conflict": 2, "invalid": 2}

    resent = again.json()["results"]
    assert [r["status"] for r in resent] == ["duplicate", "invalid", "duplicate", "duplicate", "conflict", "invalid",
                                             "conflict", "duplicate", "duplicate"]
    for body in good:
        assert await enrolment.count_rows(registrations.c.registration_id == body["registration_id"]) == 1
        assert await enrolment.count_events(body["registration_id"]) == 1
        [published] = await watch.events_of(body["registration_id"])
        assert published.key == body["regency_code"]
    for body in (bad, same_nik, outside):
        assert await enrolment.count_rows(registrations.c.registration_id == body["registration_id"]) == 0
    assert await enrolment.count_rows(registrations.c.nik == good[0]["nik"]) == 1


async def test_a_full_batch_is_taken_and_the_limits_are_enforced(enrolment):
    items = [item(regency="36.04") for _ in range(1000)]
    async with enrolment.client("banten") as client:
        full = await client.post("/v1/registrations/batch", json={"items": items})
        assert full.status_code == 200, full.text[:500]
        assert full.json()["counts"]["accepted"] == 1000
        too_many = await client.post("/v1/registrations/batch", json={"items": items + [item()]})
        missing = await client.post("/v1/registrations/batch", json={"registrations": []})
        malformed = await client.post("/v1/registrations/batch", content=b'{"items": [',
                                      headers={"content-type": "application/json"})
        huge = await client.post("/v1/registrations/batch", content=b'{"items": ["' + b"x" * (5 << 20) + b'"]}',
                                 headers={"content-type": "application/json"})
        not_json = await client.post("/v1/registrations/batch", content=b"items=1",
                                     headers={"content-type": "application/x-www-form-urlencoded"})
        odd_items = await client.post("/v1/registrations/batch", json={"items": [42, "x", None]})
    assert (too_many.status_code, too_many.json()["errors"][0]["code"]) == (422, "too_long")
    assert (missing.status_code, missing.json()["errors"][0]["field"]) == (422, "items")
    assert (malformed.status_code, malformed.json()["errors"][0]["code"]) == (400, "malformed_json")
    assert huge.status_code == 413 and not_json.status_code == 415
    assert [r["status"] for r in odd_items.json()["results"]] == ["invalid"] * 3
    assert await enrolment.count_rows(registrations.c.regency_code == "36.04") == 1000
    assert json.loads(full.content)["results"][999]["index"] == 999


async def test_concurrent_batches_with_the_same_niks_register_each_worker_once(enrolment):
    niks = [synthetic_nik("367301") for _ in range(40)]
    batches = [[item(regency="36.73", nik=nik) for nik in niks[k:] + niks[:k]] for k in (0, 10, 20, 30)]
    async with enrolment.client("banten") as client:
        responses = await asyncio.gather(*(client.post("/v1/registrations/batch", json={"items": b})
                                           for b in batches))
    results = [r for response in responses for r in response.json()["results"]]
    accepted = {r["registration_id"] for r in results if r["status"] == "accepted"}
    assert len(accepted) == 40
    assert {r["status"] for r in results} == {"accepted", "conflict"}
    assert {r["existing_registration_id"] for r in results if r["status"] == "conflict"} <= accepted
    for nik in niks:
        assert await enrolment.count_rows(registrations.c.nik == nik) == 1
