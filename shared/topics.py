"""Every Kafka topic, what it carries and how it is keyed: the one list that start-up, docs/asyncapi.yaml,
docker-compose's topic job and the Strimzi KafkaTopics must agree with (tests check that).

Worker and subsidy events are keyed by the regency/city code (``PP.KK``): Kafka orders messages within a
partition, so every event of one region is handled in order, and regions spread over partitions so consumers
scale out up to the partition count. Budget events are keyed by the budget's own region code (``PP.KK`` or, for a
provincial budget, ``PP``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Topic:
    name: str
    description: str
    event_types: tuple[str, ...]
    key: str
    producer: str
    consumers: tuple[str, ...]
    compacted: bool = False
    retention_ms: int = 30 * 24 * 3600 * 1000
    config: dict[str, str] = field(default_factory=dict)

    def kafka_config(self) -> dict[str, str]:
        config = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if not self.compacted:
            config["retention.ms"] = str(self.retention_ms)
        return config | self.config


WORKERS = Topic(
    name="enrolment.workers",
    description="Registrations accepted and ended, published by enrolment through its transactional outbox.",
    event_types=("worker.registered", "worker.ended"),
    key="regency/city code PP.KK",
    producer="enrolment",
    consumers=("subsidy", "award"),
    # Long enough that subsidy and award can be rebuilt by replay; production sizes this to the fiscal year.
    retention_ms=400 * 24 * 3600 * 1000,
)
DECISIONS = Topic(
    name="subsidy.decisions",
    description="Funding decisions, releases, budget changes and invoices, published by subsidy.",
    event_types=("subsidy.granted", "subsidy.denied", "subsidy.waitlisted", "subsidy.released", "budget.allocated",
                 "budget.threshold-crossed", "invoice.issued", "invoice.paid"),
    key="regency/city code PP.KK (budget events: the budget's region code)",
    producer="subsidy",
    consumers=("enrolment", "award"),
    retention_ms=400 * 24 * 3600 * 1000,
)
INDICATORS = Topic(
    name="award.indicators",
    description="Latest indicator snapshot per region, for dashboards and BI tools. Compacted: one per key.",
    event_types=("indicators.updated",),
    key="region code (PP.KK, PP, or ID for the nation)",
    producer="award",
    consumers=(),
    compacted=True,
)


def dead_letter(service: str) -> Topic:
    return Topic(
        name=f"{service}.dead-letter",
        description=f"Messages the {service} service could not process: the original, with the error in headers.",
        event_types=(),
        key="the original message's key",
        producer=service,
        consumers=(),
    )


TOPICS: tuple[Topic, ...] = (
    WORKERS,
    DECISIONS,
    INDICATORS,
    dead_letter("enrolment"),
    dead_letter("subsidy"),
    dead_letter("award"),
)


def topic_for(event_type: str) -> Topic:
    return next(t for t in TOPICS if event_type in t.event_types)
