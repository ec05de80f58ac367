"""P2 of DESIGN §9: bulk intake in events/s, through the batch API and through simulate.

    python -m bench.intake [--quick] [--home DIR]

On a fresh embedded store (a temporary folder unless `--home`) with the Gansu
hierarchy imported:

* `batch_api`: `linkage serve` in its own process; `CLIENTS` concurrent clients post
  `POST /api/v1/topics:batch` with `BATCH` appeals each (12345 work orders with an
  externalRef, across the villages) for the measured seconds; every item must come
  back CREATED. One appeal is one event (TopicSubmitted).
* `simulate`: `linkage simulate`'s path (the domain plays whole topic histories,
  ~12 events each, saved a chunk per transaction by binary COPY), once played in
  this process and once in worker processes, the saving always here.
* `reference_copy`: the same encoded events copied again into a scratch table of
  the same shape with no lock, ids or triggers: the ceiling the store's COPY gives.

Everything runs on the one machine: the load generator, the server and PostgreSQL
share its cores. `run(quick)` is what `python -m bench` calls; results go to
bench/results-intake.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import httpx

from api.auth import TokenService
from bench.api import _free_port, _memory, _wait_ready
from domain.topic import Role
from domain.units import Level, Unit
from infra.bootstrap import Runtime, bootstrap
from infra.secret import signing_secret
from infra.settings import Settings
from infra.simulate import Chunk, Simulator
from infra.units_import import GANSU, import_units

BATCH = 1000
CLIENTS = 2
RESULTS = Path(__file__).with_name("results-intake.json")


def run(quick: bool = False) -> dict[str, Any]:
    """Measure P2 on a fresh store; the results (`main` writes them to results-intake.json)."""
    with tempfile.TemporaryDirectory(prefix="linkage-bench-intake-") as scratch:
        return measure(Path(scratch), quick, stop_server=True)


def measure(home: Path, quick: bool, *, stop_server: bool = False) -> dict[str, Any]:
    settings = Settings.from_env({"LINKAGE_HOME": str(home)})
    with bootstrap(settings) as runtime:
        if runtime.units_view.count() == 0:
            import_units(runtime, GANSU)
        places = runtime.units_view.units_of("62", [Level.TOWNSHIP, Level.VILLAGE])
        results: dict[str, Any] = {
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, {_memory()}",
            "load_average_at_start": round(os.getloadavg()[0], 1),
            "target": ">= 20000 events/s",
        }
        token = TokenService(signing_secret(settings), None).issue("62", [Role.INTAKE])
        villages = [p.code for p in places if p.level == Level.VILLAGE]
        results["batch_api"] = _batch_api(home, token, villages, 5 if quick else 20)
        topics = 2_000 if quick else 40_000
        workers = min(os.cpu_count() or 1, 4)
        results["simulate_in_process"] = _simulate(runtime, places, topics, seed=101, workers=0)
        results["simulate_workers"] = _simulate(runtime, places, topics, seed=102, workers=workers)
        results["reference_copy"] = _reference_copy(runtime, places)
        results["store_events"] = runtime.app.head_position()
        results["load_average_at_end"] = round(os.getloadavg()[0], 1)
        server = runtime.database.embedded_server
    if stop_server and server is not None:
        server.cleanup()  # before its temporary folder goes
    return results


def _batch_api(home: Path, token: str, villages: list[str], seconds: float) -> dict[str, Any]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "api.entry.cli", "serve", "--port", str(port), "--workers", "1"],
        env={**os.environ, "LINKAGE_HOME": str(home)},
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/v1/topics:batch"
    created = failed = posts = 0
    latencies: list[float] = []
    lock = threading.Lock()
    try:
        _wait_ready(f"http://127.0.0.1:{port}")
        deadline = time.perf_counter() + seconds

        def client(number: int) -> None:
            nonlocal created, failed, posts
            sent = 0
            with httpx.Client(timeout=120, headers={"Authorization": "Bearer " + token}) as http:
                while time.perf_counter() < deadline:
                    items = [_appeal(villages, f"bench-{number}-{sent + i}") for i in range(BATCH)]
                    sent += BATCH
                    started = time.perf_counter()
                    response = http.post(url, json={"items": items})
                    answer = response.json() if response.status_code == 200 else {}
                    with lock:
                        latencies.append(time.perf_counter() - started)
                        posts += 1
                        created += int(answer.get("created", 0))
                        failed += BATCH - int(answer.get("created", 0))

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(30)
    latencies.sort()
    return {
        "clients": CLIENTS,
        "items_per_post": BATCH,
        "posts": posts,
        "events": created,
        "failed_items": failed,
        "seconds": round(elapsed, 1),
        "events_per_s": round(created / elapsed),
        "post_p50_ms": round(latencies[len(latencies) // 2] * 1000) if latencies else None,
        "server": "linkage serve --workers 1 (uvicorn), projections in-process",
    }


def _appeal(villages: list[str], ref: str) -> dict[str, str]:
    village = villages[zlib.crc32(ref.encode()) % len(villages)]
    return {
        "title": "12345工单：小区二次供水水压不足",
        "description": "市民来电反映：早晚用水高峰时段水压不足，热水器无法点火，请协调解决。",
        "category": "供水",
        "source": "HOTLINE_12345",
        "locationUnit": village,
        "externalRef": ref,
    }


def _simulate(
    runtime: Runtime, places: list[Unit], topics: int, *, seed: int, workers: int
) -> dict[str, Any]:
    simulator = Simulator(runtime.app, runtime.units, places, seed=seed, workers=workers)
    started = time.perf_counter()
    report = simulator.run(topics)
    elapsed = time.perf_counter() - started
    return {
        "topics": report.topics,
        "events": report.events,
        "workers": workers,
        "seconds": round(elapsed, 1),
        "events_per_s": round(report.events / elapsed),
    }


def _reference_copy(runtime: Runtime, places: list[Unit]) -> dict[str, Any]:
    """Raw binary COPY of the same kind of events into an unlocked scratch table."""
    simulator = Simulator(runtime.app, runtime.units, places, seed=103)
    stored = [
        event
        for i in range(10)
        for event in simulator.histories.play(103, Chunk(i, 500), runtime.app.mapper)
    ]
    with runtime.database.connect() as conn:
        conn.execute(
            "CREATE TEMP TABLE bench_copy (originator_id uuid, originator_version bigint, "
            "topic text, state bytea, notification_id bigserial)"
        )
        started = time.perf_counter()
        with (
            conn.cursor() as curs,
            curs.copy(
                "COPY bench_copy (originator_id, originator_version, topic, state) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for e in stored:
                copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
        conn.commit()
        elapsed = time.perf_counter() - started
    return {"events": len(stored), "events_per_s": round(len(stored) / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (a few seconds each)")
    parser.add_argument("--home", help="keep the store in this folder instead of a temporary one")
    args = parser.parse_args()
    home = Path(args.home).resolve() if args.home else None
    results = measure(home, args.quick) if home else run(args.quick)
    text = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
