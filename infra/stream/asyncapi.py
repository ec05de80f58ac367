"""The AsyncAPI 3 document of the `linkage.events` stream, from the event classes.

`python -m infra.stream.asyncapi` writes `api/asyncapi.yaml`; a test fails when
the file drifts from the classes, and validates real messages against it. Each
event type is one message whose payload is the envelope (DESIGN §7) with that
type's `data` schema, derived from the event class's annotations.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.settings import DEFAULT_KAFKA_TOPIC
from infra.stream.messages import SCHEMA_VERSION, data_fields, event_classes
from projections.envelope import UNIT_EVENT_TYPES

DOCUMENT = Path(__file__).resolve().parents[2] / "api" / "asyncapi.yaml"


def json_schema(hint: Any) -> dict[str, Any]:
    """The JSON schema of one annotated field, as `messages.encode` writes it."""
    if hint is Any:
        return {}
    if hint is str:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    if typing.is_typeddict(hint):
        fields = typing.get_type_hints(hint)
        return {
            "type": "object",
            "description": " ".join((hint.__doc__ or "").split()),
            "properties": {name: json_schema(h) for name, h in fields.items()},
            "required": sorted(fields),
            "additionalProperties": False,
        }
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [json_schema(a) for a in args]}
    if hint is type(None):
        return {"type": "null"}
    if origin is list:
        return {"type": "array", "items": json_schema(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": json_schema(args[1])}
    raise TypeError(f"no JSON schema for annotation {hint!r}")


def _data_schema(cls: type) -> dict[str, Any]:
    fields = data_fields(cls)
    # a field added later has a default: events recorded before it lack it
    defaulted = {f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    return {
        "type": "object",
        "properties": {name: json_schema(hint) for name, hint in fields.items()},
        "required": sorted(set(fields) - defaulted),
        "additionalProperties": False,
    }


ENVELOPE: dict[str, Any] = {
    "type": "object",
    "description": "One event of the store, as every consumer sees it (DESIGN §7).",
    "properties": {
        "position": {
            "type": "integer",
            "minimum": 1,
            "description": "Global position in the event store (the notification id).",
        },
        "topic_id": {
            "type": "string",
            "format": "uuid",
            "description": "The aggregate: a topic (议题), or a hierarchy import.",
        },
        "version": {
            "type": "integer",
            "minimum": 1,
            "description": "The aggregate's version: (topic_id, version) is unique.",
        },
        "type": {"type": "string", "description": "The event name (DESIGN §4)."},
        "occurred_at": {"type": "string", "format": "date-time"},
        "actor": {"$ref": "#/components/schemas/Actor"},
        "unit_path": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[0-9]{2,12}$"},
            "description": "Unit codes from the province to the topic's owner after the"
            " event; empty for hierarchy events.",
        },
        "data": {"type": "object"},
    },
    "required": [
        "position",
        "topic_id",
        "version",
        "type",
        "occurred_at",
        "actor",
        "unit_path",
        "data",
    ],
    "additionalProperties": False,
}
ACTOR: dict[str, Any] = {
    "type": "object",
    "description": "Who acted: user, unit code and role (empty for hierarchy batches).",
    "properties": {
        "user_id": {"type": "string"},
        "unit": {"type": "string"},
        "role": {"type": "string"},
    },
    "additionalProperties": {"type": "string"},
}
HEADERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "description": "The event name, as in the payload."},
        "schema_version": {"type": "string", "const": SCHEMA_VERSION},
    },
    "required": ["type", "schema_version"],
}


def _message(name: str) -> dict[str, Any]:
    topic_event = name not in UNIT_EVENT_TYPES
    payload: dict[str, Any] = {
        "allOf": [
            {"$ref": "#/components/schemas/Envelope"},
            {
                "type": "object",
                "properties": {
                    "type": {"const": name},
                    "data": {"$ref": f"#/components/schemas/{name}Data"},
                    "actor": {"required": ["user_id", "unit", "role"]} if topic_event else {},
                    "unit_path": {"minItems": 1} if topic_event else {"maxItems": 0},
                },
            },
        ]
    }
    return {
        "name": name,
        "title": name,
        "contentType": "application/json",
        "headers": {
            "allOf": [
                {"$ref": "#/components/schemas/Headers"},
                {"properties": {"type": {"const": name}}},
            ]
        },
        "payload": payload,
        "bindings": {
            "kafka": {
                "key": {"type": "string", "format": "uuid", "description": "topic_id"},
                "bindingVersion": "0.5.0",
            }
        },
    }


def document() -> dict[str, Any]:
    classes = event_classes()
    names = list(classes)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Linkage event stream",
            "version": SCHEMA_VERSION,
            "description": (
                "Every event of the Linkage store, published by `linkage relay` in store"
                " order, at least once. Key: the topic id (one topic's events stay in one"
                " partition, in version order). Consumers drop repeats by (topic_id,"
                " version). Generated from the event classes by"
                " `python -m infra.stream.asyncapi`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "LINKAGE_KAFKA_BOOTSTRAP",
            }
        },
        "channels": {
            "events": {
                "address": DEFAULT_KAFKA_TOPIC,
                "description": "The topic name is the setting LINKAGE_KAFKA_TOPIC.",
                "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
            }
        },
        "operations": {
            "publishEvents": {
                "action": "send",
                "summary": "The relay publishes each stored event.",
                "channel": {"$ref": "#/channels/events"},
                "messages": [{"$ref": f"#/channels/events/messages/{n}"} for n in names],
            },
            "projectEvents": {
                "action": "receive",
                "summary": "Projectors (consumer group) and any other client read them.",
                "channel": {"$ref": "#/channels/events"},
                "messages": [{"$ref": f"#/channels/events/messages/{n}"} for n in names],
            },
        },
        "components": {
            "schemas": {
                "Envelope": ENVELOPE,
                "Actor": ACTOR,
                "Headers": HEADERS,
                **{f"{n}Data": _data_schema(cls) for n, cls in classes.items()},
            },
            "messages": {n: _message(n) for n in names},
        },
    }


def render() -> str:
    import yaml

    text: str = yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)
    return "# Generated by `python -m infra.stream.asyncapi`; do not edit.\n" + text


def main() -> int:
    DOCUMENT.write_text(render(), encoding="utf-8")
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
