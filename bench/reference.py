"""The references every figure of `python -m bench` is read beside, measured in the
same run on the same PostgreSQL server (DESIGN §9 quotes them for this machine):

* raw psycopg: one client, autocommit single-row INSERTs into a scratch table —
  what one connection can commit per second at all;
* raw eventsourcing: a trivial aggregate created and saved, one per transaction,
  through the library's own PostgreSQL application recorder — the floor under any
  command of ours;
* raw kafka-python: keyed messages of an event's size produced to the broker with
  the relay's producer settings (`acks=all`, idempotent) — the ceiling of the relay.

Both run in a scratch database (`bench_reference`), created afresh each time.

    python -m bench.reference [--home bench/.data] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from psycopg import sql

from infra.database import Database, start_embedded

SCRATCH_DBNAME = "bench_reference"
PAYLOAD = "居民反映小区路灯损坏，夜间出行不便；" * 4  # about the size of a small event


class Note(Aggregate):
    """Nothing but the created event: the cheapest aggregate there is."""


class ReferenceApp(Application[Any]):
    pass


def scratch_database(home: Path) -> Database:
    """A fresh `bench_reference` database on the store's embedded server."""
    admin = start_embedded(home.resolve() / "pgdata", dbname="postgres")
    with psycopg.connect(admin.conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(SCRATCH_DBNAME)
            )
        )
    return start_embedded(home.resolve() / "pgdata", dbname=SCRATCH_DBNAME)


def psycopg_inserts(database: Database, seconds: float) -> dict[str, Any]:
    """Single-row INSERTs, one client, autocommit: rows/s."""
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS scratch"
            " (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload text)"
        )
        inserted = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            for _ in range(50):
                conn.execute("INSERT INTO scratch (payload) VALUES (%s)", (PAYLOAD,))
            inserted += 50
        elapsed = time.perf_counter() - started
    return {
        "rows": inserted,
        "seconds": round(elapsed, 1),
        "rows_per_s": round(inserted / elapsed),
        "notes": ["1 client, autocommit, one row per transaction, server on this machine"],
    }


def eventsourcing_saves(database: Database, seconds: float) -> dict[str, Any]:
    """Aggregates created and saved one per transaction by eventsourcing's own
    PostgreSQL recorder (its table lock and NOTIFY included): saves/s."""
    env = database.eventsourcing_env(pool_size=1)
    del env["APPLICATION_RECORDER_TOPIC"]  # the library's recorder, not ours
    app = ReferenceApp(env=env)
    try:
        saved = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            for _ in range(20):
                app.save(Note())
            saved += 20
        elapsed = time.perf_counter() - started
    finally:
        app.close()
    return {
        "aggregates": saved,
        "seconds": round(elapsed, 1),
        "saves_per_s": round(saved / elapsed),
        "notes": ["1 thread, eventsourcing's PostgresApplicationRecorder, one save per commit"],
    }


def kafka_produce(bootstrap: str, seconds: float, partitions: int = 6) -> dict[str, Any]:
    """Keyed messages of ~600 bytes to a fresh topic, flushed (acknowledged) every
    5,000, with the relay's producer: messages/s."""
    from kafka import KafkaProducer

    from infra.stream.relay import ensure_topic, producer_config

    topic = f"bench.reference.{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions)
    producer = KafkaProducer(**producer_config(bootstrap))
    value = json.dumps({"type": "CommentAdded", "data": {"text": PAYLOAD * 2}}).encode()
    try:
        sent = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            for i in range(5_000):
                producer.send(topic, key=f"topic-{sent + i}".encode(), value=value)
            producer.flush(30)
            sent += 5_000
        elapsed = time.perf_counter() - started
    finally:
        producer.close(5)
    return {
        "messages": sent,
        "bytes_each": len(value),
        "seconds": round(elapsed, 1),
        "messages_per_s": round(sent / elapsed),
        "notes": [f"kafka-python, relay's producer settings, {partitions} partitions"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("bench/.data"))
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    database = scratch_database(args.home)
    results = {
        "psycopg": psycopg_inserts(database, args.seconds),
        "eventsourcing": eventsourcing_saves(database, args.seconds),
    }
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
