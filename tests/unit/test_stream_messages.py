"""The Kafka message of an event, both ways, without a broker; the settings and
command-line refusals of distributed mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.settings import Settings, SettingsError
from infra.stream.messages import DATETIME_FIELDS, MessageError, decode, encode, headers
from projections.envelope import Envelope


def task_assigned() -> Envelope:
    due = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    return Envelope(
        position=42,
        topic_id="5c7a43a4-3f5e-4d55-9d4e-8a1b1c2d3e4f",
        version=9,
        type="TaskAssigned",
        occurred_at=due - timedelta(days=30),
        actor={"user_id": "u-620102", "unit": "620102", "role": "STAFF"},
        data={
            "task_id": "t-1",
            "handler_unit": "620102001",
            "handler": "酒泉路街道城建办",
            "requirement": "30日内更换加压泵",
            "due": due,
        },
    )


def test_a_message_decodes_to_the_envelope_it_was_made_from() -> None:
    e = task_assigned()
    value = encode(e, ["62", "6201", "620102"])
    body = json.loads(value)
    assert body["unit_path"] == ["62", "6201", "620102"]
    assert body["data"]["due"] == "2026-12-31T16:00:00+00:00"
    assert "酒泉路" in value.decode()  # UTF-8 text, not \\u escapes
    assert decode(value) == e  # datetimes restored as the event class declares
    assert dict(headers(e)) == {"type": b"TaskAssigned", "schema_version": b"1"}
    assert "due" in DATETIME_FIELDS["TaskAssigned"]


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'{"type": "TaskAssigned"}', "lacks position"),
        (
            json.dumps(
                {**json.loads(encode(task_assigned(), [])), "type": "TopicExploded"}
            ).encode(),
            "unknown event type 'TopicExploded'",
        ),
        (
            json.dumps(
                {**json.loads(encode(task_assigned(), [])), "occurred_at": "yesterday"}
            ).encode(),
            "malformed TaskAssigned message",
        ),
    ],
)
def test_a_message_that_is_not_an_event_is_refused_by_name(value: bytes, names: str) -> None:
    with pytest.raises(MessageError, match=names):
        decode(value)


@pytest.mark.parametrize("partitions", ["0", "-3", "many"])
def test_a_bad_partition_count_names_the_setting(partitions: str) -> None:
    with pytest.raises(SettingsError, match="LINKAGE_KAFKA_PARTITIONS"):
        Settings.from_env({"LINKAGE_KAFKA_PARTITIONS": partitions})


def test_distributed_settings() -> None:
    s = Settings.from_env(
        {"LINKAGE_KAFKA_BOOTSTRAP": "k1:9092,k2:9092", "LINKAGE_KAFKA_PARTITIONS": "12"}
    )
    assert s.distributed
    assert (s.kafka_topic, s.kafka_partitions, s.kafka_group) == (
        "linkage.events",
        12,
        "linkage-projector",
    )
    assert not Settings.from_env({}).distributed


@pytest.mark.parametrize("process", ["relay", "projector"])
def test_relay_and_projector_without_a_broker_fail_in_one_line(
    process: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
    done = subprocess.run(
        [sys.executable, "-m", "api.entry.cli", process],
        env={**env, "LINKAGE_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"linkage: error: LINKAGE_KAFKA_BOOTSTRAP is not set: the {process} needs a broker"
    )
