"""R5: what the web stack itself allows — the ceiling P1 is read beside.

Two bare apps on the same uvicorn (same workers), the same load generator as P1
(`bench.api`: one thread and one keep-alive connection per client) and the same
PostgreSQL server, each request one INSERT of one row in its own transaction:

* a bare FastAPI POST endpoint (`/insert`, a JSON body, a JSON answer);
* a bare strawberry mutation (`/graphql`, `submit(title, description) { id }`)
  with strawberry's ParserCache and ValidationCache, as Linkage's schema has them.

No authentication, no rules, no event store, no read models: the difference to P1
is what Linkage's own work costs.

    python -m bench.bare [--home bench/.data] [--clients 32] [--seconds 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any

import psycopg
import strawberry
from fastapi import FastAPI
from psycopg_pool import ConnectionPool
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.fastapi import GraphQLRouter

from bench.api import _free_port, _percentiles, _wait_ready
from bench.reference import PAYLOAD, scratch_database

DSN_VARIABLE = "BENCH_BARE_DSN"
TABLE = "bare_topics"
MUTATION = "mutation($t: String!, $d: String!) { submit(title: $t, description: $d) { id } }"


_pool: list[ConnectionPool] = []  # the worker's pool, opened by create_app


def insert(title: str, description: str) -> int:
    with _pool[0].connection() as conn:
        row = conn.execute(
            f"INSERT INTO {TABLE} (title, description) VALUES (%s, %s) RETURNING id",
            (title, description),
        ).fetchone()
    assert row is not None
    return int(row[0])


@strawberry.type
class Submitted:
    id: int


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> bool:
        return True


@strawberry.type
class Mutation:
    @strawberry.mutation
    def submit(self, title: str, description: str) -> Submitted:
        return Submitted(id=insert(title, description))


def create_app() -> FastAPI:
    """uvicorn's factory in each worker: a pool, the endpoint and the mutation."""
    _pool.append(
        ConnectionPool(
            os.environ[DSN_VARIABLE], min_size=4, max_size=8, kwargs={"autocommit": True}
        )
    )
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[lambda: ParserCache(maxsize=100), lambda: ValidationCache(maxsize=100)],
    )
    app = FastAPI()
    app.include_router(GraphQLRouter(schema, graphql_ide=None), prefix="/graphql")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/insert")
    def insert_endpoint(body: dict[str, Any]) -> dict[str, int]:
        return {"id": insert(str(body["title"]), str(body["description"]))}

    return app


class _Client:
    def __init__(self, port: int) -> None:
        self.conn = HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        answer = json.loads(self.conn.getresponse().read())
        return answer if isinstance(answer, dict) else {}


def _load(port: int, path: str, clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        connection = _Client(port)
        n = 0
        try:
            while time.perf_counter() < deadline:
                n += 1
                title, description = f"压测议题 {i}-{n}", PAYLOAD
                if path == "/graphql":
                    body = {"query": MUTATION, "variables": {"t": title, "d": description}}
                else:
                    body = {"title": title, "description": description}
                started = time.perf_counter()
                try:
                    answer = connection.post(path, body)
                except (OSError, HTTPException, ValueError) as exc:
                    with lock:
                        failures.append(repr(exc)[:200])
                    connection.conn.close()
                    continue
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if answer.get("errors") or not (answer.get("data") or answer.get("id")):
                        failures.append(str(answer)[:200])
        finally:
            connection.conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "requests_per_s": round((len(latencies) - len(failures)) / elapsed, 1),
        "requests": len(latencies),
        "failed": len(failures),
        "first_failures": failures[:2],
        **_percentiles(latencies),
    }


def run(home: Path, clients: int = 32, seconds: float = 10.0, workers: int = 2) -> dict[str, Any]:
    database = scratch_database(home)
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY,"
            " at timestamptz NOT NULL DEFAULT now(), title text NOT NULL,"
            " description text NOT NULL)"
        )
    port = _free_port()
    env = {**os.environ, DSN_VARIABLE: database.conninfo}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.bare:create_app", "--factory",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log"],
        env=env,
    )  # fmt: skip
    try:
        _wait_ready(f"http://127.0.0.1:{port}")
        fastapi = _load(port, "/insert", clients, seconds)
        graphql = _load(port, "/graphql", clients, seconds)
    finally:
        server.terminate()
        server.wait(30)
    return {
        "clients": clients,
        "workers": workers,
        "fastapi": fastapi,
        "strawberry": graphql,
        "requests_per_s": graphql["requests_per_s"],  # the ceiling for a GraphQL command
        "p99_ms": graphql.get("p99_ms"),
        "notes": [
            f"uvicorn --workers {workers}, {clients} clients (bench.api's load generator), "
            "one INSERT per request; strawberry with ParserCache and ValidationCache"
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("bench/.data"))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    result = run(args.home, args.clients, args.seconds, args.workers)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
