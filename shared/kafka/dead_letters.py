"""Dead letters: what a consumer cannot parse or handle goes to its service's dead-letter topic, with the error in
headers, and the partition keeps flowing."""

from __future__ import annotations

import hashlib
import json
import logging

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError

from shared import metrics
from shared.kafka.producing import EventProducer
from shared.kafka.retry import retrying
from shared.observability import mask_personal_data
from shared.topics import dead_letter

log = logging.getLogger(__package__)


async def send_to_dead_letters(producer: EventProducer, service: str, record: ConsumerRecord, error: str, *,
                               known_event: bool = True) -> None:
    """Publish `record` to the service's dead-letter topic, retrying until the broker takes it.

    A known event carries no personal data by contract and is kept as it was, for replay. Anything else may (a
    partner's raw registration sent to the wrong place), so it is kept with the original's hash and masked: JSON
    through Samaran, which finds names by their keys; other bytes not at all, as nothing marks a name there."""
    log.error("%s: dead-lettering %s[%d]@%d: %s", service, record.topic, record.partition, record.offset, error)
    topic = dead_letter(service).name
    key, value, headers = record.key, record.value, list(record.headers or ())
    if not known_event:
        key = mask_personal_data(key.decode(errors="replace")).encode() if key else key
        digest = hashlib.sha256(value or b"").hexdigest()
        try:
            json.loads(value or b"")
            value = mask_personal_data(value.decode()).encode()
        except ValueError:
            value = json.dumps({"withheld": "not JSON", "sha256": digest, "bytes": len(value or b"")}).encode()
        headers = [(k, mask_personal_data(v.decode(errors="replace")).encode() if v else v) for k, v in headers]
        headers.append(("dlq.original_sha256", digest.encode()))
    headers += [
        ("dlq.error", mask_personal_data(error).encode()[:1000]),
        ("dlq.topic", record.topic.encode()),
        ("dlq.partition", str(record.partition).encode()),
        ("dlq.offset", str(record.offset).encode()),
        ("dlq.service", service.encode()),
    ]

    async def publish() -> None:
        await (await producer.send_raw(topic, key, value, headers))

    def failed(exc: Exception, _delay: float) -> None:
        log.warning("%s: dead-letter publish failed (%s), retrying", service, type(exc).__name__)

    # An unstarted producer fails its assertion: the broker is not up yet, so that too is waited out.
    await retrying((KafkaError, AssertionError), failed)(publish)
    metrics.DEAD_LETTERS.labels(service, topic).inc()
