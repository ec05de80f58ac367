"""Distributed mode against a real broker: Tansu, started once per session.

Each test gets its own Kafka topic and consumer group on that broker, and its own
database, so tests never see each other's messages. When the broker cannot start,
the tests that need it fail (CI or not): there is no skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from infra.bootstrap import Runtime, build_runtime
from infra.database import Database
from infra.settings import Settings
from infra.stream.relay import BATCH_SIZE as RELAY_BATCH
from infra.stream.relay import Relay
from tests.utils.factories import SMALL_HIERARCHY
from tests.utils.kafka import Broker, unique_topic
from tests.utils.units import load_units

PARTITIONS = 4


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    found = Broker(tmp_path_factory.mktemp("tansu") / "tansu.log")
    found.start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def stream_settings(settings: Settings, broker: Broker) -> Settings:
    return replace(
        settings,
        kafka_bootstrap=broker.bootstrap,
        kafka_topic=unique_topic(),
        kafka_partitions=PARTITIONS,
        kafka_group=f"projector-{uuid.uuid4().hex[:8]}",
        secret="test-secret-" + uuid.uuid4().hex,
    )


@pytest.fixture
def stream_runtime(database: Database, stream_settings: Settings) -> Iterator[Runtime]:
    """A distributed-mode runtime on the small Gansu slice (no in-process projecting)."""
    with build_runtime(database, stream_settings) as rt:
        load_units(rt, SMALL_HIERARCHY)
        yield rt


@pytest.fixture
def make_relay(stream_runtime: Runtime) -> Iterator[Callable[..., Relay]]:
    """Relays on `stream_runtime` (or another runtime), closed after the test: an
    unclosed producer's socket surfaces as an unraisable ResourceWarning later."""
    made: list[Relay] = []

    def make(runtime: Runtime | None = None, batch_size: int = RELAY_BATCH) -> Relay:
        relay = Relay(runtime or stream_runtime, batch_size=batch_size)
        made.append(relay)
        return relay

    yield make
    for relay in made:
        relay.close()
