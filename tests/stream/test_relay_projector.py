"""Relay and projector in this process against a real broker: every event reaches
Kafka in per-topic order with the documented envelope, and the Kafka-fed read
models equal a rebuild from the store."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from infra.bootstrap import Runtime
from infra.simulate import Simulator
from infra.stream.projector import Projector
from infra.stream.relay import Relay
from tests.stream.conftest import PARTITIONS
from tests.utils.factories import SMALL_HIERARCHY
from tests.utils.kafka import read_all
from tests.utils.views import read_model_tables


def simulate(runtime: Runtime, topics: int, seed: int = 7) -> int:
    places = [u for r in SMALL_HIERARCHY if (u := runtime.units.get(r.code)) and u.level >= 4]
    Simulator(runtime.app, runtime.units, places, seed=seed, days=200).run(topics)
    return runtime.app.head_position()


def publish_all(relay: Relay) -> None:
    while relay.publish_once():
        pass


@contextmanager
def projecting(runtime: Runtime, members: int = 1) -> Iterator[list[Projector]]:
    stop = threading.Event()
    projectors = [Projector(runtime, member=f"member-{i}") for i in range(members)]
    threads = [threading.Thread(target=p.run, args=(stop,), daemon=True) for p in projectors]
    for thread in threads:
        thread.start()
    try:
        yield projectors
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)


def wait_fed(runtime: Runtime, position: int, timeout: float = 90) -> None:
    runtime.projections.wait_for(position, timeout=timeout)


def test_every_event_reaches_kafka_in_topic_order_with_the_envelope(
    stream_runtime: Runtime, make_relay: Callable[..., Relay]
) -> None:
    head = simulate(stream_runtime, 30)
    relay = make_relay(batch_size=250)
    publish_all(relay)
    assert relay.status().position == head

    settings = stream_runtime.settings
    assert settings.kafka_bootstrap is not None
    records = read_all(settings.kafka_bootstrap, settings.kafka_topic, head)
    assert len(records) == head  # no failure here: each event exactly once
    assert {r.partition for r in records} <= set(range(PARTITIONS))
    bodies = [json.loads(r.value) for r in records]
    assert sorted(b["position"] for b in bodies) == list(range(1, head + 1))

    versions: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        body = json.loads(r.value)
        assert r.key.decode() == body["topic_id"]
        assert dict(r.headers) == {"type": body["type"].encode(), "schema_version": b"1"}
        versions.setdefault(body["topic_id"], []).append(body["version"])
    for topic_versions in versions.values():  # one partition per topic, in order
        assert topic_versions == list(range(1, len(topic_versions) + 1))

    submitted = next(b for b in bodies if b["type"] == "TopicSubmitted")
    assert set(submitted) == {
        "position",
        "topic_id",
        "version",
        "type",
        "occurred_at",
        "actor",
        "unit_path",
        "data",
    }
    assert set(submitted["actor"]) == {"user_id", "unit", "role"}
    location = stream_runtime.units.get(submitted["data"]["location"])
    assert location is not None
    assert submitted["unit_path"] == list(location.path)
    moved = [b for b in bodies if b["type"] == "TransferAccepted"]
    assert moved, "the simulation accepts transfers"
    for b in moved:
        assert b["unit_path"][-1] == b["data"]["to_unit"]
        assert b["unit_path"][0] == "62"
    uuid.UUID(submitted["topic_id"])


def test_kafka_fed_read_models_equal_a_rebuild(
    stream_runtime: Runtime, make_relay: Callable[..., Relay]
) -> None:
    head = simulate(stream_runtime, 40)
    relay = make_relay(batch_size=300)
    with projecting(stream_runtime) as (projector,):
        publish_all(relay)
        wait_fed(stream_runtime, head)
        more = simulate(stream_runtime, 10, seed=8)
        publish_all(relay)
        wait_fed(stream_runtime, more)
    assert projector.applied == more

    runner = stream_runtime.projections
    assert [s.position for s in runner.status()] == [more] * len(runner.views)
    fed = read_model_tables(stream_runtime)
    runner.rebuild_many(
        list(runner.views), lambda schema: stream_runtime.database.datastore(schema=schema)
    )
    assert read_model_tables(stream_runtime) == fed
    assert all(fed[t] for t in ("topic_summary", "timeline_events", "inbox"))


def test_repeats_from_the_relay_are_applied_once(
    stream_runtime: Runtime, make_relay: Callable[..., Relay]
) -> None:
    head = simulate(stream_runtime, 15)
    relay = make_relay(batch_size=200)
    publish_all(relay)
    # a relay that died after the broker acknowledged, before storing its position
    relay._record(head // 3, {})
    publish_all(relay)
    settings = stream_runtime.settings
    assert settings.kafka_bootstrap is not None
    records = read_all(settings.kafka_bootstrap, settings.kafka_topic, 2 * head - head // 3)
    assert len(records) == 2 * head - head // 3

    with projecting(stream_runtime) as (projector,):
        deadline = time.monotonic() + 60
        while projector.applied < head and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # the repeats after the last new event, too
    assert projector.applied == head
    fed = read_model_tables(stream_runtime)
    runner = stream_runtime.projections
    runner.rebuild_many(
        list(runner.views), lambda schema: stream_runtime.database.datastore(schema=schema)
    )
    assert read_model_tables(stream_runtime) == fed


def test_a_message_that_is_not_an_event_is_set_aside_and_the_rest_applied(
    stream_runtime: Runtime, make_relay: Callable[..., Relay]
) -> None:
    from kafka import KafkaProducer

    from infra.stream.relay import ensure_topic
    from infra.stream.state import stream_status

    settings = stream_runtime.settings
    assert settings.kafka_bootstrap is not None
    ensure_topic(settings.kafka_bootstrap, settings.kafka_topic, PARTITIONS)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    producer.send(settings.kafka_topic, key=b"someone-else", value=b"{not json", partition=1)
    producer.flush()
    producer.close()

    head = simulate(stream_runtime, 10, seed=9)
    relay = make_relay()
    with projecting(stream_runtime):
        publish_all(relay)
        wait_fed(stream_runtime, head)
    with stream_runtime.database.connect() as conn:
        letters = conn.execute(
            "SELECT projection, position, topic_id, error FROM projection_dead_letters"
        ).fetchall()
    assert letters == [("kafka:1", 0, "someone-else", letters[0][3])]
    assert "not UTF-8 JSON" in letters[0][3]
    watermark = stream_runtime.kafka_watermark
    assert watermark is not None
    status = stream_status(watermark, head)
    assert status.foreign_messages == 1
    assert "1 Kafka messages are not Linkage events" in status.problems[0]
    fed = read_model_tables(stream_runtime)
    runner = stream_runtime.projections
    runner.rebuild_many(
        list(runner.views), lambda schema: stream_runtime.database.datastore(schema=schema)
    )
    assert read_model_tables(stream_runtime) == fed
