"""A real enrolment service (in-process, on the session broker) for the partner tooling's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from services.enrolment.app import create_app
from services.enrolment.models import registrations
from tests.support import ServiceServer, serving


@dataclass
class Enrolment:
    server: ServiceServer
    key: str

    @property
    def url(self) -> str:
        return self.server.url

    async def count(self, **where: str) -> int:
        query = select(func.count()).select_from(registrations)
        for column, value in where.items():
            query = query.where(registrations.c[column] == value)
        async with self.server.runtime.database.reading() as session:
            return (await session.execute(query)).scalar_one()

    async def niks(self) -> list[str]:
        async with self.server.runtime.database.reading() as session:
            return list((await session.execute(select(registrations.c.nik))).scalars())


@pytest.fixture
async def enrolment(broker, make_settings) -> AsyncIterator[Enrolment]:
    settings = await make_settings(broker, rate_limit_per_second=10_000, rate_limit_burst=10_000)
    async with serving(create_app, settings) as server:
        issued = await server.runtime.access.create("Disnaker Banten import", "staff",
                                                    ["registrations:write", "registrations:read"], ["36"])
        yield Enrolment(server, issued.secret)
