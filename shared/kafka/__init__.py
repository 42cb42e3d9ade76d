"""Kafka on aiokafka, by job: topic set-up (admin), publishing (producing), consuming in a group with rebalances
(consuming), dead letters (dead_letters), reading a log to its end without a group (reading), and the one retry
policy all of them wait with (retry). Import from here: ``from shared.kafka import EventConsumer``."""

from shared.kafka.admin import ensure_topics
from shared.kafka.consuming import FETCHER_IDLE_WAKE_MS, Consumed, EventConsumer, Handler, consumer_group
from shared.kafka.producing import EventProducer
from shared.kafka.reading import read_to_end
from shared.kafka.retry import Backoff, Stopped, retrying, start_with_backoff

__all__ = [
    "FETCHER_IDLE_WAKE_MS", "Backoff", "Consumed", "EventConsumer", "EventProducer", "Handler", "Stopped",
    "consumer_group", "ensure_topics", "read_to_end", "retrying", "start_with_backoff",
]
