"""Connection pools that survive a PostgreSQL restart and fail fast during an outage.

Every pool of the process — eventsourcing's (the event store, each read model, the
unit directory, the privacy vault) and the API's read pool, which the idempotency
store shares — hands out connections through `live_getconn`:

* A connection is checked before it is handed out. One a restart killed is
  discarded and the next is tried, without the library's back-off sleep, so the
  first request after a restart is served. The check costs no round trip when it
  need not: an idle connection whose socket has nothing to read is live as far as
  the client can tell (a server that stops or restarts ends its sessions with a
  message and closes their sockets, so a killed connection has something to read);
  only one with something pending, or not idle, is checked with an empty statement
  (one round trip — which was 13 % of an API worker's time per command, issue 22).
* A request waits at most `POOL_WAIT` for a pooled connection. When none came and
  the pool is not simply busy (fewer connections out than its size) one direct
  connection is opened for it, bounded by `CONNECT_TIMEOUT`: served when the
  server answers again even while the pool is still backing off its own
  reconnection, `DatabaseUnreachableError` at once when it does not.
* When every connection is out (load, not an outage) the request queues for the
  pool's own timeout, as before.

`DatabaseUnreachableError` is deliberately not a `psycopg.OperationalError`: the
library retries those ten times, 0.2 s apart, which is what made requests hang for
seconds in an outage. The API maps it (and every driver or library connection
error) to UNAVAILABLE (`api.errors.database_unreachable`).
"""

from __future__ import annotations

import select
import threading
from contextlib import suppress
from time import monotonic
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

POOL_WAIT = 0.3  # seconds a request waits for a pooled connection before connecting itself
CONNECT_TIMEOUT = 2  # seconds a connection attempt waits for the server (libpq's minimum)
BUSY_WAIT = 5.0  # seconds a request queues when every connection of the pool is out


class DatabaseUnreachableError(psycopg.Error):
    """No connection could be made to PostgreSQL just now (refused, or timed out)."""


class _Live:
    """The state `live_getconn` keeps on a pool: connections out, direct ones."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.out = 0
        self.direct: set[int] = set()


def harden(pool: ConnectionPool[Any]) -> ConnectionPool[Any]:
    """Make `pool` (psycopg_pool's or eventsourcing's subclass) hand out live connections
    only, and fail fast when the server cannot be reached. Returns the pool."""
    if getattr(pool, "_linkage_live", None) is not None:
        return pool
    pool._linkage_live = _Live()  # type: ignore[attr-defined]
    pool.__class__ = _live_class(type(pool))
    if isinstance(pool.kwargs, dict):
        pool.kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
    pool.timeout = min(pool.timeout, BUSY_WAIT)
    return pool


_CLASSES: dict[type[Any], type[Any]] = {}


def _live_class(base: type[Any]) -> type[Any]:
    if base not in _CLASSES:
        _CLASSES[base] = type(
            "Live" + base.__name__,
            (base,),
            {"getconn": live_getconn, "putconn": live_putconn},
        )
    return _CLASSES[base]


def live_getconn(self: Any, timeout: float | None = None) -> Any:
    live: _Live = self._linkage_live
    deadline = monotonic() + (self.timeout if timeout is None else timeout)
    base: Any = super(type(self), self)
    for _ in range(self.max_size + 1):
        conn = _pooled(self, base, live, deadline)
        if conn is None:
            break
        try:
            _check(conn)
        except psycopg.Error:  # killed by a restart: the pool replaces it
            base.putconn(conn)
            continue
        with live.lock:
            live.out += 1
        return conn
    return _direct(self, live)


def _check(conn: Any) -> None:
    """psycopg_pool's `check_connection`, through a plain cursor: a pool's own cursor
    class may count statements (api.state's does, for /metrics and the tests) — unless
    the connection is idle and its socket quiet (see the module doc)."""
    if _quiet(conn):
        return
    if conn.autocommit:
        psycopg.Cursor(conn).execute("")
        return
    conn.autocommit = True
    try:
        psycopg.Cursor(conn).execute("")
    finally:
        with suppress(psycopg.Error):  # a dead connection: keep the check's error
            conn.autocommit = False


def _quiet(conn: Any) -> bool:
    """Idle, in no transaction, and nothing from the server waiting on its socket."""
    pgconn = conn.pgconn
    if pgconn.status != psycopg.pq.ConnStatus.OK:
        return False
    if pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return False
    try:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return False
    return not readable


def _pooled(self: Any, base: Any, live: _Live, deadline: float) -> Any:
    """A pooled connection, or None when none came soon and the pool is not just busy."""
    try:
        return base.getconn(max(0.01, min(POOL_WAIT, deadline - monotonic())))
    except PoolTimeout:
        pass
    with live.lock:
        busy = live.out >= self.max_size
    if busy and deadline > monotonic():
        return base.getconn(deadline - monotonic())  # PoolTimeout when it stays full
    return None


def _direct(self: Any, live: _Live) -> Any:
    try:
        conn = self._connect(timeout=CONNECT_TIMEOUT)  # configured as the pool's own
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseUnreachableError(f"the database cannot be reached: {first}") from exc
    with live.lock:
        live.direct.add(id(conn))
    return conn


def live_putconn(self: Any, conn: Any) -> None:
    live: _Live = self._linkage_live
    with live.lock:
        direct = id(conn) in live.direct
        live.direct.discard(id(conn))
        if not direct:
            live.out = max(0, live.out - 1)
    if direct:
        conn._pool = None
        conn.close()
        return
    super(type(self), self).putconn(conn)
