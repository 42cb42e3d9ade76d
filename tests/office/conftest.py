"""The office under test: its own database (SQLite or PostgreSQL), a real broker, and (where approvals reach it) a
real subsidy service that the office calls with an admin API key."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from services.office import service
from services.office.app import create_app as create_office
from services.subsidy.app import create_app as create_subsidy
from shared.settings import Settings
from tests.subsidy.workers import api_key
from tests.support import ServiceServer, serving

PASSWORD = "correct horse battery"  # every test account's (at least 12 characters)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

ACCOUNTS = {
    # username: (role, regions)
    "ops-cilegon": ("operator", ["36.72"]),
    "ops2-cilegon": ("operator", ["36.72"]),
    "ver-cilegon": ("verifier", ["36.72"]),
    "head-banten": ("head", ["36"]),
    "view-cilegon": ("viewer", ["36.72"]),
    "ops-bekasi": ("operator", ["32.75"]),
    "ver-bekasi": ("verifier", ["32.75"]),
    "admin": ("admin", ["*"]),
}


@dataclass
class Office:
    server: ServiceServer
    settings: Settings
    subsidy: ServiceServer | None = None
    admin_key: str | None = None
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.url, timeout=30.0, follow_redirects=False)
        self.clients.append(client)
        return client

    async def signed_in(self, username: str, password: str = PASSWORD) -> httpx.AsyncClient:
        client = self.client()
        response = await sign_in(client, username, password)
        assert response.status_code == 303, response.text
        return client


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await client.get("/sign-in")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    return await client.post("/sign-in", data={"csrf_token": token, "username": username, "password": password})


async def csrf_of(client: httpx.AsyncClient, path: str = "/") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return CSRF.search(page.text).group(1)  # type: ignore[union-attr]


@asynccontextmanager
async def running_office(settings: Settings, *, with_subsidy: bool = False,
                         accounts: dict[str, tuple[str, list[str]]] = ACCOUNTS) -> AsyncIterator[Office]:
    key = await api_key(settings, ["admin"], ["*"])
    if with_subsidy:
        async with serving(create_subsidy, settings) as subsidy:
            office_settings = settings.model_copy(update={"office_api_key": key, "office_subsidy_url": subsidy.url})
            async with _office(office_settings, accounts) as office:
                office.subsidy, office.admin_key = subsidy, key
                yield office
    else:
        async with _office(settings.model_copy(update={"office_api_key": key}), accounts) as office:
            office.admin_key = key
            yield office


@asynccontextmanager
async def _office(settings: Settings, accounts: dict[str, tuple[str, list[str]]]) -> AsyncIterator[Office]:
    async with serving(create_office, settings) as server:
        database, clock = server.runtime.database, server.runtime.clock
        for username, (role, regions) in accounts.items():
            await service.create_staff(database, clock, service.CLI, username, username.title(), role, regions,
                                       PASSWORD)
        office = Office(server, settings)
        try:
            yield office
        finally:
            for client in office.clients:
                await client.aclose()


@pytest.fixture
async def office_settings(make_settings, database_url):
    """make_settings(broker) plus a fresh office database of the test's backend."""

    async def make(broker, **overrides):
        return await make_settings(broker, office_database_url=await database_url("office"), **overrides)

    return make
