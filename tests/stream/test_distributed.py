"""Distributed mode as operators run it: api, relay and projector processes on
one PostgreSQL and a real broker — the six steps with read-your-writes, kill -9
of the relay and of a projector mid-batch, the broker stopped, and two projectors
sharing the partitions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from domain.topic import Role
from infra.bootstrap import Runtime
from infra.simulate import Simulator
from tests.e2e.test_graphql_scenario import make_sessions
from tests.e2e.test_graphql_scenario import (
    test_a_topic_goes_through_six_steps_escalated_village_township_county as six_steps,
)
from tests.utils.cluster import Cluster
from tests.utils.factories import PROVINCE, SMALL_HIERARCHY, VILLAGE
from tests.utils.kafka import Broker
from tests.utils.views import read_model_tables


@pytest.fixture
def cluster(stream_runtime: Runtime, tmp_path: Path) -> Iterator[Cluster]:
    found = Cluster(stream_runtime, tmp_path / "logs")
    try:
        yield found
    finally:
        found.stop_all()


def simulate(runtime: Runtime, topics: int, seed: int) -> int:
    places = [u for r in SMALL_HIERARCHY if (u := runtime.units.get(r.code)) and u.level >= 4]
    Simulator(runtime.app, runtime.units, places, seed=seed, days=200).run(topics)
    return runtime.app.head_position()


def assert_equal_to_a_rebuild(runtime: Runtime) -> None:
    fed = read_model_tables(runtime)
    runner = runtime.projections
    runner.rebuild_many(list(runner.views), lambda s: runtime.database.datastore(schema=s))
    assert read_model_tables(runtime) == fed
    assert all(fed[t] for t in ("topic_summary", "timeline_events"))
    assert all(s.dead_letters == 0 for s in runner.status())


def readyz(cluster: Cluster) -> dict[str, object]:
    """/readyz as an operator (AUDITOR of the province) sees it: with relay and consumer."""
    operator = cluster.headers(PROVINCE, Role.AUDITOR)
    response = httpx.get(cluster.url + "/readyz", headers=operator, timeout=10)
    body: dict[str, object] = response.json()
    return body


def test_six_steps_through_api_relay_and_projector_processes(cluster: Cluster) -> None:
    cluster.relay()
    cluster.projector()
    cluster.serve()
    six_steps(cluster, make_sessions(cluster))  # type: ignore[arg-type]

    head = cluster.runtime.app.head_position()
    cluster.wait_fed(head)
    ready = readyz(cluster)
    assert ready["status"] == "ready", ready
    assert ready["relay"] == {"state": "publishing", "position": head, "lag": 0, "error": None}
    consumer = ready["consumer"]
    assert isinstance(consumer, dict)
    assert (consumer["position"], consumer["lag"]) == (head, 0)
    assert_equal_to_a_rebuild(cluster.runtime)


def test_relay_and_projector_killed_mid_batch_lose_nothing(cluster: Cluster) -> None:
    head = simulate(cluster.runtime, 300, seed=11)
    cluster.relay("relay", "--batch", "100")
    wait_until(lambda: 0 < relay_position(cluster) < head, "the relay publishes")
    cluster.kill("relay")
    assert relay_position(cluster) < head

    cluster.relay("relay-again", "--batch", "100")
    cluster.projector()
    wait_until(lambda: consumed(cluster) > 0, "the projector commits a batch", 120)
    cluster.kill("projector")  # most likely inside the next batch's transaction
    assert cluster.fed_up_to() < head

    cluster.projector("projector-again")
    cluster.wait_fed(head)
    assert relay_position(cluster) == head
    assert_equal_to_a_rebuild(cluster.runtime)
    with cluster.runtime.database.connect() as conn:
        applied = conn.execute("SELECT sum(version) FROM projector_applied").fetchone()
    assert applied == (head,)  # every stream's last version: each event applied once


def test_broker_stopped_commands_succeed_and_the_relay_catches_up(
    cluster: Cluster, broker: Broker
) -> None:
    cluster.relay()
    cluster.projector()
    cluster.serve()
    before = simulate(cluster.runtime, 5, seed=3)
    cluster.wait_fed(before)
    broker.pause()
    try:
        session = make_sessions(cluster)["village"]
        for n in range(3):
            session.command(
                "submitTopic",
                "SubmitTopicInput",
                title=f"路灯损坏 {n}",
                description="村口路灯不亮",
                category="道路交通",
                source="GRID",
                locationUnit=VILLAGE,
            )
        wait_until(lambda: readyz(cluster)["status"] == "degraded", "/readyz reports the relay", 60)
        ready = readyz(cluster)
        relay = ready["relay"]
        assert isinstance(relay, dict)
        assert relay["state"] == "degraded"
        assert relay["lag"] == 3  # the three submissions wait in the store
        assert relay["error"]
    finally:
        broker.resume()
    cluster.wait_fed(session.position)
    wait_until(lambda: readyz(cluster)["status"] == "ready", "/readyz recovers", 30)
    assert_equal_to_a_rebuild(cluster.runtime)


def test_two_projectors_share_the_partitions(cluster: Cluster) -> None:
    cluster.projector("one")
    cluster.projector("two")
    head = simulate(cluster.runtime, 80, seed=5)
    cluster.relay()
    cluster.wait_fed(head)
    with cluster.runtime.database.connect() as conn:
        members = conn.execute(
            "SELECT partition, member FROM projector_offsets ORDER BY partition"
        ).fetchall()
    assert len(members) == cluster.runtime.settings.kafka_partitions
    assert len({m for _, m in members}) == 2, members
    assert_equal_to_a_rebuild(cluster.runtime)


# -- helpers --------------------------------------------------------------------------


def relay_position(cluster: Cluster) -> int:
    with cluster.runtime.database.connect() as conn:
        row = conn.execute("SELECT position FROM relay_state WHERE name = 'relay'").fetchone()
    return int(row[0]) if row else 0


def consumed(cluster: Cluster) -> int:
    with cluster.runtime.database.connect() as conn:
        row = conn.execute("SELECT COALESCE(sum(next_offset), 0) FROM projector_offsets").fetchone()
    return int(row[0]) if row else 0


def wait_until(check: object, what: str, timeout: float = 60) -> None:
    import time

    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting: {what}")
        time.sleep(0.05)
