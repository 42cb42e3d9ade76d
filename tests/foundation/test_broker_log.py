"""The rules by which a publisher tells that the broker's log is not the one it published to (shared/broker_log.py)."""

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata, TopicPartition

from shared.broker_log import BrokerLog, Mark, lost_at_end, lost_on_acknowledgement, marks_of, read_by_all
from shared.settings import Settings
from shared.topics import WORKERS

W = "enrolment.workers"


def acknowledgement(partition: int, offset: int) -> RecordMetadata:
    return RecordMetadata(W, partition, TopicPartition(W, partition), offset, 0, 0, 0)


def test_a_publish_leaves_the_first_and_last_offset_of_each_partition():
    acks = [acknowledgement(0, 7), acknowledgement(1, 3), acknowledgement(0, 9), acknowledgement(0, 8)]
    assert marks_of(acks) == {(W, 0): Mark(7, 9), (W, 1): Mark(3, 3)}


def test_an_acknowledgement_at_or_before_the_last_mark_means_a_new_log():
    known = {(W, 0): Mark(100, 149), (W, 1): Mark(10, 10)}
    assert lost_on_acknowledgement(known, {(W, 0): Mark(150, 160)}) == []
    assert lost_on_acknowledgement(known, {(W, 0): Mark(0, 20)}) == [(W, 0)]
    assert lost_on_acknowledgement(known, {(W, 1): Mark(10, 12)}) == [(W, 1)]
    assert lost_on_acknowledgement(known, {(W, 2): Mark(0, 5)}) == [], "a partition never published to is no sign"


def test_an_intact_log_ends_past_the_first_offset_of_the_last_publish_even_as_tansu_counts_it():
    # 250 messages published as one batch at offsets 0..249: Tansu's ListOffsets answers 1 (the batch's base + 1).
    known = {(W, 0): Mark(0, 249), (W, 1): Mark(300, 310)}
    assert lost_at_end(known, {(W, 0): 1, (W, 1): 301}) == []
    assert lost_at_end(known, {(W, 0): 250, (W, 1): 311}) == []  # Apache Kafka's high watermark
    assert lost_at_end(known, {(W, 0): 0, (W, 1): 0}) == [(W, 0), (W, 1)], "an empty new log"
    assert lost_at_end(known, {(W, 0): 1, (W, 1): 12}) == [(W, 1)], "refilled, but not as far"
    assert lost_at_end(known, {}) == [(W, 0), (W, 1)], "the topic is gone"


def test_what_was_published_is_read_when_every_group_committed_past_its_last_offset():
    marks = {(W, 0): Mark(0, 249), (W, 1): Mark(5, 9)}
    assert read_by_all(marks, {(W, 0): 250, (W, 1): 10})
    assert not read_by_all(marks, {(W, 0): 250, (W, 1): 9})
    assert not read_by_all(marks, {(W, 0): 250, (W, 1): None}), "a group with no commit has read nothing"


async def test_the_log_check_sees_a_topic_the_broker_created_after_the_checker_first_asked(isolated_broker, tmp_path):
    """After a broker restart the checker may ask before a service has re-created its topics. Once they exist it
    must see them: a checker that kept seeing none took every publish for a lost log, again and again (the fault
    suite's broker-log-lost scenario, in a fresh clone's run)."""
    settings = Settings(kafka_bootstrap_servers=isolated_broker.bootstrap_servers, data_dir=tmp_path)
    checker = BrokerLog(settings, "enrolment", [WORKERS])
    producer = AIOKafkaProducer(bootstrap_servers=isolated_broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        assert await checker.ends() == {}, "the new broker has no topics yet"
        acknowledged = marks_of([await producer.send_and_wait(WORKERS.name, b"{}", key=b"36.72")])
        ends = await checker.ends()
        assert set(acknowledged) <= set(ends), ends
        assert lost_at_end(acknowledged, ends) == []
    finally:
        await producer.stop()
        await checker.close()
