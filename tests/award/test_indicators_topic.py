"""award.indicators is filled again after the broker loses its log, so a new stream consumer finds every region."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer

from services.award.app import create_app
from shared.events import IndicatorsUpdated, parse_event
from shared.kafka import ensure_topics
from shared.topics import INDICATORS
from tests.award.factory import Worker, at, envelope, publish
from tests.support import eventually, serving

REGIONS = ("36.72", "33.74")


async def latest_on_topic(bootstrap: str) -> dict[str, IndicatorsUpdated]:
    """Every region's latest snapshot on award.indicators, as a new stream consumer reads it."""
    consumer = AIOKafkaConsumer(INDICATORS.name, bootstrap_servers=bootstrap, group_id=f"t-{uuid.uuid4()}",
                                auto_offset_reset="earliest")
    await consumer.start()
    latest: dict[str, IndicatorsUpdated] = {}
    try:
        while True:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 15)
            if not batch:
                return latest
            for messages in batch.values():
                for m in messages:
                    latest[m.key.decode()] = parse_event(m.value).data
    finally:
        await consumer.stop()


async def test_the_compacted_topic_is_filled_again_after_the_broker_lost_its_log(isolated_broker, backend,
                                                                                award_settings, producer_for):
    settings = await award_settings(isolated_broker)
    producer = await producer_for(settings)
    await publish(producer, [envelope(Worker(region).granted(at(3))) for region in REGIONS for _ in range(2)])
    wanted = {*REGIONS, "36", "33", "ID"}
    async with serving(create_app, settings):
        async def all_published() -> dict[str, IndicatorsUpdated] | None:
            latest = await latest_on_topic(settings.bootstrap_servers)
            return latest if wanted <= latest.keys() and latest["ID"].counts["active"] == 4 else None

        before = await eventually(all_published, timeout=30, interval=0.5)

        isolated_broker.kill()  # Tansu keeps its log in memory: it comes back empty
        isolated_broker.start()
        await ensure_topics(settings)
        # Nothing new happens in any region: the publisher must notice the empty log by itself.
        after = await eventually(all_published, timeout=60, interval=1)
    assert {code: u.counts for code, u in after.items()} == {code: u.counts for code, u in before.items()}
