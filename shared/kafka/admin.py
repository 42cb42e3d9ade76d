"""Topic set-up: each topic the services use, with its partition count and configs."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.kafka.retry import start_with_backoff
from shared.settings import Settings
from shared.topics import TOPICS, Topic

log = logging.getLogger(__package__)

TOPIC_EXISTS = 36


async def ensure_topics(settings: Settings, topics: Iterable[Topic] = TOPICS) -> list[str]:
    """Create the topics that are missing, with their partition counts and configs. Safe to run again."""
    admin = await start_with_backoff(
        lambda: AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                                    client_id=f"{settings.kafka_client_prefix}-admin"),
        "topic setup",
    )
    created = []
    try:
        wanted = [
            NewTopic(t.name, num_partitions=settings.kafka_partitions,
                     replication_factor=settings.kafka_replication_factor, topic_configs=t.kafka_config())
            for t in topics
        ]
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        present = [t.name for t in wanted if t.name in existing]
        for description in (await admin.describe_topics(present)) if present else []:
            count = len(description.get("partitions", []))
            if count != settings.kafka_partitions:
                log.warning("topic %s has %d partitions, settings say %d", description["topic"], count,
                            settings.kafka_partitions)
        if missing:
            response = await admin.create_topics(missing)
            for name, code, message in response.topic_errors:
                if code not in (0, TOPIC_EXISTS):
                    raise RuntimeError(f"cannot create topic {name}: {code} {message}")
                if code == 0:
                    created.append(name)
    finally:
        await admin.close()
    return created
