"""One stack (enrolment, subsidy, award) per test module and backend, each on a broker of its own
(tests/security/stack.py says why). Tests keep out of each other's way with fresh registration ids and NIKs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import BACKENDS
from tests.security.stack import Stack, stack_on_its_own_broker


@pytest.fixture(scope="module", params=BACKENDS)
async def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with stack_on_its_own_broker(request.param, tmp_path_factory, "security") as running:
        yield running
