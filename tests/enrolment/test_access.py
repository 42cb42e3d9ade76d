"""Region scoping and scopes: a key acts only in its regions and never learns whether a record exists elsewhere."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from services.enrolment.app import FIELD_KIT
from shared import regions
from tests.enrolment.sample import item


async def test_reads_show_only_records_in_the_keys_regions_and_403_hides_existence(enrolment):
    body = item(regency="36.72")
    async with enrolment.client("cilegon_kit") as kit:
        assert (await kit.post("/v1/registrations", json=body)).status_code == 201
        write_only_read = await kit.get(f"/v1/registrations/{body['registration_id']}")
        outside_write = await kit.post("/v1/registrations", json=item(regency="36.71"))
    async with enrolment.client("jabar_reader") as other:
        existing = await other.get(f"/v1/registrations/{body['registration_id']}")
        unknown = await other.get(f"/v1/registrations/{uuid.uuid4()}")
        malformed = await other.get("/v1/registrations/not-a-uuid")
        write = await other.post("/v1/registrations", json=item(regency="32.73"))
        listing = await other.get("/v1/registrations", params={"region": "36"})
    async with enrolment.client("national") as national:
        national_unknown = await national.get(f"/v1/registrations/{uuid.uuid4()}")
    async with enrolment.client("banten") as banten:
        own = await banten.get(f"/v1/registrations/{body['registration_id']}")
    async with enrolment.client(None) as anonymous:
        no_key = await anonymous.get(f"/v1/registrations/{body['registration_id']}")

    assert write_only_read.status_code == 403 and write_only_read.json()["errors"][0]["code"] == "missing_scope"
    assert outside_write.status_code == 403 and outside_write.json()["errors"][0]["code"] == "outside_region"
    assert existing.status_code == unknown.status_code == malformed.status_code == 403
    assert existing.json() == unknown.json() == malformed.json()
    assert write.status_code == 403 and write.json()["errors"][0]["code"] == "missing_scope"
    assert listing.status_code == 403
    assert national_unknown.status_code == 404
    assert no_key.status_code == 401
    assert own.status_code == 200 and own.json()["worker"]["nik"] == body["nik"]


async def test_listing_filters_pages_with_a_cursor_and_stays_inside_the_keys_regions(enrolment):
    # Regencies no other test uses, so the counts here are this test's own.
    banten_items = [item(regency="36.01", category="petani" if i % 2 else "nelayan") for i in range(5)]
    jabar_items = [item(regency="32.01") for _ in range(2)]
    async with enrolment.client("national") as national:
        response = await national.post("/v1/registrations/batch", json={"items": banten_items + jabar_items})
        assert response.json()["counts"]["accepted"] == 7
    async with enrolment.client("banten") as banten:
        seen, cursor = [], None
        while True:
            params = {"region": "36.01", "limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await banten.get("/v1/registrations", params=params)).json()
            assert len(page["items"]) <= 2
            seen += [r["registration_id"] for r in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        fishers = (await banten.get("/v1/registrations", params={"region": "36.01", "category": "Nelayan"})).json()
        everything = (await banten.get("/v1/registrations", params={"limit": 1000})).json()["items"]
        later = datetime.now(UTC) + timedelta(days=400)
        none_since = (await banten.get("/v1/registrations", params={"updated_since": later.isoformat()})).json()
        bad_cursor = await banten.get("/v1/registrations", params={"cursor": "bm90IGEgY3Vyc29y"})
        bad_category = await banten.get("/v1/registrations", params={"category": "astronaut"})
        pending = (await banten.get("/v1/registrations", params={"region": "36.01", "status": "active"})).json()
    assert sorted(seen) == sorted(b["registration_id"] for b in banten_items) and len(seen) == 5
    assert {r["category"] for r in fishers["items"]} == {"fisher"} and len(fishers["items"]) == 3
    assert all(r["province_code"] == "36" for r in everything)
    assert not {b["registration_id"] for b in jabar_items} & {r["registration_id"] for r in everything}
    assert none_since["items"] == [] and pending["items"] == []
    assert bad_cursor.status_code == 422 and bad_category.status_code == 422
    assert bad_cursor.json()["errors"][0]["field"] == "cursor"


def _encoded(fields: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def _edited(cursor: str, index: int, value: str) -> str:
    fields = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    fields[index] = value
    return _encoded(fields)


async def test_a_cursor_belongs_to_its_mode_and_filters(enrolment):
    # A regency no other test uses.
    async with enrolment.client("national") as national:
        response = await national.post("/v1/registrations/batch", json={"items": [item(regency="36.02")
                                                                                 for _ in range(3)]})
        assert response.json()["counts"]["accepted"] == 3
    listing = {"region": "36.02", "limit": 1}
    feed = listing | {"updated_since": "2000-01-01T00:00:00+07:00"}
    async with enrolment.client("banten") as banten:
        listing_cursor = (await banten.get("/v1/registrations", params=listing)).json()["next_cursor"]
        feed_cursor = (await banten.get("/v1/registrations", params=feed)).json()["next_cursor"]
        answers = {
            "listing cursor in the feed": await banten.get("/v1/registrations",
                                                           params=feed | {"cursor": listing_cursor}),
            "feed cursor in the listing": await banten.get("/v1/registrations",
                                                           params=listing | {"cursor": feed_cursor}),
            "another region": await banten.get("/v1/registrations",
                                               params=listing | {"region": "36", "cursor": listing_cursor}),
            "another updated_since": await banten.get("/v1/registrations", params=feed | {
                "updated_since": "2001-01-01T00:00:00+07:00", "cursor": feed_cursor}),
            "an edited position": await banten.get("/v1/registrations", params=listing | {
                "cursor": _edited(listing_cursor, 2, str(uuid.UUID(int=0)))}),
            # Before listing and change feed were told apart, a cursor was [updated_at, registration_id].
            "an earlier release's cursor": await banten.get("/v1/registrations", params=listing | {
                "cursor": _encoded(["2025-03-08T03:15:00+00:00", str(uuid.uuid4())])}),
        } | {
            f"garbage {n}": await banten.get("/v1/registrations", params=listing | {"cursor": _encoded(garbage)})
            for n, garbage in enumerate([[["listing"], "2025-03-08T03:15:00+00:00", str(uuid.uuid4()), "0"],
                                         ["listing", "2025-03-08T03:15:00+00:00", 5, "0"], {"a": 1}, "abcd"])
        }
        same_filters = await banten.get("/v1/registrations", params=listing | {"cursor": listing_cursor})
        same_instant = await banten.get("/v1/registrations", params=feed | {
            "updated_since": "1999-12-31T17:00:00Z", "cursor": feed_cursor})
        category_alias = await banten.get("/v1/registrations", params=listing | {"category": "kader posyandu"})
        alias_cursor = category_alias.json()["next_cursor"]
        by_code = await banten.get("/v1/registrations", params=listing | {"category": "posyandu_cadre",
                                                                           "cursor": alias_cursor})
    codes = {what: (a.status_code, [(e["field"], e["code"]) for e in a.json()["errors"]])
             for what, a in answers.items()}
    assert codes == {
        "listing cursor in the feed": (422, [("cursor", "cursor_mode_mismatch")]),
        "feed cursor in the listing": (422, [("cursor", "cursor_mode_mismatch")]),
        "another region": (422, [("cursor", "invalid_cursor")]),
        "another updated_since": (422, [("cursor", "invalid_cursor")]),
        "an edited position": (422, [("cursor", "invalid_cursor")]),
        "an earlier release's cursor": (422, [("cursor", "invalid_cursor")]),
    } | {f"garbage {n}": (422, [("cursor", "invalid_cursor")]) for n in range(4)}
    assert same_filters.status_code == 200 and len(same_filters.json()["items"]) == 1
    assert same_instant.status_code == 200, "updated_since is compared as an instant, however it is written"
    assert by_code.status_code == 200, "a category's alias and code are the same filter"


async def test_the_openapi_document_tells_the_listing_from_the_change_feed(enrolment):
    async with enrolment.client(None) as client:
        document = (await client.get("/openapi.json")).json()
    listing = document["paths"]["/v1/registrations"]["get"]
    parameters = {p["name"]: p.get("description", "") for p in listing["parameters"]}
    assert "**Listing**" in listing["description"] and "**Change feed**" in listing["description"]
    assert "change feed" in parameters["updated_since"] and "listing" in parameters["updated_since"]
    assert "same filters" in parameters["cursor"]


async def test_regions_reference_list(enrolment):
    async with enrolment.client("cilegon_kit") as client:
        everything = (await client.get("/v1/regions")).json()
        banten = (await client.get("/v1/regions", params={"province": "36", "districts_of": "36.72"})).json()
        unknown = await client.get("/v1/regions", params={"province": "99"})
    async with enrolment.client(None) as anonymous:
        assert (await anonymous.get("/v1/regions")).status_code == 401
    assert len(everything["provinces"]) == 38 and len(everything["regencies"]) == 514
    assert {"code": "36.72", "name": "Kota Cilegon", "kind": "kota", "province_code": "36"} in banten["regencies"]
    assert {r["province_code"] for r in banten["regencies"]} == {"36"}
    assert {"code": "36.72.01", "name": "Cibeber", "kind": "kecamatan", "province_code": "36"} in banten["districts"]
    assert unknown.status_code == 404


async def test_the_openapi_document_describes_the_bodies_with_examples(enrolment):
    async with enrolment.client(None) as client:
        document = (await client.get("/openapi.json")).json()
    post = document["paths"]["/v1/registrations"]["post"]
    body = post["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"] == "#/components/schemas/RegistrationRequest"
    assert body["examples"]["field kit"]["value"]["nik"].replace(" ", "").isdigit()
    schemas = document["components"]["schemas"]
    assert {"RegistrationRequest", "CoverageRequest", "BatchRequest", "BatchResponse"} <= set(schemas)
    assert "nik" in schemas["RegistrationRequest"]["required"]
    assert document["paths"]["/v1/registrations/batch"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["$ref"] == "#/components/schemas/BatchRequest"
    items = schemas["BatchRequest"]["properties"]["items"]["items"]
    assert items == {"$ref": "#/components/schemas/RegistrationRequest"}


async def test_the_openapi_document_declares_what_the_intake_enforces(enrolment):
    """The request models are the contract: what they refuse by structure, the document says (schema fuzzing with
    positive data found an empty category and an empty category filter refused while the schema allowed them)."""
    async with enrolment.client(None) as client:
        document = (await client.get("/openapi.json")).json()
    request = document["components"]["schemas"]["RegistrationRequest"]["properties"]
    assert request["category"]["minLength"] == 1 and request["full_name"]["minLength"] == 1
    assert request["regency_code"]["pattern"] == r"^\d{2}\.\d{2}$"
    assert request["channel"]["enum"] == ["partner_app", "field_kit"]
    assert document["components"]["schemas"]["CoverageRequest"]["properties"]["months"]["maximum"] == 12
    listing = {p["name"]: p["schema"] for p in document["paths"]["/v1/registrations"]["get"]["parameters"]}
    assert listing["category"]["anyOf"][0]["minLength"] == 1
    # Where reference data decides, a body valid by the schema may still be refused: the 422 says so.
    assert "reference data" in document["paths"]["/v1/registrations"]["post"]["responses"]["422"]["description"]
    async with enrolment.client("banten") as banten:
        empty = await banten.get("/v1/registrations", params={"category": ""})
        timestamp = await banten.get("/v1/registrations", params={"updated_since": "0.5"})
    assert (empty.status_code, empty.json()["errors"][0]["field"]) == (422, "category")
    # A number is not an ISO 8601 date-time, whatever a parser could make of it (found by schema fuzzing).
    assert (timestamp.status_code, timestamp.json()["errors"][0]) == (422, {
        "field": "updated_since", "code": "invalid_datetime",
        "message": "Give an ISO 8601 date-time, such as 2025-03-01T08:00:00+07:00."})


async def test_the_field_kits_reference_data_is_the_keys_own(enrolment):
    async with enrolment.client("cilegon_kit") as client:
        cilegon = await client.get("/v1/reference")
    async with enrolment.client("jabar_reader") as client:  # a reading key gets it too
        jabar = (await client.get("/v1/reference")).json()
    async with enrolment.client("national") as client:
        national = (await client.get("/v1/reference")).json()
    async with enrolment.client(None) as anonymous:
        assert (await anonymous.get("/v1/reference")).status_code == 401
    assert cilegon.status_code == 200
    # Gzipped for phones on weak signal: some 60 kB instead of 350.
    assert cilegon.headers["content-encoding"] == "gzip" and int(cilegon.headers["content-length"]) < 100_000
    body = cilegon.json()
    assert body["key"]["regions"] == ["36.72"] and body["key"]["may_read"] is False
    assert body["today"] == "2025-03-10"  # the service's clock, from which the kit counts the intake window
    assert body["rules"]["min_age"] == 18 and body["rules"]["max_age"] == 65 and body["rules"]["backdate_months"] == 2
    assert [r["code"] for r in body["regencies"]] == ["36.72"]
    assert {"code": "36.72.01", "name": "Cibeber"} in body["districts"]
    assert {d["code"][:5] for d in body["districts"]} == {v["code"][:5] for v in body["villages"]} == {"36.72"}
    assert len(body["villages"]) == sum(len(regions.villages_of(d["code"])) for d in body["districts"])
    # A NIK may have been issued anywhere: every district of the nation, for the kit's NIK check.
    assert len(body["nik_districts"]) == len(jabar["nik_districts"]) > 7000
    assert body["nik_districts"]["32.73.01"].endswith("Kota Bandung")
    assert "posyandu_cadre" in {c["code"] for c in body["categories"]}
    assert {r["code"][:2] for r in jabar["regencies"]} == {"32"} and jabar["key"]["may_read"] is True
    assert len(national["regencies"]) == 514 and national["villages"] == []


async def test_the_field_kit_is_served_at_kit(enrolment):
    async with enrolment.client(None) as client:
        page = await client.get("/kit/")
        worker = await client.get("/kit/sw.js")
        manifest = await client.get("/kit/manifest.webmanifest")
    assert page.status_code == 200 and "/kit/app.js" in page.text and 'lang="id"' in page.text
    assert worker.status_code == 200 and "/kit/index.html" in worker.text  # the precached shell
    assert manifest.status_code == 200 and '"start_url": "/kit/"' in manifest.text
    # Everything the page loads is the kit's own, from this origin; the worker imports nothing from elsewhere.
    assert set(re.findall(r'(?:src|href)="(/?[^/"]*)', page.text)) == {"/kit"}
    assert "importScripts" not in (FIELD_KIT / "sw.js").read_text()
    # The service worker precaches each shell file under a hash of its content, so phones take a new build: the
    # hashes must be those of the files as committed (a file edited by hand, or built alone, would not reach them).
    precached = dict(re.findall(r'url: "/kit/([^"]+)", revision: "([0-9a-f]+)"', worker.text))
    assert set(precached) == {"index.html", "app.js", "kit.css", "manifest.webmanifest", "icon.svg"}
    for name, revision in precached.items():
        assert hashlib.sha256((FIELD_KIT / name).read_bytes()).hexdigest()[:16] == revision, name
