"""The access dependency over HTTP: 401 for missing/bad/revoked keys, 403 for scope, 429 with Retry-After."""

import time
from collections.abc import Callable
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI

from shared.access import AccessStore, Principal, require_scope
from shared.access.rate_limit import RateLimiter
from shared.http import install_error_handlers


async def make_app(database_url, per_second: float = 100.0, burst: int = 200,
                   clock: Callable[[], float] = time.monotonic):
    store = AccessStore.from_url(await database_url("access"))
    await store.database.migrate()
    app = FastAPI()
    app.state.access = store
    app.state.rate_limiter = RateLimiter(per_second, burst, clock)
    install_error_handlers(app)

    @app.get("/write")
    async def write(principal: Annotated[Principal, Depends(require_scope("registrations:write"))]) -> dict:
        return {"key": principal.key_id}

    return app, store


def client(app: FastAPI, key: str | None = None) -> httpx.AsyncClient:
    headers = {"X-API-Key": key} if key else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers)


async def test_keys_are_checked_on_every_request(database_url):
    app, store = await make_app(database_url)
    writer = await store.create("partner", "partner_app", ["registrations:write"], ["36"])
    reader = await store.create("viewer", "partner_app", ["registrations:read"], ["36"])
    async with client(app) as anonymous:
        response = await anonymous.get("/write")
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert response.json()["errors"][0]["code"] == "unauthenticated"
    async with client(app, writer.secret) as c:
        assert (await c.get("/write")).json() == {"key": writer.key_id}
        assert (await c.get("/write", headers={"X-API-Key": "", "Authorization": f"Bearer {writer.secret}"}))\
            .status_code == 200
    async with client(app, reader.secret) as c:
        response = await c.get("/write")
        assert response.status_code == 403 and response.json()["errors"][0]["code"] == "missing_scope"
    await store.revoke(writer.key_id)
    async with client(app, writer.secret) as c:
        response = await c.get("/write")
        assert response.status_code == 401 and response.json()["errors"][0]["code"] == "invalid_key"
    await store.database.dispose()


async def test_a_key_over_its_rate_gets_429_with_retry_after(database_url):
    app, store = await make_app(database_url, per_second=1, burst=3)
    key = await store.create("kit", "field_kit", ["registrations:write"], ["36.72"])
    fast = await store.create("bench", "partner_app", ["registrations:write"], ["*"], rate_limit_per_second=1000)
    async with client(app, key.secret) as c:
        statuses = [(await c.get("/write")).status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
        limited = await c.get("/write")
        assert limited.json()["errors"][0]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
    async with client(app, fast.secret) as c:  # its own rate, and buckets are per key
        assert {(await c.get("/write")).status_code for _ in range(20)} == {200}
    await store.database.dispose()


async def test_a_key_with_its_own_rate_bursts_two_seconds_of_it_not_the_service_burst(database_url):
    # The clock stands still, so nothing refills while the requests are made: the burst is all there is.
    app, store = await make_app(database_url, per_second=100, burst=200, clock=lambda: 0.0)
    key = await store.create("kit", "field_kit", ["registrations:write"], ["36.72"], rate_limit_per_second=2)
    async with client(app, key.secret) as c:
        answers = [await c.get("/write") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert answers[-1].json()["errors"][0]["code"] == "rate_limited"
    assert answers[-1].headers["retry-after"] == "1"  # one token at 2 per second: half a second, rounded up
    await store.database.dispose()


def test_a_keys_own_rate_sets_its_burst_and_other_keys_keep_the_service_settings() -> None:
    limiter = RateLimiter(per_second=100, burst=200, clock=lambda: 0.0)
    assert [limiter.take("two", 2) for _ in range(5)] == [0, 0, 0, 0, 0.5]
    assert [limiter.take("slow", 0.01) for _ in range(2)] == [0, 100.0]  # at least one request, then 100 s
    assert [limiter.take("fast", 1000) for _ in range(2000)] == [0] * 2000 and limiter.take("fast", 1000) > 0
    assert [limiter.take("default") for _ in range(200)] == [0] * 200 and limiter.take("default") == 0.01


def test_the_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(per_second=2, burst=2, clock=lambda: now[0])
    assert limiter.take("k") == 0 and limiter.take("k") == 0
    assert limiter.take("k") == 0.5
    now[0] += 0.5
    assert limiter.take("k") == 0
    assert limiter.take("other") == 0
