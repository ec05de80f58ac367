"""The projection runner on real PostgreSQL: tracking, gaps, crashes, dead letters, rebuild."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.tests.persistence import TrackingRecorderTestCase

from domain.errors import ConflictError
from domain.topic_commands import AddComment
from domain.units import InMemoryUnitDirectory
from infra.bootstrap import Runtime
from infra.database import Database
from projections.runner import ProjectionRunner
from tests.utils.factories import VILLAGE, staff, submission
from tests.utils.killing import kill_mid_batch
from tests.utils.views import CountsView


class TestAViewIsATrackingRecorder(TrackingRecorderTestCase):
    """The library's own contract for tracking recorders, run against our View base."""

    @pytest.fixture(autouse=True)
    def _use_database(self, database: Database) -> None:
        self.database = database

    def create_recorder(self) -> CountsView:
        view = CountsView(self.database.datastore(), InMemoryUnitDirectory())
        view.create_table()
        return view


@pytest.fixture
def runner(small_runtime: Runtime) -> Iterator[ProjectionRunner]:
    view = CountsView(small_runtime.database.datastore(), small_runtime.units)
    runner = ProjectionRunner(
        small_runtime.app, [view], small_runtime.database.conninfo, batch_size=7
    )
    runner.create_tables()
    yield runner
    runner.close()
    view.datastore.close()
    CountsView.fail_on = None


def _counts(runtime: Runtime) -> list[tuple[Any, ...]]:
    with runtime.database.connect() as conn:
        return conn.execute(
            "SELECT topic_id, events, last_version, positions FROM event_counts ORDER BY topic_id"
        ).fetchall()


def _store_counts(runtime: Runtime) -> list[tuple[str, int, int]]:
    with runtime.database.connect() as conn:
        rows = conn.execute(
            "SELECT originator_id::text, count(*), max(originator_version) FROM linkage_events"
            " WHERE topic LIKE 'domain.topic:%%' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    return [(r[0], int(r[1]), int(r[2])) for r in rows]


def _comment_storm(runtime: Runtime, topics: int, comments: int) -> list[str]:
    app = runtime.app
    topic_ids = [app.submit_topic(staff(VILLAGE), **submission()).topic_id for _ in range(topics)]
    for i in range(comments):
        app.handle(staff(VILLAGE), AddComment(topic_id=topic_ids[i % topics], text=f"意见 {i}"))
    return [str(topic_id) for topic_id in topic_ids]


def test_catching_up_applies_every_event_once_and_tracks_the_head(
    small_runtime: Runtime, runner: ProjectionRunner
) -> None:
    _comment_storm(small_runtime, topics=3, comments=20)

    applied = runner.catch_up()

    assert applied == runner.head()  # every notification, the hierarchy import included
    assert runner.position() == runner.head()
    assert [(t, n, v) for t, n, v, _ in _counts(small_runtime)] == _store_counts(small_runtime)
    assert runner.catch_up() == 0


def test_with_many_concurrent_writers_the_follower_never_passes_a_gap(
    small_runtime: Runtime, runner: ProjectionRunner
) -> None:
    app = small_runtime.app
    ids = _comment_storm(small_runtime, topics=8, comments=0)
    runner.start()

    def write(worker: int) -> None:
        for i in range(25):
            while True:  # 8 writers on 8 topics: a command may lose its retries; send it again
                try:
                    app.handle(
                        staff(VILLAGE),
                        AddComment(topic_id=ids[(worker + i) % len(ids)], text=f"{worker}-{i}"),
                    )  # type: ignore[arg-type]
                    break
                except ConflictError:
                    continue

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runner.wait_for(runner.head(), timeout=30)
    runner.stop()
    incremental = _counts(small_runtime)

    runner.rebuild("counts", _scratch_datastores(small_runtime.database))

    assert sum(n for _, n, _, _ in incremental) == 8 + 8 * 25
    assert [(t, n, v) for t, n, v, _ in incremental] == _store_counts(small_runtime)
    assert _counts(small_runtime) == incremental
    assert runner.errors == []


def test_a_failing_event_parks_only_its_topic_and_a_retry_recovers_it(
    small_runtime: Runtime, runner: ProjectionRunner
) -> None:
    app = small_runtime.app
    bad = app.submit_topic(staff(VILLAGE), **submission()).topic_id  # type: ignore[arg-type]
    good = app.submit_topic(staff(VILLAGE), **submission()).topic_id  # type: ignore[arg-type]
    app.handle(staff(VILLAGE), AddComment(topic_id=bad, text="BOOM"))
    app.handle(staff(VILLAGE), AddComment(topic_id=bad, text="after the failure"))
    app.handle(staff(VILLAGE), AddComment(topic_id=good, text="fine"))
    CountsView.fail_on = "BOOM"

    runner.catch_up()

    (status,) = runner.status()
    assert status.lag == 0
    assert (status.dead_letters, status.parked_topics) == (2, 1)
    letters = runner.dead_letters("counts")
    assert "cannot project comment 'BOOM'" in letters[0].error
    assert "parked" in letters[1].error
    counts = {t: n for t, n, _, _ in _counts(small_runtime)}
    assert counts == {str(bad): 1, str(good): 2}

    app.handle(staff(VILLAGE), AddComment(topic_id=bad, text="still parked"))
    runner.catch_up()
    assert runner.status()[0].dead_letters == 3
    assert runner.retry("counts") == (0, 1)  # the cause is not fixed yet

    CountsView.fail_on = None
    assert runner.retry("counts") == (1, 0)
    assert runner.dead_letters("counts") == []
    assert [(t, n, v) for t, n, v, _ in _counts(small_runtime)] == _store_counts(small_runtime)


def test_a_rebuild_swaps_in_the_same_tables_from_position_zero(
    small_runtime: Runtime, runner: ProjectionRunner
) -> None:
    _comment_storm(small_runtime, topics=4, comments=30)
    runner.catch_up()
    before = _counts(small_runtime)
    seen: list[int] = []

    applied = runner.rebuild("counts", _scratch_datastores(small_runtime.database), seen.append)

    assert applied == runner.head()
    assert sum(seen) == applied
    assert _counts(small_runtime) == before
    assert runner.position() == runner.head()
    with small_runtime.database.connect() as conn:
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild_%'"
        ).fetchall()
    assert schemas == []


def test_a_projector_killed_between_write_and_commit_resumes_without_loss_or_repeat(
    small_runtime: Runtime, runner: ProjectionRunner
) -> None:
    _comment_storm(small_runtime, topics=5, comments=60)
    kill_mid_batch(small_runtime.database.conninfo_url, runner, 20, real=False, slow=0.4)
    killed_at = runner.position()
    assert 0 < killed_at < runner.head()

    runner.catch_up()
    incremental = _counts(small_runtime)
    runner.rebuild("counts", _scratch_datastores(small_runtime.database))

    assert [(t, n, v) for t, n, v, _ in incremental] == _store_counts(small_runtime)
    assert _counts(small_runtime) == incremental
    for _, events, _, positions in incremental:
        assert len(positions) == events == len(set(positions))


def _scratch_datastores(database: Database) -> Any:
    return lambda schema: database.datastore(schema=schema)


def test_standing_reads_the_lowest_view_position_and_the_head_in_one_query(
    small_runtime: Runtime,
) -> None:
    runner = small_runtime.projections
    _comment_storm(small_runtime, topics=2, comments=5)
    runner.catch_up(["topics"])  # the others stay behind
    head = runner.head()
    behind = min(view.position() for view in runner.views.values())
    assert runner.views["topics"].position() == head > behind

    assert runner.standing() == (behind, head)
    assert runner.position() == behind
    with psycopg.connect(small_runtime.database.conninfo, autocommit=True) as conn:
        assert runner.standing(conn) == (behind, head)  # as the API asks, on its read pool

    runner.catch_up()
    assert runner.standing() == (head, head)
