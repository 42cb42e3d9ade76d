"""Prometheus metrics every service exports at /metrics. Labels never carry personal data: only service, topic,
partition, event type and outcome names."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "paritrana_events_consumed_total", "Events handled by a consumer", ["service", "topic", "type"]
)
DEAD_LETTERS = Counter(
    "paritrana_dead_letters_total", "Messages sent to a dead-letter topic", ["service", "topic"]
)
CONSUMER_LAG = Gauge(
    "paritrana_consumer_lag", "Messages not yet committed by the consumer group", ["service", "topic", "partition"]
)
BATCH_SECONDS = Histogram(
    "paritrana_consumer_batch_seconds", "Time to handle one polled batch, database commit included", ["service"]
)
HANDLER_RETRIES = Counter(
    "paritrana_consumer_retries_total", "Batches retried after a transient failure (database or broker)", ["service"]
)
EVENTS_PUBLISHED = Counter(
    "paritrana_events_published_total", "Events acknowledged by the broker", ["service", "topic"]
)
