"""The committed docs (JSON Schemas, AsyncAPI) match the event models and topics in shared/."""

import json
import uuid
from datetime import UTC, datetime

import jsonschema
import pytest
import yaml

from shared.contracts import DOCS, rendered, schema_filename
from shared.events import (
    EVENT_TYPES,
    InvalidEvent,
    WorkerRegistered,
    _parse_as_named,
    encode_event,
    json_schema,
    new_event,
    parse_event,
)
from shared.topics import TOPICS


def test_committed_docs_match_the_models() -> None:
    stale = [str(path.relative_to(DOCS.parent)) for path, text in rendered().items()
             if not path.exists() or path.read_text() != text]
    assert not stale, f"run `make contracts` and commit: {stale}"


def test_asyncapi_names_every_topic_and_event_type() -> None:
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {t.name for t in TOPICS}
    described = {m["name"] for m in doc["components"]["messages"].values()}
    assert described == {t for t, _ in EVENT_TYPES}
    for message in doc["components"]["messages"].values():
        assert (DOCS / message["payload"]["$ref"]).exists()
    for topic in TOPICS:
        channel = next(c for c in doc["channels"].values() if c["address"] == topic.name)
        for event_type in topic.event_types:
            assert any(m["$ref"].endswith(event_type.replace(".", "_").replace("-", "_") + "_v1")
                       for m in channel["messages"].values())


def test_every_type_has_a_schema_and_only_one_topic() -> None:
    for event_type, version in EVENT_TYPES:
        assert (DOCS / "schemas" / schema_filename(event_type, version)).exists()
        assert sum(event_type in t.event_types for t in TOPICS) == 1, event_type


def sample_registered() -> WorkerRegistered:
    now = datetime(2024, 3, 1, tzinfo=UTC)
    return WorkerRegistered(
        registration_id=uuid.uuid4(), worker_ref="a" * 64, province_code="36", regency_code="36.72",
        category="rt_rw_head", sex="P", age_band="35-44", fiscal_year=2024, start_month=3, months=10,
        channel="field_kit", captured_at=now, registered_at=now,
    )


def test_an_encoded_event_validates_against_its_exported_schema_and_parses_back() -> None:
    event = new_event(sample_registered(), source="/paritrana/enrolment", subject="x")
    raw = encode_event(event)
    jsonschema.validate(yaml.safe_load(raw), json_schema("worker.registered", 1))
    parsed = parse_event(raw)
    assert parsed == event
    assert isinstance(parsed.data, WorkerRegistered)


def test_an_envelope_parses_the_same_by_the_fast_path_and_in_any_key_order() -> None:
    event = new_event(sample_registered(), source="/paritrana/enrolment", subject="x")
    raw = encode_event(event)
    assert _parse_as_named(raw) == event  # our own encoding takes the one-pass path
    doc = json.loads(raw)
    reordered = json.dumps({"data": doc["data"], **{k: v for k, v in doc.items() if k != "data"}}).encode()
    assert parse_event(reordered) == event
    spaced = json.dumps(doc, indent=2).encode()
    assert _parse_as_named(spaced) == event
    # A type the data model does not fit falls back to the careful path, which names what is wrong.
    wrong = json.dumps(doc | {"type": "worker.ended"}).encode()
    assert _parse_as_named(wrong) is None
    with pytest.raises(InvalidEvent, match="worker.ended v1 invalid"):
        parse_event(wrong)


@pytest.mark.parametrize("raw, reason", [
    (b"not json", "not JSON"),
    (b"[]", "not an object"),
    (b'{"type": "worker.registered", "dataversion": 9}', "unknown event type/version"),
    (b'{"type": "worker.registered", "dataversion": 1, "data": {}}', "invalid"),
])
def test_poison_is_rejected_with_a_reason_that_quotes_no_input(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        parse_event(raw)


def test_validation_errors_do_not_echo_values() -> None:
    event = new_event(sample_registered(), source="/paritrana/enrolment")
    doc = yaml.safe_load(encode_event(event))
    doc["data"]["worker_ref"] = "3672015501990001"  # a NIK where a worker_ref belongs
    with pytest.raises(InvalidEvent) as caught:
        parse_event(json.dumps(doc))
    assert "3672015501990001" not in str(caught.value)
