"""What per-person keys cost (DESIGN §10): sealing, submitting, finding a person.

    python -m bench.privacy [--submits 2000] [--events 250000] [--home bench/.data/privacy]

Measures on an embedded store (or LINKAGE_DATABASE_URL):

* the crypto helper alone: AES-GCM seal and open of one name and phone, per second;
* `submit_topic` through the application, one thread, without a submitter and with
  one (a different person each time: a new key row each), commands/s;
* the scan `linkage privacy find` / `erase` make over the notification log to name a
  person's topics, events/s, on a store filled with simulated topics up to `--events`
  (kept between runs).

Results go to bench/results-privacy.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from tqdm import tqdm

from domain.topic import Actor, Role
from domain.units import Level
from infra.bootstrap import Runtime, bootstrap
from infra.privacy import new_key, open_with, seal_with, submitted_events_of
from infra.settings import Settings
from infra.simulate import Simulator
from infra.units_import import GANSU, import_units

VILLAGE = "620102001001"  # 畅家巷社区居委会
CLEAR = {"name": "赵秀兰", "phone": "13800138000"}
EVENTS_PER_TOPIC = 12  # about, for sizing the simulation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submits", type=int, default=2000)
    parser.add_argument("--events", type=int, default=250_000, help="store size to scan")
    parser.add_argument("--home", default="bench/.data/privacy")
    args = parser.parse_args()
    os.environ.setdefault("LINKAGE_HOME", args.home)
    results: dict[str, object] = {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {_memory()}",
        "note": "measured while other work loaded the same 2 cores",
    }
    results.update(_crypto_rates(20_000))
    with bootstrap(Settings.from_env()) as runtime:
        if runtime.units_view.count() == 0:
            import_units(runtime, GANSU)
        results.update(_submit_rates(runtime, args.submits))
        _fill(runtime, args.events)
        results.update(_scan_rate(runtime, str(results["scan_for_phone"])))
    Path("bench/results-privacy.json").write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:<34} {value}")


def _crypto_rates(n: int) -> dict[str, int]:
    key = new_key()
    start = time.perf_counter()
    sealed = [seal_with(key, "p-" + "a" * 32, "k", CLEAR) for _ in range(n)]
    sealing = time.perf_counter() - start
    start = time.perf_counter()
    for one in sealed:
        open_with(key, one)
    opening = time.perf_counter() - start
    return {"seal_per_s": round(n / sealing), "open_per_s": round(n / opening)}


def _submit_rates(runtime: Runtime, n: int) -> dict[str, object]:
    staff = Actor("bench", VILLAGE, Role.STAFF)
    rates = {}
    base = runtime.app.head_position()  # a new person for every submission, run after run
    for label, with_submitter in (("plain", False), ("with_submitter", True)):
        start = time.perf_counter()
        for i in tqdm(range(n), desc=f"submit {label}", unit=" commands"):
            phone = f"{base + i:011d}"
            submitter = {"name": f"居民{i}", "phone": phone} if with_submitter else None
            runtime.app.submit_topic(
                staff,
                title="畅家巷6号楼二次供水水压不足",
                description="早晚用水高峰水压不足。",
                category="供水",
                source="HOTLINE_12345",
                location=VILLAGE,
                submitter=submitter,
            )
        rates[f"submit_{label}_per_s"] = round(n / (time.perf_counter() - start))
    rates["scan_for_phone"] = f"{base:011d}"
    return rates


def _fill(runtime: Runtime, events: int) -> None:
    missing = events - runtime.app.head_position()
    if missing <= 0:
        return
    topics = missing // EVENTS_PER_TOPIC + 1
    places = runtime.units_view.units_of("62", [Level.TOWNSHIP, Level.VILLAGE])
    simulator = Simulator(runtime.app, runtime.units, places, seed=1, batch=500)
    with tqdm(total=topics, desc="simulating", unit=" topics") as bar:
        simulator.run(topics, bar.update)


def _scan_rate(runtime: Runtime, phone: str) -> dict[str, int]:
    person = runtime.vault.person_id(None, phone)
    head = runtime.app.head_position()
    start = time.perf_counter()
    found = submitted_events_of(runtime.app, person)
    elapsed = time.perf_counter() - start
    return {
        "scan_store_events": head,
        "scan_found_topics": len(found),
        "scan_events_per_s": round(head / elapsed),
    }


def _memory() -> str:
    with open("/proc/meminfo") as f:
        kb = int(f.readline().split()[1])
    return f"{kb / 1024 / 1024:.0f} GiB"


if __name__ == "__main__":
    main()
