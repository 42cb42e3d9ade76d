"""One stack (enrolment, subsidy, award) per test module and backend, on the session broker. Tests keep out of
each other's way with fresh registration ids and NIKs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import BACKENDS
from tests.security.stack import Stack, running_stack
from tests.support import postgres_admin_url


@pytest.fixture(scope="module", params=BACKENDS)
async def stack(request: pytest.FixtureRequest, broker, tmp_path_factory) -> AsyncIterator[Stack]:
    if request.param == "postgresql" and not postgres_admin_url():
        pytest.skip("PostgreSQL not configured: set PARITRANA_TEST_POSTGRES_URL")
    async with running_stack(broker, request.param, tmp_path_factory.mktemp("security")) as running:
        yield running
