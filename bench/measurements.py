"""What `python -m bench` measures: the registry of DESIGN §9's P1–P7 and M, and the
references measured beside them, with the sizes of a quick and a full run.

The functions here adapt the standalone benchmarks (`bench.api`, `bench.rebuild`,
`bench.relay`, …) to the harness: they share one store under `--home`, filled once
(Gansu and simulated topics) and brought up to date before the server starts.
Measurements of modules that other branches add (`bench.intake`, `bench.asof`,
`bench.verify`) are registered by name; until they are merged they report "not
available".
"""

from __future__ import annotations

import time
from typing import Any

from bench.harness import Context, Extract, Measurement, Row, at_least, below, number, search

QUICK = {
    "events": 2_000,  # store size: Gansu's units and ~170 simulated topics
    "clients": 32,
    "seconds": 3,  # of P1 load, and of P4's lag under load
    "reads": 20,  # per P5 query
    "relay_events": 2_000,
    "reference_seconds": 2,
}
FULL = {
    "events": 1_000_000,  # ~85,000 topics; P5's target is for 1 M topics (~15 M events)
    "clients": 32,
    "seconds": 20,
    "reads": 200,
    "relay_events": 100_000,
    "reference_seconds": 10,
}


def reference_psycopg(context: Context) -> dict[str, Any]:
    from bench.reference import psycopg_inserts, scratch_database

    database = scratch_database(context.home)
    return psycopg_inserts(database, context.size("reference_seconds"))


def reference_eventsourcing(context: Context) -> dict[str, Any]:
    from bench.reference import eventsourcing_saves, scratch_database

    database = scratch_database(context.home)
    return eventsourcing_saves(database, context.size("reference_seconds"))


def reference_bare(context: Context) -> dict[str, Any]:
    from bench.bare import run

    return run(context.home, context.size("clients"), context.size("reference_seconds"))


def p1_direct(context: Context) -> dict[str, Any]:
    from bench.groupcommit import run

    _filled(context)
    result = run(context.home, max(1.0, context.size("reference_seconds") / 2))
    result["notes"] = [
        *result["notes"],
        f"8 threads: pgbench {result['pgbench_8_clients_tps']} tps, raw eventsourcing "
        f"{result['eventsourcing_8_threads_saves_per_s']} saves/s; linkage one transaction "
        f"per command {result['linkage_8_threads_single']['commands_per_s']}/s, group commit "
        f"{result['commands_per_s']}/s ({result['linkage_8_threads_group']['saves_per_group']}"
        f" commands per transaction); {_store_note(context)}",
    ]
    return result


# the measurements that run on the shared store (filled before they run)
ON_THE_STORE = {"P1", "P1 direct", "P3", "P4", "P5", "M"}


def prepare(context: Context) -> dict[str, Any]:
    """Fill the shared store to the run's size, timed apart from the measurements."""
    started = time.perf_counter()
    info = dict(_filled(context))
    info["fill_seconds"] = seconds = round(time.perf_counter() - started, 1)
    if info["added"]:  # Gansu imported and topics simulated, 500 per transaction
        info["fill_events_per_s"] = round(info["added"] / seconds)
    return info


def _filled(context: Context) -> dict[str, Any]:
    """The shared store, filled to the run's size (once per run; kept between runs)."""
    from bench.rebuild import database_bytes, fill
    from infra.bootstrap import bootstrap
    from infra.settings import Settings

    def make() -> dict[str, Any]:
        settings = Settings.from_env({"LINKAGE_HOME": str(context.home)})
        with bootstrap(settings) as runtime:
            before = runtime.app.head_position()
            head = fill(runtime, context.size("events"))
            return {
                "events": head,
                "added": head - before,
                "database_bytes": database_bytes(runtime),
            }

    result: dict[str, Any] = context.once("store", make)
    return result


def store(context: Context) -> dict[str, Any]:
    """The shared store, filled, with its read models caught up (for the server)."""
    from tqdm import tqdm

    from infra.bootstrap import bootstrap
    from infra.settings import Settings

    info = _filled(context)
    settings = Settings.from_env({"LINKAGE_HOME": str(context.home)})
    with bootstrap(settings) as runtime:
        runner = runtime.projections
        if runner.position() < runner.head():
            with tqdm(total=runner.head(), desc="projecting", unit=" events") as bar:
                bar.update(runner.position())
                runner.catch_up(progress=bar.update)
    return info


def store_at_end(context: Context) -> dict[str, Any]:
    """The store after the run: events, topics (read model) and size on disk."""
    from infra.database import start_embedded

    database = start_embedded(context.home / "pgdata")
    with database.connect() as conn:
        row = conn.execute(
            "SELECT (SELECT coalesce(max(notification_id), 0) FROM linkage_events),"
            " (SELECT count(*) FROM topic_summary), pg_database_size(current_database())"
        ).fetchone()
    assert row is not None
    return {"events": int(row[0]), "topics": int(row[1]), "database_bytes": int(row[2])}


def _store_note(context: Context) -> str:
    info = _filled(context)
    return f"store of {info['events']:,} events ({info['database_bytes'] / 1e6:,.0f} MB)"


def p3_rebuild(context: Context) -> dict[str, Any]:
    from bench.rebuild import read_rate, rebuild
    from infra.bootstrap import bootstrap
    from infra.settings import Settings

    _filled(context)
    settings = Settings.from_env({"LINKAGE_HOME": str(context.home)})
    with bootstrap(settings) as runtime:
        names = list(runtime.projections.views)
        head = runtime.app.head_position()
        result: dict[str, Any] = {"read_decode_per_s": read_rate(runtime.app, head)}
        rebuilt = rebuild(runtime, names)
    label = "+".join(names)
    result["events_per_s"] = rebuilt[f"rebuild_{label}_per_s"]
    result["seconds"] = rebuilt[f"rebuild_{label}_seconds"]
    result["notes"] = [
        f"R3: the log read and decoded, nothing written; P3: all read models "
        f"({', '.join(names)}) rebuilt together from position 0; {_store_note(context)}"
    ]
    return result


def p1_commands(context: Context) -> dict[str, Any]:
    from bench.api import run

    store(context)
    result: dict[str, Any] = run(
        context.home, context.size("clients"), context.size("seconds"), reads=0
    )["P1"]
    result["notes"] = [
        f"{result['clients']} clients, {result['commands']:,} commands; "
        f"linkage serve --workers 2; {_store_note(context)}"
    ]
    if result["failed"]:  # not counted in the rate; the first says why
        result["notes"].append(
            f"{result['failed']} commands failed, e.g. {result['first_failures'][0][:120]}"
        )
    return result


def p5_reads(context: Context) -> dict[str, Any]:
    from bench.api import run

    store(context)
    result: dict[str, Any] = run(context.home, reads=context.size("reads"), commands=False)["P5"]
    result["notes"] = [
        f"{context.size('reads')} sequential requests per query, {_store_note(context)} "
        f"(the target is for 1 M topics); the topic has {result['topic_events']} events"
    ]
    return result


def _broker(context: Context) -> Any:
    from tests.utils.kafka import Broker

    def start() -> Broker:
        broker = Broker(context.home / "tansu.log")
        broker.start()
        context.stack.callback(broker.stop)
        return broker

    return context.once("broker", start)


def _lag(context: Context) -> dict[str, Any]:
    from bench.relay import end_to_end_lag

    def measure() -> dict[str, Any]:
        store(context)
        return end_to_end_lag(
            context.home, _broker(context), context.size("clients"), context.size("seconds")
        )

    result: dict[str, Any] = context.once("lag", measure)
    return result


def reference_kafka(context: Context) -> dict[str, Any]:
    from bench.reference import kafka_produce

    return kafka_produce(_broker(context).bootstrap, context.size("reference_seconds"))


def p4_relay(context: Context) -> dict[str, Any]:
    from bench.relay import relay_throughput

    store(context)
    throughput = relay_throughput(context.home, _broker(context), context.size("relay_events"))
    lag = _lag(context)
    if lag["probes"] == 0:
        raise RuntimeError(f"no lag probe answered ({lag['probes_unanswered_in_30_s']} tried)")
    notes = [
        f"Tansu broker (in memory) on this machine, {throughput['partitions']} partitions; "
        f"lag: {lag['probes']} probes beside {lag['load']['clients']} clients "
        f"({lag['load']['commands_per_s']} commands/s)"
    ]
    if lag["probes_unanswered_in_30_s"] or lag["load"]["failed"]:
        notes.append(
            f"{lag['probes_unanswered_in_30_s']} probes unanswered in 30 s, "
            f"{lag['load']['failed']} load commands failed"
        )
    return {"throughput": throughput, "lag": lag, "notes": notes}


def m_memory(context: Context) -> dict[str, Any]:
    """Peak RSS of api, projector and relay: the processes of P4's lag run, which ran
    P1's load through them (run here when P4 did not run)."""
    during = "during P4's lag run" if "lag" in context.shared else "in a run of P4's lag setup"
    lag = _lag(context)
    memory: dict[str, Any] = dict(lag["memory"])
    memory["notes"] = [
        f"VmHWM {during}: {context.size('seconds')} s of P1 load in distributed mode, "
        f"{_store_note(context)}; api: the largest of its "
        f"{memory['api']['processes']} processes (uvicorn, 2 workers)"
    ]
    return memory


def p7_import(context: Context) -> dict[str, Any]:
    from bench.hierarchy import divisions_folder, import_time

    path, which = divisions_folder()
    province = "62" if context.quick else None
    result = import_time(context.home, path, province)
    result["notes"].append(which)
    if province:
        result["notes"].append("quick run: one province; the target is for the whole country")
        result["target_applies"] = False
    return result


def rate(
    key: str,
    what: str,
    unit: str,
    extract: Extract,
    minimum: float | None = None,
    reference: str | None = None,
) -> Row:
    """A figure where more is better, with its floor (none for a reference)."""
    if minimum is None:
        return Row(key, what, unit, extract, reference=reference)
    return Row(key, what, unit, extract, f"≥ {minimum:,} {unit}", at_least(minimum), reference)


def ceiling(key: str, what: str, unit: str, extract: Extract, maximum: float) -> Row:
    """A figure where less is better (a latency, a size), with its limit."""
    return Row(key, what, unit, extract, f"< {maximum:,} {unit}", below(maximum))


def ours(key: str, function: str, *rows: Row) -> Measurement:
    return Measurement(key, "bench.measurements", function, rows)


def theirs(key: str, module: str, *rows: Row) -> Measurement:
    """A module another branch adds, with its `run(quick: bool) -> dict`."""
    return Measurement(key, module, "run", rows, takes="quick")


REGISTRY: list[Measurement] = [
    ours("R1", "reference_psycopg",
         rate("R1", "psycopg single-row INSERTs, 1 client", "rows/s", number("rows_per_s"))),
    ours("R2", "reference_eventsourcing",
         rate("R2", "eventsourcing aggregate saves, 1 thread", "saves/s", number("saves_per_s"))),
    ours("R5", "reference_bare",
         rate("R5", "bare strawberry mutation, one INSERT, uvicorn 2 workers", "requests/s",
              number("requests_per_s")),
         rate("R5 fastapi", "bare FastAPI endpoint, one INSERT, uvicorn 2 workers",
              "requests/s", number("fastapi.requests_per_s"))),
    ours("P3", "p3_rebuild",
         rate("R3", "notification log read and decoded", "events/s", number("read_decode_per_s")),
         rate("P3", "projection rebuild, all read models", "events/s", number("events_per_s"),
              20_000, reference="R3")),
    ours("P1", "p1_commands",
         rate("P1 rate", "GraphQL commands over HTTP, 32 clients", "commands/s",
              number("commands_per_s"), 2_000, reference="R5"),
         ceiling("P1 p99", "command latency p99", "ms", number("p99_ms"), 50)),
    ours("P1 direct", "p1_direct",
         rate("P1 direct", "submit_topic in process, 8 threads, group commit", "commands/s",
              number("commands_per_s"), 3_000, reference="R2")),
    ours("P5", "p5_reads",
         ceiling("P5 inbox", "inbox page (50) p95", "ms", number("inbox_page_50.p95_ms"), 15),
         ceiling("P5 stats", "province statistics p95", "ms", number("province_stats.p95_ms"),
                 30),
         ceiling("P5 topic", "topic with its 50 events p95", "ms",
                 number("topic_timeline_50.p95_ms"), 10)),
    theirs("P2", "bench.intake",
           rate("P2", "bulk intake (batch API)", "events/s",
                search("events_per_s", "api_events_per_s", "http_events_per_s"), 20_000,
                reference="R1")),
    ours("R4", "reference_kafka",
         rate("R4", "kafka-python produce, relay's settings", "messages/s",
              number("messages_per_s"))),
    ours("P4", "p4_relay",
         rate("P4 relay", "relay to Kafka", "events/s", number("throughput.events_per_s"),
              20_000, reference="R4"),
         ceiling("P4 lag", "end-to-end lag p99 under P1 load", "ms", number("lag.p99_lag_ms"),
                 1_000)),
    ours("M", "m_memory",
         *(ceiling(f"M {name}", f"peak RSS of the {name}", "MB",
                   number(f"{name}.peak_rss_mb"), 300)
           for name in ("api", "projector", "relay"))),
    theirs("P6 asOf", "bench.asof",  # direct: the API's asOf work without HTTP
           ceiling("P6 asOf", "topic asOf replay p95", "ms",
                   number("direct_ms.p95", "graphql_ms.p95"), 5)),
    theirs("P6 verify", "bench.verify",
           rate("P6 verify", "integrity verification of the store", "events/s",
                number("verify_2_connections_events_per_s",
                       "verify_1_connection_events_per_s"), 100_000, reference="R3")),
    ours("P7", "p7_import",
         Row("P7", "hierarchy import", "s", number("seconds"), "< 60 s for 665 k units",
             below(60))),
]  # fmt: skip
