"""Issue 7's scale check: P5 and P1 (and P6's verification) on a big existing store.

    linkage simulate --province 62 --topics 1000000 --seed 8   # LINKAGE_HOME=DIR
    linkage projections rebuild                                # the read models
    python -m bench.scale --home DIR [--clients 32] [--seconds 20] [--reads 200]

Reports the store's size on disk (the server's folder, the database, and the event
store, hash chain and read models table by table), then runs `bench.api` against it
(`linkage serve --workers 2` in its own process: P1's 32 clients, then P5's three
reads) and `verify_chain` over the whole store, with the load average beside each.
Nothing is written except P1's own commands. Results go to bench/results-scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

from bench import api
from infra.audit_verify import verify_chain
from infra.database import start_embedded

HERE = Path(__file__).parent
TABLES = {
    "event store": ("linkage_events",),
    "hash chain": ("linkage_events_chain", "linkage_events_chain_head"),
    "read models": ("topic_summary", "topic_visibility", "timeline_events", "inbox", "stats_%"),
    "hierarchy": ("units",),
}


def run(
    home: Path, clients: int, seconds: float, reads: int, *, verify: bool = True
) -> dict[str, Any]:
    home = home.resolve()
    database = start_embedded(home / "pgdata")
    results: dict[str, Any] = {"home": str(home), "size": _sizes(home, database.conninfo)}
    results["load_average_before_api"] = round(os.getloadavg()[0], 1)
    results["api"] = api.run(home, clients, seconds, workers=2, reads=reads)
    if verify:
        results["load_average_before_verify"] = round(os.getloadavg()[0], 1)
        started = time.perf_counter()
        report = verify_chain(database.conninfo, workers=2)
        results["verify"] = {
            "events": report.events,
            "intact": report.intact,
            "seconds": round(time.perf_counter() - started, 1),
            "events_per_s": round(report.events_per_s),
        }
    results["load_average_at_end"] = round(os.getloadavg()[0], 1)
    return results


def _sizes(home: Path, conninfo: str) -> dict[str, Any]:
    """The folder on disk, the database, and the tables grouped as in `TABLES`."""
    du = subprocess.run(
        ["du", "-sb", str(home / "pgdata")], check=False, capture_output=True, text=True
    )
    sizes: dict[str, Any] = {
        "pgdata_bytes": int(du.stdout.split()[0]) if du.returncode == 0 else None,
    }
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT pg_database_size(current_database()),"
            " (SELECT count(*) FROM topic_summary),"
            " (SELECT max(notification_id) FROM linkage_events)"
        ).fetchone()
        assert row is not None
        sizes["database_bytes"], sizes["topics"], sizes["events"] = row
        for group, names in TABLES.items():
            found = conn.execute(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class"
                " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
                " AND relname LIKE ANY(%s) ORDER BY relname",
                (list(names),),
            ).fetchall()
            sizes[group] = dict(found)
            sizes[group + " bytes"] = sum(size for _, size in found)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True, help="LINKAGE_HOME of the store")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--reads", type=int, default=200, help="requests per P5 read")
    parser.add_argument("--no-verify", action="store_true", help="leave P6's verification out")
    parser.add_argument("--output", type=Path, default=HERE / "results-scale.json")
    args = parser.parse_args()
    results = run(args.home, args.clients, args.seconds, args.reads, verify=not args.no_verify)
    text = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    args.output.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
