"""GraphQL over real HTTP for the end-to-end tests: a `gql` client acting for one
token, and a live server on a database of its own that a whole module can share."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from gql import Client, GraphQLRequest
from gql.client import SyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport
from psycopg import sql
from psycopg.conninfo import make_conninfo

from api.entry.server import running
from infra.bootstrap import build_runtime
from infra.database import Database, create_database
from infra.settings import Settings
from tests.e2e.conftest import Live
from tests.utils.factories import SMALL_HIERARCHY
from tests.utils.units import load_units


class GraphQLSession:
    """A `gql` client acting with one set of headers (usually one bearer token).

    It keeps its connection open between requests (a new httpx client per request
    costs tens of milliseconds); `close` it, or use it as a context manager."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        transport = HTTPXTransport(url=url + "/graphql", headers=headers or {}, timeout=30)
        self.client = Client(transport=transport, fetch_schema_from_transport=False)
        self._session: SyncClientSession | None = None

    def run(self, query: str, **variables: Any) -> dict[str, Any]:
        """The response's `data`; a response with errors raises TransportQueryError."""
        if self._session is None:
            self._session = self.client.connect_sync()
        request = GraphQLRequest(query, variable_values=variables or None)
        result: dict[str, Any] = self._session.execute(request)
        return result

    def close(self) -> None:
        if self._session is not None:
            self._session = None
            self.client.close_sync()

    def __enter__(self) -> GraphQLSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def refusal(self, query: str, **variables: Any) -> TransportQueryError:
        """The error a query must be answered with (fails the test if it succeeds)."""
        try:
            data = self.run(query, **variables)
        except TransportQueryError as exc:
            return exc
        raise AssertionError(f"expected an error, got data {data!r}")


def codes(error: TransportQueryError) -> list[tuple[str, str]]:
    """(code, rule) of each error of a refused request."""
    return [
        (e.get("extensions", {}).get("code"), e.get("extensions", {}).get("rule"))
        for e in error.errors or []
    ]


@contextmanager
def live_small_slice(pg_admin: str, home: Path) -> Iterator[Live]:
    """A live server on a fresh database holding the small slice of Gansu, for a
    module-scoped fixture (the `live` fixture costs a server per test)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    create_database(pg_admin, name)
    try:
        database = Database(make_conninfo(pg_admin, dbname=name))
        settings = Settings.from_env({"LINKAGE_HOME": str(home)})
        with build_runtime(database, settings) as runtime:
            load_units(runtime, SMALL_HIERARCHY)
            with running(runtime) as server:
                yield Live(server)
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
