"""The connection pools of infra.pools on a real PostgreSQL that is stopped and started
again (issue 15, items 5 and 17): a restart's dead connections are never handed out,
an outage fails at once, a busy pool still queues."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from infra.bootstrap import Runtime
from infra.database import Database
from infra.pools import DatabaseUnreachableError, _quiet, harden
from tests.utils.outage import postgres_down

Pool = ConnectionPool[psycopg.Connection[Any]]


@pytest.fixture
def pool(database: Database) -> Iterator[Pool]:
    opened: Pool = ConnectionPool(
        database.conninfo, min_size=2, max_size=2, kwargs={"autocommit": True}, open=True
    )
    opened.wait(10)
    yield harden(opened)
    opened.close()


def _backend(pool: Pool) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def test_after_a_restart_the_pool_hands_out_a_live_connection(
    pool: Pool, pg_admin: str, database: Database
) -> None:
    before = _backend(pool)

    with postgres_down(pg_admin, database):
        pass

    after = _backend(pool)  # the pool's two connections died: neither is handed out
    assert after != before
    assert pool.get_stats().get("returns_bad", 0) >= 1


def test_an_outage_fails_at_once_with_database_unreachable(
    pool: Pool, pg_admin: str, database: Database
) -> None:
    with postgres_down(pg_admin, database), pytest.raises(DatabaseUnreachableError) as caught:
        _backend(pool)

    assert "the database cannot be reached" in str(caught.value)
    assert not isinstance(caught.value, psycopg.OperationalError)  # the library retries those
    assert _backend(pool) > 0  # and serves again once PostgreSQL is back


def test_a_busy_pool_queues_for_its_connections_instead_of_opening_more(pool: Pool) -> None:
    held = [pool.getconn(), pool.getconn()]  # every connection of the pool is out
    opened = pool.get_stats()["connections_num"]
    waiting = threading.Event()

    def give_one_back() -> None:
        waiting.wait(10)
        threading.Event().wait(1.0)  # longer than POOL_WAIT: the request must queue
        pool.putconn(held.pop())

    returner = threading.Thread(target=give_one_back)
    returner.start()
    waiting.set()
    conn = pool.getconn(timeout=10)
    returner.join(10)

    assert pool.get_stats()["connections_num"] == opened  # no direct connection was made
    pool.putconn(conn)
    pool.putconn(held.pop())


def test_every_pool_of_a_runtime_is_hardened(runtime: Runtime) -> None:
    pools = [
        runtime.app.recorder.datastore.pool,  # type: ignore[attr-defined]
        runtime.units_view.datastore.pool,
        runtime.vault.datastore.pool,
        *(view.datastore.pool for view in runtime.projections.views.values()),
    ]

    for each in pools:
        assert getattr(each, "_linkage_live", None) is not None, each
        assert each.timeout <= 5
        assert each.kwargs["connect_timeout"] == 2


def test_an_idle_live_connection_is_handed_out_without_a_check_and_a_killed_one_is_not(
    pool: Pool, database: Database
) -> None:
    """The check's round trip is skipped only for an idle connection whose socket is
    quiet; a connection the server ended has its termination to read, so it is
    checked, found dead and replaced (issue 22)."""
    conn = pool.getconn()
    try:
        assert _quiet(conn)  # idle, live, nothing pending: no round trip needed
        backend = conn.info.backend_pid
        with database.connect() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        deadline = time.monotonic() + 10
        while _quiet(conn):  # the server's FATAL message and the closed socket arrive
            assert time.monotonic() < deadline, "the ended session never showed"
            time.sleep(0.01)
    finally:
        pool.putconn(conn)
    assert _backend(pool) != backend  # the dead one was not handed out
