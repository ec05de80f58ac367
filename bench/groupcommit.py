"""In-process commands beside their references, all in one run on one server:

* `pgbench`, 1 and 8 clients, single-row INSERTs into a scratch table (if the
  `pgbench` program is installed) — what the server commits at all;
* raw eventsourcing saves, 1 and 8 threads: a trivial aggregate per transaction
  through the library's own PostgreSQL recorder (its EXCLUSIVE lock and NOTIFY);
* `LinkageApp.submit_topic` (every rule, the sealed submitter left out, the hash
  chain), 1 and 8 threads, with group commit off (one transaction per command, as
  before issue 22) and on.

The commands run on the benchmark store (its units); the references in the
scratch database `bench_reference` of the same server.

    python -m bench.groupcommit [--home bench/.data] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.reference import PAYLOAD, Note, ReferenceApp, scratch_database
from domain.topic import Actor, Role
from infra.bootstrap import Runtime, bootstrap
from infra.database import Database
from infra.recorder import LinkageRecorder
from infra.settings import Settings

THREADS = (1, 8)


def _for(seconds: float, threads: int, work: Callable[[int], Callable[[], None]]) -> float:
    """Calls/s of `work(i)()` from `threads` threads for `seconds`."""
    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)
    deadline = [0.0]

    def run(i: int) -> None:
        call = work(i)
        barrier.wait()
        n = 0
        while time.perf_counter() < deadline[0]:
            call()
            n += 1
        counts[i] = n

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    barrier.wait()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def pgbench(database: Database, seconds: float, clients: int) -> float | None:
    """pgbench's transactions/s of one single-row INSERT each (None without pgbench)."""
    program = shutil.which("pgbench")
    if program is None:
        return None
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS scratch"
            " (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload text)"
        )
    p = database.params
    with tempfile.NamedTemporaryFile("w", suffix=".sql", encoding="utf-8") as script:
        script.write(f"INSERT INTO scratch (payload) VALUES ('{PAYLOAD}');\n")
        script.flush()
        done = subprocess.run(
            [program, "-n", "-c", str(clients), "-j", str(min(clients, 2)),
             "-T", str(max(1, round(seconds))), "-f", script.name,
             "-h", str(p.get("host", "localhost")), "-p", str(p.get("port", 5432)),
             "-U", str(p.get("user", "")), str(p.get("dbname", ""))],
            capture_output=True, text=True, check=True,
            env={"PGPASSWORD": str(p.get("password", "")), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
    found = re.search(r"tps = ([\d.]+)", done.stdout)
    return float(found.group(1)) if found else None


def es_saves(database: Database, seconds: float, threads: int) -> float:
    env = database.eventsourcing_env(pool_size=threads)
    del env["APPLICATION_RECORDER_TOPIC"]  # the library's recorder, not ours
    app = ReferenceApp(env=env)
    try:
        return _for(seconds, threads, lambda _: lambda: app.save(Note()))
    finally:
        app.close()


def _villages(runtime: Runtime, n: int) -> list[str]:
    with runtime.database.connect() as conn:
        rows = conn.execute(
            "SELECT code FROM units WHERE level = 5 AND NOT retired ORDER BY code LIMIT %s", (n,)
        ).fetchall()
    if not rows:
        raise SystemExit("the store has no villages: fill it first (python -m bench)")
    return [str(r[0]) for r in rows]


def submits(runtime: Runtime, seconds: float, threads: int, group: bool) -> dict[str, Any]:
    recorder = runtime.app.recorder
    assert isinstance(recorder, LinkageRecorder)
    recorder.group_commit = group
    villages = _villages(runtime, threads)
    groups, saves = recorder.groups_written, recorder.saves_grouped

    def work(i: int) -> Callable[[], None]:
        actor = Actor(f"bench-{i}", villages[i % len(villages)], Role.STAFF)
        n = [0]

        def submit() -> None:
            n[0] += 1
            runtime.app.submit_topic(
                actor,
                title=f"压测议题 {i}-{n[0]}",
                description="小区路灯损坏，夜间出行不便",
                category="市政设施",
                source="GRID",
                location=actor.unit,
            )

        return submit

    rate = _for(seconds, threads, work)
    result: dict[str, Any] = {"commands_per_s": round(rate)}
    if group:
        written = recorder.groups_written - groups
        result["saves_per_group"] = round((recorder.saves_grouped - saves) / max(written, 1), 2)
    return result


def run(home: Path, seconds: float = 5.0) -> dict[str, Any]:
    reference = scratch_database(home)
    results: dict[str, Any] = {"seconds_each": seconds}
    for n in THREADS:
        tps = pgbench(reference, seconds, n)
        results[f"pgbench_{n}_clients_tps"] = None if tps is None else round(tps)
    for n in THREADS:
        results[f"eventsourcing_{n}_threads_saves_per_s"] = round(es_saves(reference, seconds, n))
    settings = Settings.from_env({"LINKAGE_HOME": str(home.resolve())})
    with bootstrap(settings, pool_size=max(THREADS) + 2) as runtime:
        for n in THREADS:
            for group in (False, True):
                key = f"linkage_{n}_threads_{'group' if group else 'single'}"
                results[key] = submits(runtime, seconds, n, group)
    top = results[f"linkage_{max(THREADS)}_threads_group"]["commands_per_s"]
    results["commands_per_s"] = top
    pg8 = results[f"pgbench_{max(THREADS)}_clients_tps"]
    es8 = results[f"eventsourcing_{max(THREADS)}_threads_saves_per_s"]
    results["vs_pgbench_8"] = round(top / pg8, 2) if pg8 else None
    results["vs_eventsourcing_8"] = round(top / es8, 2) if es8 else None
    results["notes"] = [
        "submit_topic in process (no HTTP), the benchmark store's villages; "
        "references in a scratch database of the same server; machine shared"
    ]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("bench/.data"))
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps(run(args.home, args.seconds), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
