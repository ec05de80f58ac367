"""Group commit: concurrent saves written together, each answered on its own.

The deterministic tests hold the event table's EXCLUSIVE lock from another
connection while saves queue behind the writer, so the group is known; the race
sends many threads of independent and conflicting commands through the batcher and
checks every answer against the log and the hash chain.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from domain.application import CommandResult
from domain.errors import ConflictError, LinkageError
from domain.topic_commands import AddComment
from infra.audit_verify import verify_chain
from infra.bootstrap import Runtime
from infra.chain import EVENTS_TABLE
from infra.recorder import LinkageRecorder
from tests.utils.factories import VILLAGE, staff, submission


def _recorder(runtime: Runtime) -> LinkageRecorder:
    recorder = runtime.app.recorder
    assert isinstance(recorder, LinkageRecorder)
    return recorder


def _event(originator: uuid.UUID, version: int, state: bytes = b"{}") -> StoredEvent:
    return StoredEvent(originator, version, "tests.group:Event", state)


@contextmanager
def _table_locked(runtime: Runtime) -> Iterator[None]:
    """Hold the event table's EXCLUSIVE lock (as a writer of another process would)."""
    with psycopg.connect(runtime.database.conninfo) as conn:
        conn.execute(f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE")
        yield
        conn.commit()


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the saves never queued"
        time.sleep(0.01)


def _queued(recorder: LinkageRecorder) -> int:
    with recorder._queue_lock:
        return len(recorder._queue)


class _Saves:
    """Saves started one after another, each in its own thread, queued in that order."""

    def __init__(self, recorder: LinkageRecorder) -> None:
        self.recorder = recorder
        self.threads: list[threading.Thread] = []
        self.answers: dict[str, Any] = {}

    def start(self, name: str, events: list[StoredEvent], queued: int) -> None:
        def run() -> None:
            try:
                self.answers[name] = self.recorder.insert_events(events)
            except IntegrityError as err:
                self.answers[name] = err

        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)
        _wait_until(lambda: _queued(self.recorder) >= queued)

    def join(self) -> dict[str, Any]:
        for thread in self.threads:
            thread.join(60)
        return self.answers


def _log(runtime: Runtime, after: int) -> list[tuple[int, uuid.UUID, int]]:
    notes = runtime.app.recorder.select_notifications(start=after + 1, limit=10_000)
    return [(n.id, uuid.UUID(str(n.originator_id)), n.originator_version) for n in notes]


def test_saves_queued_together_are_one_transaction_each_with_its_own_ids(
    runtime: Runtime,
) -> None:
    recorder = _recorder(runtime)
    start = runtime.app.head_position()
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    groups_before = recorder.groups_written
    saves = _Saves(recorder)
    with _table_locked(runtime):
        saves.start("plug", [_event(uuid.uuid4(), 1)], queued=0)  # the leader, blocked
        _wait_until(lambda: recorder._leading)
        saves.start("a", [_event(a, 1), _event(a, 2)], queued=1)
        saves.start("b", [_event(b, 1)], queued=2)
        saves.start("c", [_event(c, 1), _event(c, 2), _event(c, 3)], queued=3)
    answers = saves.join()

    assert recorder.groups_written - groups_before == 2  # the plug, then a, b and c together
    assert answers["plug"] == [start + 1]
    assert answers["a"] == [start + 2, start + 3]
    assert answers["b"] == [start + 4]
    assert answers["c"] == [start + 5, start + 6, start + 7]
    assert [(o, v) for _, o, v in _log(runtime, start + 1)] == [
        (a, 1), (a, 2), (b, 1), (c, 1), (c, 2), (c, 3)
    ]  # fmt: skip
    report = verify_chain(runtime.database.conninfo, batch=3, workers=1)
    assert report.intact
    assert report.events == start + 7


def test_a_conflict_fails_only_its_save_and_the_others_commit(runtime: Runtime) -> None:
    recorder = _recorder(runtime)
    taken, partly, twice, fine = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    recorder.insert_events([_event(taken, 1)])
    recorder.insert_events([_event(partly, 1), _event(partly, 2)])
    start = runtime.app.head_position()
    saves = _Saves(recorder)
    with _table_locked(runtime):
        saves.start("plug", [_event(uuid.uuid4(), 1)], queued=0)
        _wait_until(lambda: recorder._leading)
        saves.start("first", [_event(twice, 1)], queued=1)
        saves.start("stale", [_event(taken, 1)], queued=2)  # the store has it
        # its version 3 is free, 2 is not: written alone it would be half a save
        saves.start("half", [_event(partly, 3), _event(partly, 2)], queued=3)
        saves.start("second", [_event(twice, 1, b'{"n":2}')], queued=4)  # as "first"
        saves.start("fine", [_event(fine, 1)], queued=5)
    answers = saves.join()

    for name in ("stale", "half", "second"):
        assert isinstance(answers[name], IntegrityError), name
    written = _log(runtime, start)
    ids = {(o, v): i for i, o, v in written}
    assert answers["first"] == [ids[(twice, 1)]]
    assert answers["fine"] == [ids[(fine, 1)]]
    assert answers["first"][0] < answers["fine"][0]  # insert order = arrival order
    (plug,) = answers["plug"]
    assert sorted(ids.values()) == sorted([plug, *answers["first"], *answers["fine"]])
    assert (partly, 3) not in ids  # nothing of the failed save
    state = runtime.app.recorder.select_events(twice)
    assert [e.state for e in state] == [b"{}"]  # the first of the group won
    report = verify_chain(runtime.database.conninfo, batch=4, workers=1)
    assert report.intact


THREADS = 16
PER_THREAD = 12
SHARED = 3  # topics every thread comments on (conflicting writers)


def test_racing_commands_through_the_batcher_lose_and_double_nothing(
    small_runtime: Runtime,
) -> None:
    app = small_runtime.app
    recorder = _recorder(small_runtime)
    shared = [
        app.submit_topic(staff(VILLAGE), **submission(title=f"共享议题{i}")).topic_id
        for i in range(SHARED)
    ]
    stale_topic = app.submit_topic(staff(VILLAGE), **submission(title="版本议题")).topic_id
    start = app.head_position()
    groups_before, saves_before = recorder.groups_written, recorder.saves_grouped
    barrier = threading.Barrier(THREADS)

    def client(n: int) -> tuple[list[CommandResult], list[LinkageError]]:
        results: list[CommandResult] = []
        refused: list[LinkageError] = []
        barrier.wait()
        for i in range(PER_THREAD):
            try:
                if i % 3 == 0:  # independent: a new topic
                    results.append(
                        app.submit_topic(staff(VILLAGE), **submission(title=f"议题{n}-{i}"))
                    )
                elif i % 3 == 1:  # conflicting: everybody comments on the shared topics
                    topic = shared[(n + i) % SHARED]
                    results.append(
                        app.handle(staff(VILLAGE), AddComment(topic_id=topic, text=f"意见{n}-{i}"))
                    )
                else:  # conflicting with a version: at most one per version wins
                    version = app.get_topic(stale_topic).version
                    results.append(
                        app.handle(
                            staff(VILLAGE),
                            AddComment(topic_id=stale_topic, text=f"按版本{n}-{i}"),
                            expected_version=version,
                        )
                    )
            except ConflictError as err:
                refused.append(err)
        return results, refused

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(client, range(THREADS)))
    results = [r for rs, _ in outcomes for r in rs]
    refused = [e for _, es in outcomes for e in es]

    written = _log(small_runtime, start)
    by_position = {i: (o, v) for i, o, v in written}
    # every answer names its own event: the topic at that version, at that position
    assert sorted(r.position for r in results) == sorted({r.position for r in results})
    for result in results:
        assert by_position[result.position] == (result.topic_id, result.version)
    # nothing lost, nothing doubled: the log holds exactly the answered events
    assert len(written) == len(results) == len(set(by_position.values()))
    assert all(e.rule == "VERSION_CONFLICT" for e in refused)
    independent = THREADS * -(-PER_THREAD // 3)
    shared_comments = THREADS * len(range(1, PER_THREAD, 3))
    assert sum(1 for r in results if r.topic_id not in [*shared, stale_topic]) == independent
    assert sum(1 for r in results if r.topic_id in shared) == shared_comments
    assert len(results) + len(refused) == THREADS * PER_THREAD
    for topic_id in [*shared, stale_topic]:  # versions without a hole
        versions = [v for _, o, v in written if o == topic_id]
        assert versions == sorted(versions)
        assert versions == list(range(versions[0], versions[0] + len(versions)))
    # every save went through the batcher (retried ones more than once)
    assert recorder.saves_grouped - saves_before >= len(results)
    assert 0 < recorder.groups_written - groups_before <= recorder.saves_grouped - saves_before
    report = verify_chain(small_runtime.database.conninfo, batch=50, workers=2)
    assert report.intact
    assert report.events == written[-1][0]


@pytest.mark.parametrize("group_commit", [True, False])
def test_a_duplicate_submission_racing_its_original_is_answered_as_one(
    small_runtime: Runtime, group_commit: bool
) -> None:
    app = small_runtime.app
    _recorder(small_runtime).group_commit = group_commit
    barrier = threading.Barrier(8)

    def submit(_: int) -> CommandResult:
        barrier.wait()
        return app.submit_topic(staff(VILLAGE), **submission(external_ref="HOT-12345-1"))

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(submit, range(8)))
    assert len({a.topic_id for a in answers}) == 1
    assert sum(not a.duplicate for a in answers) == 1
    assert len(app.recorder.select_events(answers[0].topic_id)) == 1
