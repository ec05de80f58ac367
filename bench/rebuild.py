"""P3: rebuild rate of each read model on a store of ≥ 1 M events (DESIGN §9).

    python -m bench.rebuild [--events 1000000] [--home bench/.data]

Fills an embedded store (or LINKAGE_DATABASE_URL) with the Gansu hierarchy and
simulated topics until it holds `--events` events, then rebuilds every read model
from position 0 and reports events/s beside a reference: reading and decoding the
same notification log without writing anything. Results go to bench/results-rebuild.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from tqdm import tqdm

from domain.units import Level
from infra.bootstrap import Runtime, bootstrap
from infra.settings import Settings
from infra.simulate import Simulator
from infra.units_import import GANSU, import_units
from projections.envelope import envelope

EVENTS_PER_TOPIC = 12  # about, for sizing the simulation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--home", default="bench/.data")
    parser.add_argument("--only", help="rebuild only this projection")
    args = parser.parse_args()
    if not os.environ.get("LINKAGE_HOME"):  # set but empty counts as unset, as in Settings
        os.environ["LINKAGE_HOME"] = args.home
    with bootstrap(Settings.from_env()) as runtime:
        fill(runtime, args.events)
        head = runtime.app.head_position()
        results: dict[str, object] = {
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, {_memory()}",
            "store_events": head,
        }
        results["reference_read_decode_per_s"] = read_rate(runtime.app, head)
        names = [args.only] if args.only else list(runtime.projections.views)
        runs = [[name] for name in names] + ([names] if len(names) > 1 else [])
        for group in runs:
            results.update(rebuild(runtime, group))
        results["database_bytes"] = database_bytes(runtime)
    Path("bench/results-rebuild.json").write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:<32} {value}")


def fill(runtime: Runtime, events: int) -> int:
    """Import Gansu if the store has no units, then simulate topics until the store
    holds at least `events` events; the head position. The seed is the head, so a
    store grown in steps never repeats a topic id."""
    if runtime.units_view.count() == 0:
        import_units(runtime, GANSU)
    head = runtime.app.head_position()
    if head < events:
        places = runtime.units_view.units_of("62", [Level.TOWNSHIP, Level.VILLAGE])
        topics = (events - head) // EVENTS_PER_TOPIC + 1
        simulator = Simulator(runtime.app, runtime.units, places, seed=head, batch=500)
        with tqdm(total=topics, desc="simulating", unit=" topics") as bar:
            simulator.run(topics, bar.update)
    return runtime.app.head_position()


def rebuild(runtime: Runtime, names: list[str]) -> dict[str, float]:
    """Rebuild the read models `names` together from position 0 (and swap them in)."""
    runner = runtime.projections
    head = runtime.app.head_position()
    label = "+".join(names)
    with tqdm(total=head, desc=f"rebuild {label}", unit=" events") as bar:
        start = time.perf_counter()
        read = runner.rebuild_many(
            names, lambda schema: runtime.database.datastore(schema=schema), bar.update
        )
        elapsed = time.perf_counter() - start
    return {
        f"rebuild_{label}_per_s": round(read / elapsed),
        f"rebuild_{label}_seconds": round(elapsed, 1),
    }


def database_bytes(runtime: Runtime) -> int | None:
    with runtime.database.connect() as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else None


def _memory() -> str:
    with open("/proc/meminfo") as f:
        kb = int(f.readline().split()[1])
    return f"{kb / 1024 / 1024:.0f} GiB"


def read_rate(app: object, head: int) -> int:
    from domain.application import LinkageApp

    assert isinstance(app, LinkageApp)
    start, done, t0 = 0, 0, time.perf_counter()
    while True:
        batch = app.recorder.select_notifications(start=start, limit=1000, inclusive_of_start=False)
        if not batch:
            break
        for n in batch:
            envelope(app.mapper.to_domain_event(n), n.id)
        start = batch[-1].id
        done += len(batch)
    return round(done / (time.perf_counter() - t0))


if __name__ == "__main__":
    main()
