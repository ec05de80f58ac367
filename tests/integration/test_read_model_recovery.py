"""The product's read models under the runner: the tracking contract, a kill -9
mid-batch, and incremental == rebuild for every table."""

from __future__ import annotations

import pytest
from eventsourcing.tests.persistence import TrackingRecorderTestCase

from domain.units import InMemoryUnitDirectory
from infra.bootstrap import Runtime, view_classes
from infra.database import Database
from infra.simulate import Simulator
from projections.base import View
from projections.topics import TopicsView
from tests.utils.factories import SMALL_HIERARCHY
from tests.utils.killing import kill_mid_batch
from tests.utils.views import read_model_tables


class _ViewContract(TrackingRecorderTestCase):
    view_class: type[View] = TopicsView

    @pytest.fixture(autouse=True)
    def _use_database(self, database: Database) -> None:
        self.database = database

    def create_recorder(self) -> View:
        view = self.view_class(self.database.datastore(), InMemoryUnitDirectory())
        view.create_table()
        return view


class TestTopicsViewIsATrackingRecorder(_ViewContract):
    pass


class TestTimelineViewIsATrackingRecorder(_ViewContract):
    view_class = view_classes()[1]


class TestStatsViewIsATrackingRecorder(_ViewContract):
    view_class = view_classes()[2]


class TestPlansViewIsATrackingRecorder(_ViewContract):
    view_class = view_classes()[3]


def test_read_models_killed_mid_batch_resume_to_exactly_a_rebuild(
    small_runtime: Runtime,
) -> None:
    places = [u for r in SMALL_HIERARCHY if (u := small_runtime.units.get(r.code)) and u.level >= 4]
    Simulator(small_runtime.app, small_runtime.units, places, seed=5, days=200).run(60)
    runner = small_runtime.projections
    kill_mid_batch(small_runtime.database.conninfo_url, runner, 40, real=True, slow=0.3)
    assert 0 < runner.position() < runner.head()

    runner.catch_up()
    incremental = read_model_tables(small_runtime)
    runner.rebuild_many(
        list(runner.views), lambda schema: small_runtime.database.datastore(schema=schema)
    )

    rebuilt = read_model_tables(small_runtime)
    assert set(rebuilt) == {
        "topic_summary",
        "topic_visibility",
        "inbox",
        "timeline_events",
        *(t for t in rebuilt if t.startswith("stats_")),
        "plans",
        "plan_items",
        "plan_links",
        "plan_held",
    }
    assert all(rebuilt[t] for t in ("topic_summary", "timeline_events", "inbox"))
    assert rebuilt == incremental
    assert all(s.dead_letters == 0 and s.lag == 0 for s in runner.status())
