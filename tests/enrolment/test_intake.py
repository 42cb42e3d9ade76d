"""Intake over HTTP on both backends with the real broker: events, idempotency, duplicates, batches."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import jsonschema

from services.enrolment.models import registrations
from shared.events import json_schema
from tests.enrolment.sample import item, synthetic_nik


async def test_an_accepted_registration_is_published_schema_valid_and_without_personal_data(enrolment, watch):
    body = item(nik=None, phone="+62 812-9988-7766", full_name="  dewi   PRATIWI ")
    body["nik"] = synthetic_nik("367201", female=True)
    async with enrolment.client("cilegon_kit") as client:
        response = await client.post("/v1/registrations", json=body)
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["registration_id"] == body["registration_id"]
    assert receipt["status"] == "pending_funding" and receipt["sex"] == "P"
    assert receipt["coverage"] == {"fiscal_year": 2025, "start_month": "2025-03", "months": 10, "end_month": None}
    assert body["nik"] not in response.text and "DEWI" not in response.text  # a writing key gets no personal data

    [published] = await watch.events_of(body["registration_id"])
    assert published.key == "36.72"
    document = json.loads(published.raw)
    jsonschema.validate(document, json_schema("worker.registered", 1))
    assert document["type"] == "worker.registered" and document["source"] == "/paritrana/enrolment"
    data = document["data"]
    assert data["worker_ref"] == hmac.new(b"test-worker-ref-key", body["nik"].encode(), hashlib.sha256).hexdigest()
    assert (data["sex"], data["regency_code"], data["province_code"]) == ("P", "36.72", "36")
    assert (data["fiscal_year"], data["start_month"], data["months"]) == (2025, 3, 10)
    assert data["category"] == "posyandu_cadre" and data["channel"] == "field_kit"
    birth = body["nik"][6:12]
    # The phone in full and without its prefix; a four-digit piece of it would also match, by chance, the hex of the
    # event's ids now and then.
    for personal in (body["nik"], body["nik"][:12], "DEWI", "Dewi", "PRATIWI", "81299887766", "+6281299887766", birth):
        assert personal.encode() not in published.raw, personal

    async with enrolment.client("banten") as client:
        stored = (await client.get(f"/v1/registrations/{body['registration_id']}")).json()
    assert stored["worker"] == {"nik": body["nik"], "full_name": "DEWI PRATIWI", "phone": "+6281299887766",
                                "nik_district_code": "36.72.01", "kpj_number": None}


async def test_a_resend_gets_the_original_answer_and_stores_nothing_new(enrolment):
    body = item()
    async with enrolment.client("cilegon_kit") as client:
        first = await client.post("/v1/registrations", json=body)
        # The same content written differently: NIK with separators, name in another case and spacing.
        nik = body["nik"]
        resend = body | {"nik": f"{nik[:4]}.{nik[4:8]} {nik[8:12]}-{nik[12:]}", "full_name": " siti  CONTOH",
                         "category": "Kader Posyandu", "phone": "+6281234567890"}
        second = await client.post("/v1/registrations", json=resend)
        changed = await client.post("/v1/registrations", json=body | {"coverage": {"start_month": "2025-04",
                                                                                     "months": 9}})
    assert first.status_code == 201 and second.status_code == 200, second.text
    assert second.json() == first.json()
    assert changed.status_code == 409
    assert changed.json()["errors"][0]["code"] == "registration_id_conflict"
    assert await enrolment.count_rows(registrations.c.registration_id == body["registration_id"]) == 1
    assert await enrolment.count_events(body["registration_id"]) == 1


async def test_a_nik_with_a_live_registration_is_refused_naming_it(enrolment):
    first, second = item(), item()
    second["nik"] = first["nik"]
    async with enrolment.client("banten") as client:
        assert (await client.post("/v1/registrations", json=first)).status_code == 201
        response = await client.post("/v1/registrations", json=second | {"regency_code": "36.71"})
    assert response.status_code == 409
    assert response.json()["errors"][0] == {"field": "nik", "code": "nik_already_registered",
                                            "message": "This NIK already has a live registration in this programme "
                                                       "and fiscal year."}
    assert response.json()["existing_registration_id"] == first["registration_id"]
    assert await enrolment.count_rows(registrations.c.registration_id == second["registration_id"]) == 0


async def test_fifty_simultaneous_posts_of_one_nik_leave_one_registration(enrolment):
    nik = synthetic_nik()
    bodies = [item(nik=nik) for _ in range(50)]
    async with enrolment.client("cilegon_kit") as client:
        responses = await asyncio.gather(*(client.post("/v1/registrations", json=b) for b in bodies))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 49, statuses
    [winner] = [b["registration_id"] for b, r in zip(bodies, responses) if r.status_code == 201]
    assert {r.json()["existing_registration_id"] for r in responses if r.status_code == 409} == {winner}
    assert await enrolment.count_rows(registrations.c.nik == nik) == 1
    assert await enrolment.count_events(winner) == 1


async def test_an_invalid_registration_lists_every_problem_echoes_nothing_and_stores_nothing(enrolment):
    body = item(nik="3672012902010001", phone="12-34", category="other", district_code="32.73.01",
                coverage={"start_month": "2025-03", "months": 11}, full_name="Rahasia Pribadi")
    async with enrolment.client("cilegon_kit") as client:
        response = await client.post("/v1/registrations", json=body)
        not_object = await client.post("/v1/registrations", json=["x"])
    assert response.status_code == 422
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("nik", "nik_birth_date"), ("phone", "invalid_phone"), ("category_description", "missing"),
        ("district_code", "district_outside_regency"), ("coverage.months", "months_out_of_range")}
    for secret in (body["nik"], "12-34", "Rahasia", "RAHASIA"):
        assert secret not in response.text
    assert not_object.status_code == 422
    assert await enrolment.count_rows(registrations.c.registration_id == body["registration_id"]) == 0
    assert await enrolment.count_events(body["registration_id"]) == 0
