"""One stack (enrolment, subsidy, award) per test module and backend, each on a broker of its own: the BPJS exchange
crosses all three (a rejection releases months in subsidy, which fund the waiting list), and the tests count what
the services published, so one backend's events must not reach the other's services."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import BACKENDS
from tests.security.stack import Stack, stack_on_its_own_broker


@pytest.fixture(scope="module", params=BACKENDS)
async def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with stack_on_its_own_broker(request.param, tmp_path_factory, "bpjs") as running:
        yield running
