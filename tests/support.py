"""Test plumbing shared by every suite: free ports, PostgreSQL databases, services run in-process, and the check
that an append-only table is."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Table, delete, text, update

POSTGRES_URL_ENV = "PARITRANA_TEST_POSTGRES_URL"


async def caught_up(consumers) -> bool:
    """Every consumer holds partitions, and every partition it holds is committed to its end."""
    lags = [await c.lag() for c in consumers]
    return all(lags) and sum(sum(lag.values()) for lag in lags) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_environment(root, **extra: str) -> tuple[dict[str, str], dict[str, int]]:
    """Environment and free ports for `paritrana up` in `root`: nothing of the caller's PARITRANA_* or Kafka
    settings leaks in, so the stack is the embedded one, as `make run` starts it."""
    ports = {"enrolment": free_port(), "subsidy": free_port(), "award": free_port(), "office": free_port(),
             "broker": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITRANA_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update({
        "PARITRANA_DATA_DIR": str(root / "var"),
        "PARITRANA_ENROLMENT_PORT": str(ports["enrolment"]),
        "PARITRANA_SUBSIDY_PORT": str(ports["subsidy"]),
        "PARITRANA_AWARD_PORT": str(ports["award"]),
        "PARITRANA_OFFICE_PORT": str(ports["office"]),
        "PARITRANA_EMBEDDED_BROKER_PORT": str(ports["broker"]),
        **extra,
    })
    return env, ports


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV)


async def create_postgres_database(admin_url: str) -> str:
    """A new, empty database on the test server; returns its asyncpg URL."""
    name = f"paritrana_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)


async def drop_postgres_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class ServiceServer:
    """A service app served by uvicorn inside the test's event loop, on a free port, lifespan included."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                                    access_log=False, lifespan="on"))
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self):
        return self.app.state.runtime

    async def start(self, timeout: float = 30.0) -> None:
        self.task = asyncio.create_task(self.server.serve())
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.server.started:
            if self.task.done():
                self.task.result()
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("service did not start")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task

    def client(self, api_key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30.0)


@asynccontextmanager
async def serving(create_app: Callable[..., FastAPI], settings, ready: bool = True) -> AsyncIterator[ServiceServer]:
    """Run a service (create_app(settings)) for the block; with ready=True, wait for /readyz 200 first."""
    server = ServiceServer(create_app(settings))
    await server.start()
    try:
        if ready:
            await wait_ready(server.url)
        yield server
    finally:
        await server.stop()


async def wait_ready(base_url: str, timeout: float = 30.0) -> None:
    async with httpx.AsyncClient(timeout=5.0) as client:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                if (await client.get(f"{base_url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{base_url}/readyz did not answer 200 within {timeout}s")
            await asyncio.sleep(0.1)


async def eventually(check: Callable[[], object], timeout: float = 20.0, interval: float = 0.1) -> object:
    """Poll check() (sync or async) until it returns something truthy; fail with its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: object = None
    while asyncio.get_running_loop().time() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def assert_append_only(database: Any, table: Table, **change: Any) -> None:
    """UPDATE and DELETE of `table` are refused by the database itself (and TRUNCATE on PostgreSQL)."""
    for statement in (update(table).values(**change), delete(table)):
        with pytest.raises(Exception, match="append-only"):
            async with database.transaction() as session:
                await session.execute(statement)
    if database.dialect == "postgresql":
        with pytest.raises(Exception, match="append-only"):
            async with database.transaction() as session:
                await session.execute(text(f"TRUNCATE {table.name}"))
