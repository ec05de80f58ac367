"""Thirty writers on one topic in real PostgreSQL (issue 15, item 9): a plain comment
practically never fails for contention. Within one process the writers of a topic
take turns; between processes (here two application instances on one database) a
lost race is retried after a jittered, growing pause instead of five immediate
retries that all collide again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from domain.application import CommandResult, LinkageApp
from domain.errors import LinkageError
from domain.topic_commands import AddComment
from infra.bootstrap import Runtime
from tests.utils.factories import VILLAGE, staff, submission

WRITERS = 30
COMMENTS_EACH = 4


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def apps(request: pytest.FixtureRequest, small_runtime: Runtime) -> Iterator[list[LinkageApp]]:
    """The writers' applications: the runtime's, and for two "processes" a second
    instance with its own connection pool and its own turns."""
    more = [
        LinkageApp(env=small_runtime.database.eventsourcing_env(5), units=small_runtime.units)
        for _ in range(request.param - 1)
    ]
    try:
        yield [small_runtime.app, *more]
    finally:
        for app in more:
            app.close()


def test_thirty_writers_commenting_on_one_topic_all_succeed(
    small_runtime: Runtime, apps: list[LinkageApp]
) -> None:
    app = small_runtime.app
    topic_id = app.submit_topic(staff(VILLAGE), **submission()).topic_id
    start = threading.Barrier(WRITERS)
    lock = threading.Lock()
    wins: list[CommandResult] = []
    losses: list[LinkageError] = []

    def write(writer: int) -> None:
        start.wait()
        for n in range(COMMENTS_EACH):
            try:
                result = apps[writer % len(apps)].handle(
                    staff(VILLAGE, f"u{writer}"),
                    AddComment(topic_id=topic_id, text=f"意见{writer}-{n}"),
                )
            except LinkageError as err:
                with lock:
                    losses.append(err)
            else:
                with lock:
                    wins.append(result)

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))

    assert losses == []
    total = WRITERS * COMMENTS_EACH
    assert sorted(w.version for w in wins) == list(range(2, total + 2))
    assert len({w.position for w in wins}) == total
    assert app.get_topic(topic_id).comments == total
    with small_runtime.database.connect() as conn:
        rows = conn.execute(
            "SELECT count(*) FROM linkage_events WHERE originator_id = %s", (topic_id,)
        ).fetchone()
    assert rows is not None
    assert rows[0] == total + 1
