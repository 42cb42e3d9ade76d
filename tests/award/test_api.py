"""The award API on a real broker: definitions, scoped admin records, rankings with ties, the live stream and the
compacted award.indicators topic. Tests share the session broker and keep apart by region (each its own province)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.award.app import create_app
from services.award.domain import ROLL_UP_INTERVALS, parse_config
from shared.access import AccessStore
from shared.access.keys import key_id_of
from shared.events import parse_event
from shared.topics import INDICATORS
from tests.award.factory import Worker, allocation, at, envelope, publish
from tests.support import caught_up, eventually, serving

# The session broker is shared by both backends' runs of a test, so each backend keeps to regions of its own.
AREAS = {
    "sqlite": {"kota": "36.73", "kota_name": "Kota Serang", "province": "32", "ranked": ("32.01", "32.02", "32.03"),
               "live": "33.74", "live_name": "Kota Semarang", "scoped": ("51.71", "52.71")},
    "postgresql": {"kota": "36.74", "kota_name": "Kota Tangerang Selatan", "province": "35",
                   "ranked": ("35.01", "35.02", "35.03"), "live": "34.71", "live_name": "Kota Yogyakarta",
               "scoped": ("61.71", "63.71")},
}


async def issue_key(settings, scopes: list[str], regions: list[str]) -> str:
    store = AccessStore.from_url(settings.access_database_url)
    try:
        await store.database.migrate()
        return (await store.create("test", "staff", scopes, regions)).secret
    finally:
        await store.database.dispose()


class SseReader:
    """Reads a text/event-stream into (event, id, data) tuples and counts heartbeat comments."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        self.heartbeats = 0

    async def next(self, timeout: float = 10.0) -> tuple[str, str | None, dict]:
        event, event_id, data = "message", None, []
        async with asyncio.timeout(timeout):
            async for line in self.lines:
                if line.startswith(":"):
                    self.heartbeats += 1
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    return event, event_id, json.loads("\n".join(data))
        raise EOFError("stream closed")


async def test_definitions_load_from_config_and_are_served(broker, award_settings):
    settings = await award_settings(broker)
    async with serving(create_app, settings) as award, award.client() as client:
        body = (await client.get("/v1/indicators/definitions")).json()
    ids = [d["id"] for d in body["indicators"]]
    assert ids == ["coverage_rate", "growth_30d", "category_breadth", "budget_effort", "budget_utilisation",
                   "denial_rate", "retention", "regulation", "innovation", "waiting", "retention_across_years"]
    coverage = body["indicators"][0]
    assert {k: coverage[k] for k in ("numerator", "denominator", "factor", "unit")} == \
        {"numerator": "active", "denominator": "target", "factor": 100, "unit": "%"}
    assert abs(sum(body["weights"].values()) - 1) < 1e-9 and "Unofficial" in body["weights_note"]
    assert body["regulation_points"]["perda"] > body["regulation_points"]["perkada"]


AWARD_PATHS = ("/v1/indicators", "/v1/rankings", "/v1/regions", "/v1/stream")


async def test_the_openapi_document_describes_every_answer_of_the_award_routes(broker, award_settings):
    """Every JSON route documents its body's schema, and any with parameters its 422 in the common error shape; the
    stream documents text/event-stream."""
    document = create_app(await award_settings(broker)).openapi()
    operations = {(path, method): operation for path, item in document["paths"].items()
                  if path.startswith(AWARD_PATHS) for method, operation in item.items()}
    assert len(operations) == 8
    for (path, method), operation in operations.items():
        answers = operation["responses"]
        success = answers["201" if method == "post" else "200"]["content"]
        if path == "/v1/stream":
            assert list(success) == ["text/event-stream"]
        else:
            assert list(success) == ["application/json"]
            assert success["application/json"]["schema"]["$ref"].startswith("#/components/schemas/"), (path, method)
        if operation.get("parameters") or "requestBody" in operation:
            assert answers["422"]["content"]["application/json"]["schema"] == \
                {"$ref": "#/components/schemas/ErrorBody"}, (path, method)


async def test_options_on_a_path_lists_every_method_it_answers(broker, award_settings):
    app = create_app(await award_settings(broker))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://award") as client:
        response = await client.options("/v1/regions/36.72/innovations")
    assert response.status_code == 405 and response.headers["allow"] == "GET, POST"


async def test_bodies_take_the_json_types_the_schema_declares(broker, backend, award_settings):
    """Pydantic alone would take true as a point, "2030" as a year and 0 as a date (1 January 1970); the schema
    says integers and date text. And a stored timestamp reads back as the UTC instant it was written, zone included,
    on SQLite too."""
    kota = {"sqlite": "36.03", "postgresql": "36.04"}[backend]
    settings = await award_settings(broker)
    admin = await issue_key(settings, ["admin"], ["36"])
    innovation = {"fiscal_year": 2030, "title": "Jemput bola", "note": "Keliling", "points": 4}
    async with serving(create_app, settings) as award, award.client(admin) as client:
        for change, field in (({"points": True}, "points"), ({"fiscal_year": "2030"}, "fiscal_year")):
            refused = await client.post(f"/v1/regions/{kota}/innovations", json=innovation | change)
            assert refused.status_code == 422 and refused.json()["errors"] == [
                {"field": field, "code": "int_type", "message": "Input should be a valid integer"}]
        undated = await client.put(f"/v1/regions/{kota}/regulation", json={"status": "none", "enacted_on": 0})
        assert undated.status_code == 422 and undated.json()["errors"][0]["field"] == "enacted_on"
        # A NUL pasted into a note is the caller's mistake, named as such, not a 500 from PostgreSQL's text type.
        for change, field in (({"note": "Keliling\x00desa"}, "note"), ({"title": "Jemput\x07bola"}, "title")):
            refused = await client.post(f"/v1/regions/{kota}/innovations", json=innovation | change)
            assert refused.status_code == 422 and refused.json()["errors"] == [
                {"field": field, "code": "control_character", "message": "Text should not contain control characters"}]
        multiline = await client.post(f"/v1/regions/{kota}/innovations",
                                      json=innovation | {"fiscal_year": 2031, "note": "Baris satu\r\n\tbaris dua"})
        assert multiline.status_code == 201, multiline.text

        created = await client.post(f"/v1/regions/{kota}/innovations", json=innovation | {"fiscal_year": 2030.0})
        assert created.status_code == 201 and created.json()["fiscal_year"] == 2030
        listed = (await client.get(f"/v1/regions/{kota}/innovations", params={"year": 2030})).json()["innovations"]
    assert listed == [created.json()] and created.json()["created_at"].endswith("Z")


@pytest.mark.parametrize("change, message", [
    ({"numerator": "active + nik"}, "unknown count 'nik'"),
    ({"denominator": "__import__('os')"}, r"only \+ - \* /"),
    ({"normalise": {"worst": 1, "best": 1}}, "must differ"),
])
def test_a_bad_indicator_definition_is_refused_with_the_reason(change, message):
    document = {"indicators": [{"id": "x", "name": "X", "numerator": "active", "denominator": "target", "factor": 100,
                                "unit": "%", "description": "d", "normalise": {"worst": 0, "best": 100}} | change],
                "regulation_points": {"none": 0, "in_preparation": 1, "perkada": 2, "perda": 3},
                "weights": {"x": 1.0}}
    with pytest.raises(ValueError, match=message):
        parse_config(document)


async def test_admin_records_are_scoped_to_the_keys_regions_and_change_the_indicators(broker, backend, award_settings,
                                                                                      producer_for):
    kota = AREAS[backend]["kota"]
    settings = await award_settings(broker)
    banten_admin = await issue_key(settings, ["admin"], ["36"])
    national_writer = await issue_key(settings, ["registrations:write"], ["*"])
    producer = await producer_for(settings)
    await publish(producer, [envelope(Worker(kota).granted(at(10))) for _ in range(3)])
    target = {"fiscal_year": 2025, "target_population": 12, "source": "Disnaker survey 2024"}
    async with serving(create_app, settings) as award, award.client(banten_admin) as admin:
        async with award.client() as anonymous, award.client(national_writer) as writer:
            assert (await anonymous.put(f"/v1/regions/{kota}/target", json=target)).status_code == 401
            assert (await writer.put(f"/v1/regions/{kota}/target", json=target)).status_code == 403
        outside = await admin.put("/v1/regions/32.75/target", json=target)
        assert outside.status_code == 403 and outside.json()["errors"][0]["code"] == "outside_region"
        assert (await admin.put("/v1/regions/36.99/target", json=target)).status_code == 404
        bad = await admin.put(f"/v1/regions/{kota}/target", json=target | {"target_population": 0})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "target_population"
        huge = await admin.put(f"/v1/regions/{kota}/target", json=target | {"target_population": 170_581_061_269})
        assert huge.status_code == 422 and huge.json()["errors"][0]["field"] == "target_population"

        assert (await admin.put(f"/v1/regions/{kota}/target", json=target)).status_code == 200
        # A kota's Perkada is a Perwali.
        wrong = await admin.put(f"/v1/regions/{kota}/regulation",
                                json={"status": "perkada", "instrument": "perbup", "reference": "No. 1",
                                      "enacted_on": "2024-02-01"})
        assert wrong.status_code == 422 and wrong.json()["errors"][0] == {
            "field": "instrument", "code": "wrong_instrument", "message": "This region's Perkada is a perwali."}
        undated = await admin.put(f"/v1/regions/{kota}/regulation", json={"status": "perda", "reference": "No. 3"})
        assert undated.status_code == 422 and undated.json()["errors"][0]["field"] == "enacted_on"
        assert (await admin.put(f"/v1/regions/{kota}/regulation", json={"status": "in_preparation"})).status_code == 200
        perda = {"status": "perda", "reference": f"Perda {AREAS[backend]['kota_name']} No. 3 Tahun 2024",
                 "enacted_on": "2024-06-01"}
        assert (await admin.put(f"/v1/regions/{kota}/regulation", json=perda)).status_code == 200
        created = await admin.post(f"/v1/regions/{kota}/innovations",
                                   json={"fiscal_year": 2025, "title": "Jemput bola di pasar", "note": "Keliling",
                                         "points": 4})
        assert created.status_code == 201 and created.json()["awarded_by"] == "test"

        async def recorded() -> dict | None:
            response = await admin.get(f"/v1/indicators/{kota}", params={"year": 2025})
            body = response.json() if response.status_code == 200 else {}
            return body if body.get("counts", {}).get("active") == 3 else None

        body = await eventually(recorded)
        assert body["values"]["coverage_rate"] == 25.0
        assert body["values"]["regulation"] == 100.0 and body["values"]["innovation"] == 4.0
        assert body["target"]["source"] == "Disnaker survey 2024"
        assert body["regulation"]["reference"] == perda["reference"]
        listed = (await admin.get(f"/v1/regions/{kota}/innovations", params={"year": 2025})).json()["innovations"]
        assert [i["points"] for i in listed] == [4]

        # Each record is the admin key's action, with what it replaced; refusals left nothing.
        trail = (await admin.get("/v1/audit/key-actions", params={"region_code": kota})).json()
        trail["items"] = [e for e in trail["items"] if e["key_id"] == key_id_of(banten_admin)]  # not other tests'
        assert [(e["action"], e["key_name"], e["region_code"]) for e in trail["items"]] == [
            ("target_recorded", "test", kota), ("regulation_recorded", "test", kota),
            ("regulation_recorded", "test", kota), ("innovation_recorded", "test", kota)]
        target_entry, preparing, enacted, innovation = trail["items"]
        assert target_entry["before"] is None and target_entry["after"]["target_population"] == 12
        assert target_entry["ip"] == "127.0.0.1"
        assert enacted["before"]["status"] == "in_preparation" and enacted["after"]["reference"] == perda["reference"]
        assert innovation["after"] == {"fiscal_year": 2025, "title": "Jemput bola di pasar", "points": 4}
        async with award.client(national_writer) as writer:
            assert (await writer.get("/v1/audit/key-actions")).status_code == 403
        assert (await admin.get("/v1/audit/key-actions", params={"region_code": "32.75"})).status_code == 403


async def test_rankings_order_ties_deterministically(broker, backend, award_settings, producer_for):
    """The first regency leads; the other two have the same data, published in the opposite order to their codes,
    and tie: the lower region code ranks first."""
    first, second, third = AREAS[backend]["ranked"]
    province = AREAS[backend]["province"]
    settings = await award_settings(broker)
    producer = await producer_for(settings)
    events = []
    for regency, members in ((third, 2), (second, 2), (first, 5)):
        events += [envelope(Worker(regency, category="fisher").granted(at(10))) for _ in range(members)]
        events.append(envelope(allocation(regency, 10_000_000, at(2, 1))))
    await publish(producer, events)
    async with serving(create_app, settings) as award, award.client() as client:
        async def ranking() -> list | None:
            body = (await client.get("/v1/rankings", params={"level": "regency", "province": province,
                                                             "year": 2025})).json()
            regions = [r for r in body["regions"] if r["region_code"] in (first, second, third)]
            return regions if sum(r["counts"]["active"] for r in regions) == 9 else None

        regions = await eventually(ranking)
        assert [(r["rank"], r["region_code"]) for r in regions] == [(1, first), (2, second), (3, third)]
        assert regions[1]["score"] == regions[2]["score"] < regions[0]["score"]
        assert regions[0]["contributions"]["budget_utilisation"] > regions[1]["contributions"]["budget_utilisation"]
        assert sum(regions[0]["contributions"].values()) == pytest.approx(regions[0]["score"], abs=1e-3)
        provinces = (await client.get("/v1/rankings", params={"level": "province", "year": 2025})).json()
        assert province in [r["region_code"] for r in provinces["regions"]]
        assert (await client.get("/v1/rankings", params={"level": "province", "province": province})).status_code == 422


async def test_a_province_stream_opens_with_the_nation_as_the_filter_keeps_it(broker, backend, award_settings,
                                                                               producer_for):
    here, elsewhere = AREAS[backend]["scoped"]
    province = here[:2]
    settings = await award_settings(broker)
    producer = await producer_for(settings)
    await publish(producer, [envelope(Worker(here).granted(at(3))),
                             *(envelope(Worker(elsewhere).granted(at(4))) for _ in range(2))])
    async with serving(create_app, settings) as award, award.client() as client:
        await eventually(lambda: caught_up(award.runtime.consumers), timeout=30)
        nation = (await client.get("/v1/indicators/ID", params={"year": 2025})).json()
        async with client.stream("GET", "/v1/stream", params={"province": province}) as response:
            event, _, snapshot = await SseReader(response).next()
    assert event == "snapshot" and snapshot["province"] == province
    regions = {r["region_code"]: r for r in snapshot["regions"]}
    assert {province, here, "ID"} <= set(regions)
    assert all(code == "ID" or code[:2] == province for code in regions)
    # The nation of the whole country, as /v1/indicators/ID has it, not one made of the province's regions alone.
    assert regions["ID"]["level"] == "national" and regions["ID"]["name"] == "Indonesia"
    assert {k: regions["ID"][k] for k in ("counts", "values", "score")} == \
        {k: nation[k] for k in ("counts", "values", "score")}
    assert regions["ID"]["counts"]["active"] >= regions[province]["counts"]["active"] + 2


async def test_a_grant_reaches_the_stream_within_a_second_and_the_compacted_topic(broker, backend, award_settings,
                                                                                 producer_for):
    live = AREAS[backend]["live"]
    province = live[:2]
    settings = await award_settings(broker, award_stream_heartbeat_seconds=0.3)
    producer = await producer_for(settings)
    worker = Worker(live, category="small_trader")
    await publish(producer, [envelope(Worker(live).granted(at(3)))])
    async with serving(create_app, settings) as award, award.client() as client:
        await eventually(lambda: award.app.state.runtime.workers[1].ready.is_set())
        async with client.stream("GET", "/v1/stream", params={"province": province}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            reader = SseReader(response)
            event, _, snapshot = await reader.next()
            assert event == "snapshot" and snapshot["province"] == province
            assert {r["region_code"] for r in snapshot["regions"]} <= {province, live, "ID"}

            async def first_member_counted() -> bool:
                body = (await client.get(f"/v1/indicators/{live}", params={"year": 2025})).json()
                return body.get("counts", {}).get("active") == 1

            await eventually(first_member_counted)
            while True:  # drain the update the first member caused
                event, _, update = await reader.next()
                if update.get("region_code") == live and update["counts"]["active"] == 1:
                    break
            await asyncio.sleep(1.1)  # past the coalescing window, as a quiet region is

            sent = time.monotonic()
            await publish(producer, [envelope(worker.granted(at(20)))])
            while True:
                event, event_id, update = await reader.next(timeout=5)
                if event == "indicators" and update["region_code"] == live and update["counts"]["active"] == 2:
                    break
            latency = time.monotonic() - sent
            assert latency < 1.0, f"the grant reached the stream after {latency:.2f}s"
            assert update["counts"]["cat:small_trader"] == 1 and update["fiscal_year"] == 2025 and event_id
            assert update["name"] == AREAS[backend]["live_name"]  # a region first seen on the stream has its name
            await asyncio.sleep(0.7)
            assert reader.heartbeats >= 1

        # A reconnecting client (Last-Event-ID) starts with a fresh snapshot holding the latest numbers.
        async with client.stream("GET", "/v1/stream", params={"province": province},
                                 headers={"Last-Event-ID": event_id}) as response:
            event, _, snapshot = await SseReader(response).next()
            assert event == "snapshot" and snapshot["resumed_after"] == event_id
            regency = next(r for r in snapshot["regions"] if r["region_code"] == live)
            assert regency["counts"]["active"] == 2 and regency["name"] == AREAS[backend]["live_name"]

        # A burst in one region is coalesced: at most one update per interval for the regency, and one per two
        # intervals for its province, which adds up all its regencies.
        burst = [envelope(Worker(live).granted(at(21))) for _ in range(60)]
        async with client.stream("GET", "/v1/stream", params={"province": province}) as response:
            reader = SseReader(response)
            await reader.next()
            started = time.monotonic()
            for start in range(0, 60, 10):
                await publish(producer, burst[start:start + 10])
                await asyncio.sleep(0.1)
            updates, province_updates = [], []
            while not updates or updates[-1]["counts"]["active"] < 62 or \
                    not province_updates or province_updates[-1]["counts"]["active"] < 62:
                event, _, update = await reader.next(timeout=5)
                if event == "indicators" and update["region_code"] == live:
                    updates.append(update)
                elif event == "indicators" and update["region_code"] == province:
                    province_updates.append(update)
            elapsed = time.monotonic() - started
            interval = settings.award_publish_interval_seconds
            assert len(updates) <= elapsed / interval + 1, (len(updates), elapsed)
            assert len(province_updates) <= elapsed / (ROLL_UP_INTERVALS * interval) + 1, (len(province_updates),
                                                                                            elapsed)

        # Each published update also replaces the day's snapshot, the history the region's charts draw.
        async def snapshot_caught_up() -> list | None:
            body = (await client.get(f"/v1/indicators/{live}", params={"year": 2025})).json()
            snapshots = body["history"]["snapshots"]
            return snapshots if snapshots and snapshots[-1]["score"] == updates[-1]["score"] else None

        snapshots = await eventually(snapshot_caught_up)
        assert len(snapshots) == 1 and snapshots[0]["values"] == updates[-1]["values"]

    consumer = AIOKafkaConsumer(INDICATORS.name, bootstrap_servers=settings.bootstrap_servers,
                                group_id=f"t-{uuid.uuid4()}", auto_offset_reset="earliest")
    await consumer.start()
    try:
        latest = {}
        while live not in latest or latest[live].counts["active"] < 62:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 15)
            for messages in batch.values():
                for m in messages:
                    event = parse_event(m.value)
                    if event.data.region_code in (live, province, "ID"):
                        assert m.key.decode() == event.data.region_code
                        latest[m.key.decode()] = event.data
    finally:
        await consumer.stop()
    assert latest[province].level == "province" and latest[province].counts["active"] >= 62
    assert latest["ID"].level == "national"
