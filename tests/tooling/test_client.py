"""The partner client's retries and errors, against a real HTTP server."""

import asyncio

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from paritrana.client import ApiError, AsyncClient, Client, RetryPolicy
from tests.support import ServiceServer


def flaky_app(failures: list[tuple[int, dict[str, str]]]) -> tuple[FastAPI, list[str]]:
    """Answers each failure in turn (status, headers), then 201; records the keys it saw."""
    app = FastAPI()
    seen: list[str] = []

    @app.post("/v1/registrations")
    async def register(request: Request) -> JSONResponse:
        seen.append(request.headers["authorization"])
        if failures:
            status, headers = failures.pop(0)
            return JSONResponse({"errors": [{"field": None, "code": "busy", "message": "busy"}]}, status, headers)
        return JSONResponse({"registration_id": (await request.json())["registration_id"]}, 201)

    @app.post("/v1/registrations/batch")
    async def invalid() -> JSONResponse:
        return JSONResponse({"errors": [{"field": "items[0].nik", "code": "nik_format",
                                         "message": "NIK harus 16 digit."}]}, 422)

    return app, seen


@pytest.fixture
async def server_for():
    servers: list[ServiceServer] = []

    async def start(app: FastAPI) -> ServiceServer:
        server = ServiceServer(app)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def test_retry_honours_retry_after_then_succeeds(server_for):
    app, seen = flaky_app([(429, {"Retry-After": "2"}), (503, {"Retry-After": "1"}), (503, {})])
    server = await server_for(app)
    waits: list[float] = []
    retry = RetryPolicy(attempts=5, initial=0.25, cap=30, sleep=waits.append)

    def call() -> dict:
        with Client("prt_key", enrolment_url=server.url, retry=retry) as client:
            return client.register({"registration_id": "r-1"})

    assert await asyncio.to_thread(call) == {"registration_id": "r-1"}
    assert waits[:2] == [2.0, 1.0]
    assert 0.125 <= waits[2] <= 1.0  # no Retry-After: capped exponential backoff with jitter
    assert seen == ["Bearer prt_key"] * 4


async def test_the_cap_bounds_a_long_retry_after_and_attempts_run_out(server_for):
    app, _ = flaky_app([(429, {"Retry-After": "3600"})] * 3)
    server = await server_for(app)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with AsyncClient("k", enrolment_url=server.url, retry=RetryPolicy(attempts=2, cap=10, sleep=record)) as c:
        with pytest.raises(ApiError) as caught:
            await c.register({"registration_id": "r-2"})
    assert caught.value.status == 429 and waits == [10]


async def test_errors_carry_the_per_field_messages(server_for):
    app, _ = flaky_app([])
    server = await server_for(app)
    async with AsyncClient("k", enrolment_url=server.url) as client:
        with pytest.raises(ApiError) as caught:
            await client.register_batch([{"nik": "12"}])
    error = caught.value
    assert error.status == 422 and error.codes == ["nik_format"]
    assert error.errors[0].field == "items[0].nik" and "16 digit" in str(error)


def test_connection_errors_are_retried_then_raised() -> None:
    waits: list[float] = []
    with Client("k", enrolment_url="http://127.0.0.1:9", retry=RetryPolicy(attempts=3, sleep=waits.append)) as c:
        with pytest.raises(Exception, match="onnect"):
            c.register({"registration_id": "r-3"})
    assert len(waits) == 2
