"""Abuse: every route of every service walked with keys of another region and keys without the admin scope;
revoked keys; per-key rate limits; keys stored hashed and compared in constant time.

The walk enumerates each app's routes, so a route added later is walked too: it must either answer 403 to a key of
another region or be listed in PUBLIC with the reason it holds nothing regional.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select

from shared.access import keys as access_keys
from shared.access.keys import ApiKey
from tests.enrolment.sample import item
from tests.security.stack import BANTEN, CILEGON, Stack
from tests.support import eventually

# Routes that hold nothing of any one region, with the reason.
PUBLIC = {
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),  # process state; no labels carry regions' data
    ("GET", "/v1/clock"),                                          # the service's time
    ("GET", "/v1/regions"),                                        # the Kemendagri code list, reference data
    ("GET", "/v1/reference"),         # the field kit's: the key's own places, and every district a NIK may name
    ("GET", "/v1/rates"),                                          # premium rates, the same nationwide
    ("GET", "/"),                                                  # the award dashboard's page
    # Award reads are aggregate counts and the Award's published standings: public by design (docs/award.md).
    ("GET", "/v1/indicators/definitions"), ("GET", "/v1/rankings"), ("GET", "/v1/indicators/{region_code}"),
    ("GET", "/v1/stream"), ("GET", "/v1/regions/{region_code}/innovations"),
    # The evidence pack: the same aggregates and records as the reads above, as PDF and XLSX (issue #23).
    ("GET", "/v1/reports/{region_code}/{year}.pdf"), ("GET", "/v1/reports/{region_code}/{year}.xlsx"),
}
# Routes that answer 200 to a key of another region but must leave the other region's data out of the answer.
FILTERED = {("GET", "/v1/registrations"), ("GET", "/v1/invoices/{year}/{month}"),
            ("POST", "/v1/registrations/lookup")}
# The batch route judges each item: an item outside the key's regions is invalid with outside_region.
PER_ITEM = {("POST", "/v1/registrations/batch")}
# Services whose clock may be moved: PUT /v1/clock acts on no region, only the admin scope guards it.
UNREGIONAL_ADMIN = {("PUT", "/v1/clock")}


def routes(stack: Stack, service: str) -> list[tuple[str, str, APIRoute]]:
    found = []
    for context in iter_route_contexts(stack.servers[service].app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            found += [(method, context.path_format, route) for method in sorted(route.methods)]
    return found


def needs_admin(route: APIRoute) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if getattr(dependency.call, "__name__", "") == "require_admin":
            return True
        pending.extend(dependency.dependencies)
    return False


class Banten:
    """Data in Banten (Kota Cilegon) that the other region's keys go after."""

    def __init__(self) -> None:
        self.registration: dict[str, Any] = item(CILEGON)

    @property
    def registration_id(self) -> str:
        return self.registration["registration_id"]

    async def create(self, stack: Stack) -> None:
        async with stack.client("subsidy") as c:
            lines = {"lines": [{"line_id": "apbd-2025", "source": "apbd_kabkota", "amount_rupiah": 16_800 * 1000,
                                "legal_reference": "Perda Kota Cilegon 1/2024"}]}
            assert (await c.put(f"/v1/budgets/{CILEGON}/2025/lines", json=lines)).status_code == 200
        async with stack.client("award") as c:
            target = {"fiscal_year": 2025, "target_population": 5000, "source": "Survei Disnaker 2024"}
            assert (await c.put(f"/v1/regions/{CILEGON}/target", json=target)).status_code == 200
        async with stack.client("enrolment", "banten") as c:
            assert (await c.post("/v1/registrations", json=self.registration)).status_code == 201

        async def settled() -> bool:  # granted, and counted by the award service: nothing moves after this
            async with stack.client("enrolment") as e, stack.client("award") as a:
                status = (await e.get(f"/v1/registrations/{self.registration_id}")).json()["status"]
                return status == "active" and (await a.get(f"/v1/indicators/{CILEGON}?year=2025")).status_code == 200
        await eventually(settled, timeout=30)

    async def state(self, stack: Stack) -> dict[str, Any]:
        """What a national admin sees of it: must not change while other regions' keys try their routes."""
        async with stack.client("enrolment") as e, stack.client("subsidy") as s, stack.client("award") as a:
            registration = (await e.get(f"/v1/registrations/{self.registration_id}")).json()
            budget = (await s.get(f"/v1/budgets/{CILEGON}", params={"year": 2025})).json()
            award = (await a.get(f"/v1/indicators/{CILEGON}", params={"year": 2025})).json()
            innovations = (await a.get(f"/v1/regions/{CILEGON}/innovations", params={"year": 2025})).json()
        budget.pop("projected_exhaustion_month", None)
        return {"status": registration["status"], "ended": registration["ended_at"],
                "lines": budget["lines"], "allocation": budget["allocation_rupiah"],
                "target": award["target"], "regulation": award["regulation"], "innovations": innovations}


def request_for(method: str, path: str, banten: Banten) -> dict[str, Any]:
    """A well-formed request aimed at Banten's data, so nothing but the key's regions can stop it."""
    url = (path.replace("{region_code}", CILEGON).replace("{regency_code}", CILEGON)
           .replace("{registration_id}", banten.registration_id).replace("{year}", "2025").replace("{month}", "3")
           .replace("{import_id}", "1"))
    assert "{" not in url, f"no value for a path parameter of {method} {path}: add it here"
    bpjs_month = {"region": CILEGON, "year": 2025, "month": 3}
    params = {"/v1/budgets": {"province": BANTEN}, "/v1/registrations": {"region": BANTEN},
              "/v1/budgets/{region_code}/{year}/renewal-cost": {"members": 10},
              "/v1/bpjs/member-file": bpjs_month, "/v1/bpjs/member-file/downloads": bpjs_month,
              "/v1/bpjs/results": {"region": CILEGON, "year": 2025},
              "/v1/bpjs/summary": {"region": CILEGON, "year": 2025},
              "/v1/audit/key-actions": {"region_code": CILEGON}}.get(path, {})
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/registrations"): item(CILEGON),
        ("POST", "/v1/registrations/batch"): {"items": [item(CILEGON), item(CILEGON)]},
        ("POST", "/v1/registrations/{registration_id}/end"): {"reason": "moved"},
        ("POST", "/v1/registrations/{registration_id}/replace"): {
            "successor": {k: v for k, v in item(CILEGON).items() if k != "coverage"}},
        ("POST", "/v1/renewals"): {"region_code": CILEGON, "from_year": 2025, "to_year": 2026},
        ("POST", "/v1/registrations/lookup"): {"fiscal_year": 2025, "niks": [banten.registration["nik"]]},
        ("PUT", "/v1/budgets/{region_code}/{year}/lines"): {"lines": [{
            "line_id": "apbd-2025", "source": "apbd_kabkota", "amount_rupiah": 1, "legal_reference": "hostile"}]},
        ("PUT", "/v1/regions/{region_code}/target"): {"fiscal_year": 2025, "target_population": 1,
                                                      "source": "hostile"},
        ("PUT", "/v1/regions/{region_code}/regulation"): {"status": "perda", "reference": "Perda hostile",
                                                          "enacted_on": "2024-01-02"},
        ("POST", "/v1/regions/{region_code}/innovations"): {"fiscal_year": 2025, "title": "hostile", "note": "x",
                                                            "points": 100},
        ("PUT", "/v1/clock"): {"now": "2030-01-01T00:00:00+07:00"},
        ("POST", "/v1/invoices/{year}/{month}/{region_code}/payment"): {
            "paid_on": "2025-04-10", "reference": "SP2D hostile", "amount_rupiah": 1},
        ("POST", "/v1/invoices/{year}/{month}/{region_code}/bill"): {"members": 1, "amount_rupiah": 1},
    }
    request: dict[str, Any] = {"method": method, "url": url, "params": params}
    if method in ("POST", "PUT", "PATCH") and (method, path) in bodies:
        request["json"] = bodies[(method, path)]
    if (method, path) == ("POST", "/v1/bpjs/results"):  # BPJS's answer, as the file itself
        request["content"] = f"NIK;KPJ;Status\n{banten.registration['nik']};25000000001;Terdaftar\n".encode()
        request["headers"] = {"Content-Type": "text/csv"}
    return request


def leaks(body: str, banten: Banten) -> list[str]:
    """Anything of Banten's data in an answer given to another region's key."""
    registration = banten.registration
    needles = [banten.registration_id, registration["nik"], registration["full_name"].upper(), CILEGON,
               "Cilegon", "CILEGON"]
    return [n for n in needles if n in body]


@pytest.fixture(scope="module")
async def banten(stack: Stack) -> Banten:
    data = Banten()
    await data.create(stack)
    return data


@pytest.mark.parametrize("service", ["enrolment", "subsidy", "award"])
async def test_every_route_refuses_keys_of_another_region(stack: Stack, banten: Banten, service: str) -> None:
    before = await banten.state(stack)
    walked = []
    for method, path, route in routes(stack, service):
        if (method, path) in PUBLIC or (method, path) in UNREGIONAL_ADMIN:
            continue
        walked.append((method, path))
        for key in ("jabar", "jabar_admin", "jabar_kit"):
            async with stack.client(service, key) as c:
                response = await c.request(**request_for(method, path, banten))
            where = f"{service} {method} {path} with {key}: {response.status_code} {response.text[:300]}"
            assert response.status_code < 500, where
            assert not leaks(response.text, banten), where
            if (method, path) in FILTERED and response.status_code == 200:
                continue  # the answer holds only the key's own regions: no leak, checked above
            if (method, path) in PER_ITEM and response.status_code == 200:
                results = response.json()["results"]
                assert {r["status"] for r in results} == {"invalid"}, where
                assert {e["code"] for r in results for e in r["errors"]} == {"outside_region"}, where
                continue
            assert response.status_code == 403, where
            code = response.json()["errors"][0]["code"]
            # An admin key of another region has every scope: only its regions can stop it.
            assert code == "outside_region" if key == "jabar_admin" else code in ("outside_region", "missing_scope"), \
                where
    assert walked, f"{service}: no regional route walked"
    assert await banten.state(stack) == before
    async with stack.client("enrolment") as c:  # nothing the walk posted for Cilegon was stored
        listed = (await c.get("/v1/registrations", params={"region": CILEGON})).json()["items"]
    assert [r["registration_id"] for r in listed] == [banten.registration_id]


@pytest.mark.parametrize("service", ["enrolment", "subsidy", "award"])
async def test_admin_routes_need_the_admin_scope(stack: Stack, banten: Banten, service: str) -> None:
    before = await banten.state(stack)
    admin_routes = [(m, p) for m, p, route in routes(stack, service) if needs_admin(route)]
    assert ("PUT", "/v1/clock") in admin_routes
    for method, path in admin_routes:
        for key in ("national_staff", "banten"):  # read+write keys, nationally and in the region itself
            async with stack.client(service, key) as c:
                response = await c.request(**request_for(method, path, banten))
            where = f"{service} {method} {path} with {key}: {response.status_code} {response.text[:300]}"
            assert response.status_code == 403 and response.json()["errors"][0]["code"] == "missing_scope", where
    assert await banten.state(stack) == before


@pytest.mark.parametrize("service", ["enrolment", "subsidy", "award"])
async def test_every_keyed_route_refuses_requests_without_a_valid_key(stack: Stack, banten: Banten,
                                                                      service: str) -> None:
    forged = "prt_0123456789abcdef_" + "A" * 43
    for method, path, _route in routes(stack, service):
        if (method, path) in PUBLIC:
            continue
        for headers in ({}, {"Authorization": f"Bearer {forged}"}, {"X-API-Key": "not-a-key"}):
            async with httpx.AsyncClient(base_url=stack.servers[service].url, headers=headers) as c:
                response = await c.request(**request_for(method, path, banten))
            assert response.status_code == 401, f"{service} {method} {path} {headers}: {response.status_code}"
            assert response.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_key_stops_working_at_once_on_every_service(stack: Stack, banten: Banten) -> None:
    issued = await stack.access.create("kit to be lost", "field_kit", ["admin"], [BANTEN])
    probes = {"enrolment": ("GET", f"/v1/registrations/{banten.registration_id}"),
              "subsidy": ("GET", f"/v1/budgets/{CILEGON}?year=2025"), "award": ("PUT", "/v1/clock")}

    async def statuses() -> dict[str, int]:
        out = {}
        for service, (method, url) in probes.items():
            async with stack.servers[service].client(issued.secret) as c:
                body = {"now": "2025-03-10T09:00:00+07:00"} if method == "PUT" else None
                out[service] = (await c.request(method, url, json=body)).status_code
        return out

    assert await statuses() == {"enrolment": 200, "subsidy": 200, "award": 200}
    assert await stack.access.revoke(issued.key_id)
    assert await statuses() == {"enrolment": 401, "subsidy": 401, "award": 401}  # no cache, no grace period


@pytest.mark.parametrize("service", ["enrolment", "subsidy", "award"])
async def test_rate_limits_are_per_key_and_answered_with_429_and_retry_after(stack: Stack, banten: Banten,
                                                                            service: str) -> None:
    slow = await stack.access.create(f"slow {service}", "partner_app", ["admin"], [BANTEN], rate_limit_per_second=0.01)
    other = await stack.access.create(f"other {service}", "partner_app", ["admin"], [BANTEN])
    method, url = {"enrolment": ("GET", f"/v1/registrations/{banten.registration_id}"),
                   "subsidy": ("GET", f"/v1/budgets/{CILEGON}?year=2025"),
                   "award": ("GET", "/v1/clock")}[service]
    if service == "award":  # its reads are public; its keyed routes are the admin writes
        method, url = "PUT", f"/v1/regions/{CILEGON}/target"
    body = {"fiscal_year": 2025, "target_population": 5000, "source": "Survei Disnaker 2024"} \
        if method == "PUT" else None
    async with stack.servers[service].client(slow.secret) as c:
        answers = [await c.request(method, url, json=body) for _ in range(4)]
    # Its burst follows its own rate (two seconds of 0.01/s: the one-request minimum), not the service's 20.
    assert [a.status_code for a in answers] == [200, 429, 429, 429]
    limited = answers[-1]
    assert limited.json()["errors"][0]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 99  # a token every 100 s
    async with stack.servers[service].client(other.secret) as c:  # another key's bucket is untouched
        assert (await c.request(method, url, json=body)).status_code == 200


async def test_keys_are_stored_hashed_and_compared_in_constant_time(stack: Stack, monkeypatch) -> None:
    issued = await stack.access.create("hash check", "partner_app", ["registrations:read"], [BANTEN])
    async with stack.access.database.reading() as session:
        row = (await session.scalars(select(ApiKey).where(ApiKey.key_id == issued.key_id))).one()
    stored = [str(getattr(row, column.key)) for column in ApiKey.__table__.columns]
    token = issued.secret[len(f"prt_{issued.key_id}_"):]
    assert not any(issued.secret in value or token in value for value in stored)
    assert row.secret_sha256 == hashlib.sha256(issued.secret.encode()).hexdigest()

    comparisons: list[tuple[str, str]] = []
    compare_digest = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        comparisons.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(access_keys.hmac, "compare_digest", spy)
    assert await stack.access.authenticate(issued.secret) is not None
    wrong = issued.secret[:-4] + ("AAAA" if not issued.secret.endswith("AAAA") else "BBBB")
    assert await stack.access.authenticate(wrong) is None
    unknown = "prt_ffffffffffffffff_" + token
    assert await stack.access.authenticate(unknown) is None
    # Every presented key in a valid format costs one constant-time comparison of hashes, known id or not.
    assert len(comparisons) == 3
    assert comparisons[0] == (row.secret_sha256, row.secret_sha256)
    assert all(re.fullmatch(r"[0-9a-f]{64}", a) and re.fullmatch(r"[0-9a-f]{64}", b) for a, b in comparisons)
