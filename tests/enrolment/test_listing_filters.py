"""The listing's district, village and search filters (the office's Members page uses them): each narrows the
listing, a searched NIK must be whole, a name matches in any case, and the cursor keeps them."""

from __future__ import annotations

import uuid

from tests.enrolment.sample import item

DISTRICT, VILLAGE = "36.72.01", "36.72.01.1001"


async def _listed(http, **params) -> list[str]:
    response = await http.get("/v1/registrations", params={"region": "36.72", **params})
    assert response.status_code == 200, response.text
    return [r["registration_id"] for r in response.json()["items"]]


async def test_district_village_and_search_narrow_the_listing(enrolment):
    # The module's service is shared: a name no other test uses (letters only, as names are).
    marker = "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:8])
    first = item(full_name=f"Wulan Filter {marker}", district_code=DISTRICT, village_code=VILLAGE)
    second = item(full_name=f"Joko Filter {marker}", district_code="36.72.02")
    async with enrolment.client() as http:
        for body in (first, second):
            assert (await http.post("/v1/registrations", json=body)).status_code == 201
        ids = {first["registration_id"], second["registration_id"]}

        by_name = await _listed(http, search=f"filter {marker}")
        assert set(by_name) == ids, "part of a name, any case"
        assert await _listed(http, search=f"wulan filter {marker}") == [first["registration_id"]]
        assert await _listed(http, search=second["nik"]) == [second["registration_id"]]
        assert await _listed(http, search=second["nik"][:12]) == [], "a NIK is matched whole only"
        assert first["registration_id"] in await _listed(http, district=DISTRICT)
        assert second["registration_id"] not in await _listed(http, district=DISTRICT)
        assert first["registration_id"] in await _listed(http, village=VILLAGE)
        assert second["registration_id"] not in await _listed(http, village=VILLAGE, search=f"filter {marker}")
        assert (await http.get("/v1/registrations", params={"district": "36.72"})).status_code == 422

        # An apostrophe as a spreadsheet types it (’) is found as typed on a keyboard, or left out, or as a space.
        typographic = item(full_name=f"Ma\u2019ruf O'Brien {marker}")
        assert (await http.post("/v1/registrations", json=typographic)).status_code == 201
        for typed in (f"ma'ruf o'brien {marker}", f"MARUF OBRIEN {marker}", f"ma ruf o brien {marker}",
                      f"ma\u2019ruf o\u2019brien {marker}"):
            assert await _listed(http, search=typed) == [typographic["registration_id"]], typed
        assert await _listed(http, search=f"ma'ruf filter {marker}") == []

        # The cursor carries the filters: the next page keeps them, and other filters refuse it.
        page = (await http.get("/v1/registrations", params={"search": f"filter {marker}", "limit": 1})).json()
        assert page["next_cursor"]
        following = await http.get("/v1/registrations", params={"search": f"filter {marker}", "limit": 1,
                                                                 "cursor": page["next_cursor"]})
        assert following.status_code == 200
        assert {page["items"][0]["registration_id"], following.json()["items"][0]["registration_id"]} == ids
        other = await http.get("/v1/registrations", params={"search": "someone else", "limit": 1,
                                                             "cursor": page["next_cursor"]})
        assert other.status_code == 422
