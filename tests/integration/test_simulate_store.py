"""A simulation saved by COPY into PostgreSQL: the same bytes as played, chained, read back."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.units import Level, Unit, UnitDirectory
from infra.audit_verify import verify_chain
from infra.bootstrap import Runtime
from infra.simulate import Simulator
from tests.utils.factories import SMALL_HIERARCHY, in_memory_app, small_directory
from tests.utils.views import read_model_tables

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _places(units: UnitDirectory) -> list[Unit]:
    return [u for r in SMALL_HIERARCHY if (u := units.get(r.code)) and u.level >= Level.TOWNSHIP]


def test_events_played_in_workers_and_copied_are_stored_and_projected_as_played(
    small_runtime: Runtime,
) -> None:
    memory = in_memory_app(small_directory())
    Simulator(memory, memory.units, _places(memory.units), seed=4, now=NOW, batch=40).run(150)
    played = memory.recorder.select_notifications(start=1, limit=100_000)
    app = small_runtime.app
    start = app.head_position()

    report = Simulator(
        app, small_runtime.units, _places(small_runtime.units), seed=4, now=NOW, batch=40, workers=2
    ).run(150)

    stored = app.recorder.select_notifications(start=start + 1, limit=100_000)
    assert report.events == len(played) == len(stored)
    assert [n.id for n in stored] == list(range(start + 1, start + 1 + len(stored)))
    assert [(n.originator_id, n.originator_version, n.topic, n.state) for n in stored] == [
        (n.originator_id, n.originator_version, n.topic, n.state) for n in played
    ]
    chain = verify_chain(small_runtime.database.conninfo, batch=500, workers=2)
    assert chain.intact
    assert chain.head_position == stored[-1].id
    topic_ids = {n.originator_id for n in stored}
    assert all(app.get_topic(i).state() == memory.get_topic(i).state() for i in topic_ids)

    runner = small_runtime.projections
    runner.catch_up()
    incremental = read_model_tables(small_runtime)
    runner.rebuild_many(
        list(runner.views), lambda schema: small_runtime.database.datastore(schema=schema)
    )
    assert read_model_tables(small_runtime) == incremental
    assert len(incremental["topic_summary"]) == len(topic_ids) == 150
    assert all(s.dead_letters == 0 and s.lag == 0 for s in runner.status())
