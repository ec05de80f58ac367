"""`python -m bench [--quick] [--only P1,P3,…] [--output PATH] [--home DIR]`

Measures DESIGN §9's P1–P7 and M on this machine, each beside references measured
in the same run (raw psycopg inserts, raw eventsourcing saves), writes
bench/results.json and prints the table. `--quick` makes everything small (a tiny
store, a few seconds each) to prove the harness works; the full run takes long.
Exit status 1 when a measurement failed (not when one is not available yet).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import Context, load_average, machine, run_all, table, write_results
from bench.measurements import FULL, ON_THE_STORE, QUICK, REGISTRY, prepare, store_at_end

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small and fast: a smoke test")
    parser.add_argument("--only", help="comma-separated keys: R1,R2,P1,…,P7,M")
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    parser.add_argument(
        "--home",
        type=Path,
        help="the benchmark store (default bench/.data, or bench/.data/quick with --quick)",
    )
    parser.add_argument(
        "--events", type=int, help="store size in events (quick 2,000; full 1,000,000)"
    )
    args = parser.parse_args(argv)
    keys = {m.key for m in REGISTRY} | {m.key.split()[0] for m in REGISTRY}
    only = {k.strip() for k in args.only.split(",") if k.strip()} if args.only else None
    if only and only - keys:
        print(
            f"bench: error: unknown measurement {', '.join(sorted(only - keys))} "
            f"(known: {', '.join(sorted(keys))})",
            file=sys.stderr,
        )
        return 1
    if args.events is not None and args.events < 1:
        print(f"bench: error: --events must be at least 1, not {args.events}", file=sys.stderr)
        return 1
    home = (args.home or HERE / ".data" / ("quick" if args.quick else "")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    sizes = dict(QUICK if args.quick else FULL)
    if args.events is not None:
        sizes["events"] = args.events
    started, load_start = time.perf_counter(), load_average()
    document: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "sizes": sizes,
        "load_average_start": load_start,
    }
    context = Context(args.quick, home, sizes)
    with context.stack:
        if only is None or only & ON_THE_STORE:
            print(f"== the store in {home}", flush=True)
            document["store"] = prepare(context)
        rows = run_all(REGISTRY, context, only)
        if "store" in document:
            document["store"]["at_end"] = store_at_end(context)
    document["load_average_end"] = load_average()
    document["seconds"] = round(time.perf_counter() - started, 1)
    document["measurements"] = rows
    write_results(args.output, document)
    print()
    print(table(rows))
    print(
        f"\nmachine: {document['machine']}; load average at start {load_start}, "
        f"at end {document['load_average_end']}; {document['seconds']} s; "
        f"results in {args.output}"
    )
    failed = [r["key"] for r in rows if r["status"] == "failed"]
    for row in rows:
        if row["status"] == "failed":
            print(f"bench: error: {row['key']} failed: {row['reason']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
