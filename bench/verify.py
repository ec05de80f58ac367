"""P6: integrity verification of the whole store, and what the hash chain costs writers.

    python -m bench.verify [--events 200000] [--home bench/.data] [--quick]

Fills an embedded store (or LINKAGE_DATABASE_URL) with the Gansu hierarchy and
simulated topics until it holds `--events` events (a store written before the chain
existed is chained once on opening: that backfill is timed too), then runs
`verify_chain` over the whole store (target ≥ 100,000 events/s) with one and with
two connections. Write cost: the same synthetic events (the store's median state
size) inserted through the application recorder into a scratch database on the
same server, alternately with the chain trigger enabled and disabled, one event per
transaction (a command) and 500 per transaction (a bulk save). Results go to
bench/results-verify.json; `run(quick)` returns them for the `python -m bench` harness.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg import sql
from psycopg.conninfo import make_conninfo
from tqdm import tqdm

from domain.units import Level
from infra.audit_verify import verify_chain
from infra.bootstrap import Runtime, bootstrap, build_runtime
from infra.database import Database, create_database
from infra.settings import Settings
from infra.simulate import Simulator
from infra.units_import import GANSU, import_units

EVENTS_PER_TOPIC = 12  # about, for sizing the simulation
RESULTS = Path("bench/results-verify.json")
SCRATCH_DB = "linkage_bench_chain_write"


def run(quick: bool, events: int | None = None, home: str = "bench/.data") -> dict[str, Any]:
    """Measure and return the figures (a smaller store and fewer rounds when `quick`)."""
    target = events or (30_000 if quick else 200_000)
    settings = Settings.from_env({"LINKAGE_HOME": home, **os.environ})
    results: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {_memory()}",
        "load_average_at_start": os.getloadavg()[0],
    }
    opened = time.perf_counter()
    with bootstrap(settings) as runtime:
        # on a store written before the chain existed, this includes its one-off backfill
        results["open_store_seconds"] = round(time.perf_counter() - opened, 2)
        _fill(runtime, target)
        results["store_events"] = runtime.app.head_position()
        for workers in (1, 2):
            rates = []
            for _ in range(1 if quick else 3):
                report = verify_chain(runtime.database.conninfo, workers=workers)
                assert report.intact, [b.describe() for b in report.bad[:5]]
                rates.append(report.events_per_s)
            results[f"verify_{workers}_connection{'s' if workers > 1 else ''}_events_per_s"] = (
                round(statistics.median(rates))
            )
            results["verify_events"] = report.events
        results.update(_write_cost(runtime.database, settings, quick, _median_state(runtime)))
    results["load_average_at_end"] = os.getloadavg()[0]
    return results


def _fill(runtime: Runtime, target: int) -> None:
    if runtime.units_view.count() == 0:
        import_units(runtime, GANSU)
    head = runtime.app.head_position()
    if head >= target:
        return
    places = runtime.units_view.units_of("62", [Level.TOWNSHIP, Level.VILLAGE])
    topics = (target - head) // EVENTS_PER_TOPIC + 1
    simulator = Simulator(runtime.app, runtime.units, places, seed=head, batch=500)
    with tqdm(total=topics, desc="simulating", unit=" topics") as bar:
        simulator.run(topics, bar.update)


def _median_state(runtime: Runtime) -> int:
    with runtime.database.connect() as conn:
        row = conn.execute(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY octet_length(state))"
            " FROM linkage_events"
        ).fetchone()
    return int(row[0]) if row and row[0] else 300


def _write_cost(
    database: Database, settings: Settings, quick: bool, state_size: int
) -> dict[str, Any]:
    """Insert rate through the recorder with the chain trigger on and off, alternately."""
    create_database(database.conninfo, SCRATCH_DB)
    scratch = Database(make_conninfo(database.conninfo, dbname=SCRATCH_DB))
    rates: dict[str, list[float]] = {}
    try:
        with (
            build_runtime(scratch, settings, pool_size=2) as runtime,
            scratch.connect() as conn,
        ):
            recorder = runtime.app.recorder
            for _ in range(1 if quick else 3):
                for chained in (False, True):
                    switch = "ENABLE" if chained else "DISABLE"
                    conn.execute(
                        f"ALTER TABLE linkage_events {switch} TRIGGER linkage_events_chain"
                    )
                    if not chained:  # the unchained rows are never verified: restart the chain
                        conn.execute("TRUNCATE linkage_events, linkage_events_chain")
                        conn.execute(
                            "UPDATE linkage_events_chain_head SET position = 0,"
                            " hash = decode(repeat('00', 32), 'hex'), count = 0"
                        )
                    for per_tx, total in ((1, 300 if quick else 1_000), (500, 20_000)):
                        kind = "chained" if chained else "unchained"
                        key = f"insert_{per_tx}_per_transaction_{kind}"
                        rates.setdefault(key, []).append(
                            _insert_rate(recorder, per_tx, total, state_size)
                        )
    finally:
        with psycopg.connect(database.conninfo, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(SCRATCH_DB)
                )
            )
    out: dict[str, Any] = {"write_state_bytes": state_size}
    for key, values in rates.items():
        out[f"{key}_events_per_s"] = round(statistics.median(values))
    for per_tx in (1, 500):
        off = out[f"insert_{per_tx}_per_transaction_unchained_events_per_s"]
        on = out[f"insert_{per_tx}_per_transaction_chained_events_per_s"]
        out[f"insert_{per_tx}_per_transaction_chain_cost_percent"] = round(100 * (1 - on / off), 1)
    return out


def _insert_rate(recorder: Any, per_tx: int, total: int, state_size: int) -> float:
    state = os.urandom(state_size)
    batches = [
        [
            StoredEvent(uuid.uuid4(), 1, "domain.topic:Topic.CommentAdded", state)
            for _ in range(per_tx)
        ]
        for _ in range(total // per_tx)
    ]
    start = time.perf_counter()
    for batch in batches:
        recorder.insert_events(batch)
    return total / (time.perf_counter() - start)


def _memory() -> str:
    with open("/proc/meminfo") as f:
        kb = int(f.readline().split()[1])
    return f"{kb / 1024 / 1024:.0f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=None, help="store size (200,000)")
    parser.add_argument("--home", default="bench/.data")
    parser.add_argument("--quick", action="store_true", help="a small store, one round")
    args = parser.parse_args()
    results = run(args.quick, args.events, args.home)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:<60} {value}")


if __name__ == "__main__":
    main()
