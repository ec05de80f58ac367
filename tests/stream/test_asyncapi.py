"""The AsyncAPI document of `linkage.events`: generated from the event classes
(no drift), and real messages from the relay validate against it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from infra.bootstrap import Runtime
from infra.stream.asyncapi import DOCUMENT, render
from infra.stream.messages import event_classes
from infra.stream.relay import Relay
from tests.stream.test_relay_projector import publish_all, simulate
from tests.utils.kafka import read_all

BASE = "urn:linkage:asyncapi"


def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        BASE, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": f"{BASE}#{pointer}"}, registry=registry)


def test_the_document_is_generated_from_the_event_classes() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render(), (
        "api/asyncapi.yaml is stale: run `python -m infra.stream.asyncapi`"
    )
    document = spec()
    assert document["asyncapi"] == "3.0.0"
    assert document["channels"]["events"]["address"] == "linkage.events"
    assert set(document["components"]["messages"]) == set(event_classes())
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_real_messages_validate_against_the_document(
    stream_runtime: Runtime, make_relay: Callable[..., Relay]
) -> None:
    head = simulate(stream_runtime, 60, seed=21)
    publish_all(make_relay(batch_size=500))
    settings = stream_runtime.settings
    assert settings.kafka_bootstrap is not None
    records = read_all(settings.kafka_bootstrap, settings.kafka_topic, head)
    assert len(records) == head

    document = spec()
    seen: set[str] = set()
    for record in records:
        body = json.loads(record.value)
        kind = body["type"]
        seen.add(kind)
        payload = validator(document, f"/components/messages/{kind}/payload")
        errors = [e.message for e in payload.iter_errors(body)]
        assert not errors, (kind, errors, body)
        headers = {k: v.decode() for k, v in record.headers}
        header_schema = validator(document, f"/components/messages/{kind}/headers")
        assert not [e.message for e in header_schema.iter_errors(headers)], headers

    assert "UnitsAdded" in seen  # the hierarchy travels too
    assert len(seen) >= 20, sorted(seen)  # most of the contract's event types
    broken = dict(json.loads(records[-1].value), data={"unexpected": 1})
    payload = validator(document, f"/components/messages/{broken['type']}/payload")
    assert list(payload.iter_errors(broken)), "a wrong data field must not validate"
