"""Fixtures of the award suite: a service clock fixed in March 2025 and a producer on the test's broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from shared.kafka import EventProducer
from tests.award.factory import at

NOW = at(20, 3, hour=10)


@pytest.fixture
async def award_settings(make_settings) -> Callable[..., object]:
    """award_settings(broker, **overrides): Settings with the clock at 2025-03-20 10:00 WIB and a consumer group of
    the test's own, so tests sharing the session broker do not share committed offsets."""

    async def make(broker, **overrides):
        overrides.setdefault("clock_start", NOW)
        overrides.setdefault("kafka_client_prefix", f"t{uuid.uuid4().hex[:8]}")
        return await make_settings(broker, **overrides)

    return make


@pytest.fixture
async def producer_for() -> AsyncIterator[Callable[..., object]]:
    started: list[EventProducer] = []

    async def make(settings) -> EventProducer:
        producer = EventProducer(settings, "test")
        await producer.start()
        started.append(producer)
        return producer

    yield make
    for producer in started:
        await producer.stop()
