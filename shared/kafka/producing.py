"""Publishing: envelopes to the topic their type belongs to, acknowledged by every replica before they count."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from shared import metrics
from shared.events import CONTENT_TYPE, Envelope, encode_event
from shared.kafka.retry import start_with_backoff
from shared.settings import Settings
from shared.topics import topic_for


class EventProducer:
    """Publishes envelopes to the topic their type belongs to, keyed for per-region order."""

    def __init__(self, settings: Settings, service: str) -> None:
        self.settings, self.service = settings, service
        self._producer: AIOKafkaProducer | None = None

    def _make(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap_servers,
            client_id=f"{self.settings.kafka_client_prefix}-{self.service}",
            acks="all",
            enable_idempotence=self.settings.kafka_idempotence,
            linger_ms=5,
            request_timeout_ms=15000,
        )

    async def start(self, stopping: asyncio.Event | None = None) -> None:
        self._producer = await start_with_backoff(self._make, f"{self.service} producer", stopping)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def send_raw(self, topic: str, key: bytes | None, value: bytes,
                       headers: Sequence[tuple[str, bytes]] = ()) -> asyncio.Future[RecordMetadata]:
        """Queue one message; the returned future resolves when the broker acknowledges it."""
        assert self._producer is not None, "producer not started"
        queued: asyncio.Future[RecordMetadata] = await self._producer.send(topic, value=value, key=key,
                                                                             headers=list(headers))
        return queued

    async def publish(self, events: Sequence[tuple[Envelope[Any], str]]) -> list[RecordMetadata]:
        """Publish (envelope, key) pairs and wait until the broker has acknowledged every one; returns where the
        broker put each."""
        futures = []
        for event, key in events:
            topic = topic_for(event.type).name
            futures.append(await self.send_raw(topic, key.encode(), encode_event(event),
                                               [("content-type", CONTENT_TYPE.encode())]))
        acknowledged = []
        for future, (event, _) in zip(futures, events):
            acknowledged.append(await future)
            metrics.EVENTS_PUBLISHED.labels(self.service, topic_for(event.type).name).inc()
        return acknowledged

    async def ping(self, timeout: float = 2.0) -> bool:
        if self._producer is None:
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout)
            return True
        except Exception:
            return False
