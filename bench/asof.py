"""P6 of DESIGN §9: `topic(asOf)` latency through the time → version index.

    python -m bench.asof [--quick] [--home bench/.data/asof] [--output bench/results-asof.json]

On a fresh database of the embedded server in `--home`: the Gansu hierarchy, a
simulated background of topics (quick 100, full 5,000), one topic with 50 events,
the read models brought up to date. Then, at random instants of that topic's life:

* `direct`: the asOf work as the API does it, without HTTP — the index lookup,
  the events up to that version, the read model's replay;
* `scan` (the reference): the way before the index — every event of the stream
  read and filtered by time, then the same replay;
* `graphql`: `topic(id, asOf)` end to end over HTTP (one keep-alive client,
  sequential), against the API served in this process;
* `graphql_now` (the reference): the same query without `asOf` (the read model's
  row), so the cost of HTTP and GraphQL themselves shows beside it;
* `export_province`: the province's whole view exported as JSON lines, in pages
  of topics (events/s).

p50/p95/max in milliseconds. Client, server and PostgreSQL share the machine's
cores (and other work on it): figures are for this machine under its load.
`run(quick)` returns the results; `python -m bench.asof` also writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from domain.topic_commands import AddComment, DetermineTopic, ReportResearch, StartResearch

HERE = Path(__file__).resolve().parent
EVENTS = 50
QUERY = (
    "query($t: ID!, $at: DateTime!) { topic(id: $t, asOf: $at) {"
    " version stage owner { code name } route { unit { code } } } }"
)
VILLAGE = "620102001001"  # 畅家巷社区居委会, 兰州市城关区


def run(quick: bool, home: Path | None = None) -> dict[str, Any]:
    """Measure and return the results (see the module's doc)."""
    from api.entry.server import running
    from domain.topic import Actor, Role
    from domain.units import Level
    from infra.bootstrap import build_runtime
    from infra.database import start_embedded
    from infra.settings import Settings
    from infra.simulate import Simulator
    from infra.units_import import GANSU, import_units

    home = (home or HERE / ".data" / "asof").resolve()
    samples = 100 if quick else 1_000
    background = 100 if quick else 5_000
    dbname = f"asof_{uuid.uuid4().hex[:12]}"
    database = start_embedded(home / "pgdata", dbname=dbname)
    settings = Settings.from_env({"LINKAGE_HOME": str(home)})
    started = time.perf_counter()
    try:
        with build_runtime(database, settings) as runtime:
            import_units(runtime, GANSU)
            places = runtime.units_view.units_of("62", [Level.TOWNSHIP, Level.VILLAGE])
            simulated = Simulator(runtime.app, runtime.units, places, seed=6).run(background)
            topic_id, times = _long_topic(runtime.app, Actor("bench", VILLAGE, Role.STAFF))
            runtime.projections.catch_up()
            rng = random.Random(6)
            span = (times[-1] - times[0]).total_seconds()
            instants = [
                times[0] + timedelta(seconds=rng.uniform(-0.02 * span, 1.02 * span))
                for _ in range(samples)
            ]
            with database.connect() as conn:
                direct = _timed(lambda at: _direct(conn, runtime.app, topic_id, at), instants)
                scan = _timed(lambda at: _scan(runtime.app, topic_id, at), instants)
                export = _export(conn, runtime.app)
            with running(runtime) as server, httpx.Client(timeout=30) as client:
                token = server.state.tokens.issue(VILLAGE, [Role.AUDITOR])
                url, headers = server.url + "/graphql", {"Authorization": f"Bearer {token}"}

                def graphql(at: datetime | None) -> None:
                    query, variables = QUERY, {"t": str(topic_id), "at": at and at.isoformat()}
                    if at is None:  # the reference: the same topic as it stands now
                        query = QUERY.replace(", $at: DateTime!", "").replace(", asOf: $at", "")
                        variables.pop("at")
                    answer = client.post(url, json={"query": query, "variables": variables},
                                         headers=headers)  # fmt: skip
                    answer.raise_for_status()
                    assert "errors" not in answer.json(), answer.text
                    assert answer.json()["data"]["topic"] is not None or at is not None

                for at in instants[:10]:  # warm up the connection and the pools
                    graphql(at)
                over_http = _timed(graphql, instants)
                now = _timed(lambda _: graphql(None), instants)
            head = runtime.app.head_position()
    finally:
        _drop(database.conninfo, dbname)
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "store": {
            "events": head,
            "background_topics": simulated.topics,
            "topic_events": EVENTS,
        },
        "samples": samples,
        "target_ms": 5.0,
        "direct_ms": direct,
        "scan_ms": scan,
        "graphql_ms": over_http,
        "graphql_now_ms": now,
        "export_province": export,
        "seconds": round(time.perf_counter() - started, 1),
        "note": "client, API and PostgreSQL on one machine shared with other work",
    }


def _long_topic(app: Any, actor: Any) -> tuple[uuid.UUID, list[datetime]]:
    """A topic with EVENTS events, one an hour, starting 60 days ago."""
    start = datetime.now(UTC) - timedelta(days=60)
    at = [start + timedelta(hours=i) for i in range(EVENTS)]
    tid = app.submit_topic(
        actor,
        title="老旧小区加装电梯协商",
        description="6号楼住户反映加装电梯意见不一，需协商。",
        category="老旧小区改造",
        source="HOTLINE_12345",
        location=VILLAGE,
        at=at[0],
    ).topic_id
    app.handle(actor, DetermineTopic(topic_id=tid, note="列入协商"), at=at[1])
    app.handle(actor, StartResearch(topic_id=tid, text="入户走访"), at=at[2])
    app.handle(actor, ReportResearch(topic_id=tid, text="多数住户同意"), at=at[3])
    for i in range(4, EVENTS):
        app.handle(actor, AddComment(topic_id=tid, text=f"第{i}次沟通记录"), at=at[i])
    return tid, at


def _direct(conn: psycopg.Connection[Any], app: Any, topic_id: uuid.UUID, at: datetime) -> None:
    from projections.audit import events_as_of, replayed_topic

    replayed_topic(events_as_of(conn, app, topic_id, at), app.units)


def _scan(app: Any, topic_id: uuid.UUID, at: datetime) -> None:
    from projections.audit import replayed_topic

    replayed_topic(app.events_of(topic_id, at), app.units)


def _export(conn: psycopg.Connection[Any], app: Any) -> dict[str, float]:
    """The province's whole view exported as JSON lines (written nowhere): events/s."""
    from infra.audit_format import formatted
    from projections.audit import EXPORT_COLUMNS, UnitNames, export_rows, export_window

    t0 = time.perf_counter()
    names = UnitNames.load(conn, app)
    rows = export_rows(conn, export_window("62", None, None), names)
    count = sum(1 for _ in formatted(rows, "jsonl", EXPORT_COLUMNS))
    seconds = time.perf_counter() - t0
    return {"events": count, "seconds": round(seconds, 2), "events_per_s": round(count / seconds)}


def _timed(fn: Callable[[Any], object], instants: list[datetime]) -> dict[str, float]:
    for at in instants[:5]:
        fn(at)  # warm-up
    seconds = []
    for at in instants:
        t0 = time.perf_counter()
        fn(at)
        seconds.append(time.perf_counter() - t0)
    ms = sorted(s * 1000 for s in seconds)
    return {
        "p50": round(statistics.median(ms), 3),
        "p95": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 3),
        "max": round(ms[-1], 3),
    }


def _drop(conninfo: str, dbname: str) -> None:
    admin = psycopg.conninfo.make_conninfo(conninfo, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.asof", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="100 samples on a small store")
    parser.add_argument("--home", type=Path, help="the embedded server's folder (bench/.data/asof)")
    parser.add_argument("--output", type=Path, default=HERE / "results-asof.json")
    args = parser.parse_args()
    results = run(args.quick, args.home)
    args.output.write_text(
        json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    for name in ("direct_ms", "scan_ms", "graphql_ms", "graphql_now_ms"):
        r = results[name]
        figures = "  ".join(f"{k} {r[k]:>7.3f} ms" for k in ("p50", "p95", "max"))
        print(f"{name[:-3]:<12} {figures}")
    print(f"export of the province: {results['export_province']}")
    print(f"store {results['store']}; load average {results['load_average']}; -> {args.output}")


if __name__ == "__main__":
    main()
