"""Generates docs/schemas/*.json and docs/asyncapi.yaml from the event models and the topic list.

The committed files are what partners read; tests/test_contracts.py fails when they drift from the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from shared.events import EVENT_TYPES, json_schema
from shared.topics import TOPICS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def schema_filename(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.json"


def message_name(event_type: str, version: int) -> str:
    return f"{event_type.replace('.', '_').replace('-', '_')}_v{version}"


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for (event_type, version), model in EVENT_TYPES.items():
        messages[message_name(event_type, version)] = {
            "name": event_type,
            "title": f"{event_type} v{version}",
            "summary": (model.__doc__ or event_type).strip().splitlines()[0],
            "contentType": "application/cloudevents+json",
            "headers": {"type": "object", "properties": {"content-type": {"const": "application/cloudevents+json"}}},
            "payload": {"$ref": f"./schemas/{schema_filename(event_type, version)}"},
        }
    for topic in TOPICS:
        channel_id = topic.name.replace(".", "_").replace("-", "_")
        refs = {
            message_name(t, v): {"$ref": f"#/components/messages/{message_name(t, v)}"}
            for (t, v) in EVENT_TYPES if t in topic.event_types
        }
        channels[channel_id] = {
            "address": topic.name,
            "description": topic.description,
            "messages": refs,
            "bindings": {"kafka": {
                "topic": topic.name,
                "topicConfiguration": {"cleanup.policy": [topic.kafka_config()["cleanup.policy"]]}
                | ({} if topic.compacted else {"retention.ms": topic.retention_ms}),
            }},
            "x-key": topic.key,
            "x-producer": topic.producer,
            "x-consumers": list(topic.consumers),
        }
        if refs:
            operations[f"publish_{channel_id}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"{topic.producer} publishes to {topic.name}",
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in refs],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Paritrana events",
            "version": "1.0.0",
            "description": (
                "CloudEvents 1.0 in Kafka structured mode. Every message value is a JSON envelope "
                "(specversion, id, source, type, time, subject, dataschema, dataversion, data). Consumers dedupe "
                "by id. No event carries a NIK, name, phone or birth date."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def rendered() -> dict[Path, str]:
    files = {
        DOCS / "schemas" / schema_filename(t, v): json.dumps(json_schema(t, v), indent=2, sort_keys=True) + "\n"
        for (t, v) in EVENT_TYPES
    }
    files[DOCS / "asyncapi.yaml"] = yaml.safe_dump(asyncapi(), sort_keys=False, allow_unicode=True, width=110)
    return files


def write_contracts() -> list[Path]:
    files = rendered()
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
