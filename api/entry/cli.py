"""The `linkage` command line: the contract for operators and scripts (DESIGN §8).

Every failure prints one clear line and exits non-zero: 2 for a command line that is
not valid (argparse's own errors, a value out of range such as `--ttl`), 1 for any
other failure; long work shows progress.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from api.entry.privacy_cli import add_privacy_commands
from domain.clock import use_display_zone
from domain.errors import LinkageError
from domain.labels import STAGE
from domain.topic import Topic
from domain.units import LEVEL_NAMES_ZH
from infra.bootstrap import Runtime, bootstrap
from infra.database import DatabaseUnavailableError
from infra.divisions import DivisionsFileError
from infra.settings import Settings, SettingsError
from infra.stream import StreamError
from projections.runner import UnknownProjectionError

if TYPE_CHECKING:
    from infra.simulate import Simulator

EXIT_FAILURE = 1
EXIT_USAGE = 2


def cmd_demo(args: argparse.Namespace) -> int:
    from infra.secret import signing_secret

    settings = Settings.from_env()
    if args.serve:  # what would stop the server fails now, not after the work
        check_listen(args.host, args.port)
        signing_secret(settings)
    where = "embedded PostgreSQL in " + str(settings.home / "pgdata")
    if settings.database_url:
        where = "PostgreSQL at LINKAGE_DATABASE_URL"
    print(f"linkage demo: starting {where} …", flush=True)
    with bootstrap(settings) as runtime:
        _demo_history(runtime, args.topics, args.seed)
        _demo_topics(runtime)
        _demo_read_models(runtime)
        if args.serve:
            print()
            _serve_demo(runtime, args.host, args.port)
    return 0


def _demo_history(runtime: Runtime, topics: int, seed: int) -> None:
    """On a fresh store: the Gansu hierarchy and a simulated year of topics."""
    from tqdm import tqdm

    from domain.units import Level
    from infra.simulate import Simulator
    from infra.units_import import GANSU, import_units

    if runtime.units_view.count():
        print(f"the store already holds {runtime.units_view.count():,} units")
        return
    print("importing the Gansu (甘肃省, 62) hierarchy shipped with Linkage …", flush=True)
    print(import_units(runtime, GANSU).describe())
    if topics:
        places = runtime.units_view.units_of("62", [Level.TOWNSHIP, Level.VILLAGE])
        simulator = Simulator(runtime.app, runtime.units, places, seed=seed)
        with tqdm(total=topics, desc="simulating a year of topics", unit=" topics") as bar:
            report = simulator.run(topics, bar.update)
        print(f"{report.topics:,} topics with {report.events:,} events across Gansu")
        print(f"  {_simulated_span(simulator)}")
        _simulate_plans(runtime, "62")


def _simulate_plans(runtime: Runtime, province: str) -> None:
    """This year's consultation plans of the province's committees (issue 20)."""
    from infra.plan_simulation import simulate_province_plans

    plans = simulate_province_plans(runtime, province)
    print(
        f"  年度协商计划 (consultation plans): {plans.plans:,} committees, "
        f"{plans.items:,} items, {plans.linked:,} linked to topics"
    )


def _demo_topics(runtime: Runtime) -> None:
    """The scenario's decision history, and the topics that leave work at every level."""
    from api.entry.demo import format_history, run_scenario
    from api.entry.demo_levels import run_level_scenarios

    topic_id = run_scenario(runtime.app)
    more = run_level_scenarios(runtime.app)
    topic = runtime.app.get_topic(topic_id)
    print()
    print(f"议题 {topic.title}  ({topic_id})")
    print(f"  {_stage(topic)}；流转 {_route(runtime, topic)}")
    print("  decision history (决策记录):")
    format_history(runtime.app.history(topic_id), runtime.units)
    print()
    print("各级待办的议题 (open topics waiting at each level):")
    for other in map(runtime.app.get_topic, more):
        pending = other.pending
        waiting = f"，待 {_unit_label(runtime, pending.to_unit)} 接收" if pending else ""
        print(f"  {other.title}：{_stage(other)}；{_route(runtime, other)}{waiting}")
    print()


def _demo_read_models(runtime: Runtime) -> None:
    from tqdm import tqdm

    from api.entry.demo import print_read_models

    runner = runtime.projections
    with tqdm(total=runner.head(), desc="projecting", unit=" events") as bar:
        bar.update(runner.position())
        runner.catch_up(progress=bar.update)
    with runtime.database.connect() as conn:
        print_read_models(conn, runtime.units)
    print()
    print(f"store head position {runtime.app.head_position()}; read models at {runner.position()}")


def _serve_demo(runtime: Runtime, host: str, port: int) -> None:
    """Serve on a background thread, print the sign-in links once it listens, wait for a stop."""
    from api.entry.demo import issue_demo_tokens, print_welcome, write_token_file
    from api.entry.server import running

    check_listen(host, port)
    with stop_on_sigterm(), running(runtime, host, port) as server:
        issued = issue_demo_tokens(server.state.tokens)
        token_file = runtime.settings.home / "demo-tokens.env"
        write_token_file(token_file, issued)
        print_welcome(server.url, issued, runtime.units, token_file)
        print()
        print("Ctrl-C stops the demo.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("linkage: stopping the demo", file=sys.stderr)


def cmd_serve(args: argparse.Namespace) -> int:
    from api.entry.server import default_workers, serve
    from infra.secret import signing_secret

    settings = Settings.from_env()
    check_listen(args.host, args.port)
    signing_secret(settings)
    if args.workers is None:
        args.workers = default_workers()
    with bootstrap(settings) as runtime:
        where = "PostgreSQL at LINKAGE_DATABASE_URL" if settings.database_url else "embedded"
        if settings.distributed:
            where += f", read models fed from Kafka topic {settings.kafka_topic}"
        workers = f"{args.workers} workers" if args.workers > 1 else "1 worker"
        print(
            f"linkage: serving the API on http://{args.host}:{args.port} "
            f"({where}, {workers}); Ctrl-C stops",
            flush=True,
        )
        print(
            "linkage: /healthz and /readyz (status only) need no token; /metrics and "
            "/readyz's detail need an operator's: linkage token issue --unit <province> "
            "--role auditor",
            flush=True,
        )
        with stop_on_sigterm():
            serve(settings, args.host, args.port, args.workers, runtime=runtime)
    print("linkage: stopped", file=sys.stderr)
    return 0


def cmd_relay(args: argparse.Namespace) -> int:
    from infra.stream.relay import Relay

    settings = _distributed_settings("relay")
    with bootstrap(settings, pool_size=2) as runtime, _stopping() as stop:
        relay = Relay(runtime, batch_size=args.batch)
        print(
            f"linkage relay: publishing the event store to Kafka topic {settings.kafka_topic} "
            f"on {settings.kafka_bootstrap} from position {relay.status().position}; "
            "Ctrl-C stops",
            flush=True,
        )
        try:
            relay.run(stop)
        finally:
            relay.close()
        print(f"linkage relay: stopped at position {relay.status().position}", file=sys.stderr)
    return 0


def cmd_projector(args: argparse.Namespace) -> int:
    from infra.stream.projector import Projector

    settings = _distributed_settings("projector")
    with bootstrap(settings, pool_size=2) as runtime, _stopping() as stop:
        projector = Projector(runtime)
        print(
            f"linkage projector: member {projector.member} of group {settings.kafka_group}, "
            f"reading {settings.kafka_topic} on {settings.kafka_bootstrap}; Ctrl-C stops",
            flush=True,
        )
        projector.run(stop)
        print(f"linkage projector: stopped after {projector.applied:,} events", file=sys.stderr)
    return 0


def _distributed_settings(process: str) -> Settings:
    import logging

    settings = Settings.from_env()
    if not settings.distributed:
        raise SettingsError(f"LINKAGE_KAFKA_BOOTSTRAP is not set: the {process} needs a broker")
    logging.basicConfig(level=logging.INFO, format=f"linkage {process}: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    return settings


@contextmanager
def _stopping() -> Iterator[threading.Event]:
    """An event that SIGTERM and Ctrl-C set: the loop finishes its batch and stops."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_token_issue(args: argparse.Namespace) -> int:
    from api.auth import TokenService, parse_roles, parse_ttl
    from infra.secret import signing_secret

    try:  # the command line itself first: refused before the database starts
        roles = parse_roles(args.role)
        ttl = parse_ttl(args.ttl)
    except LinkageError as exc:
        raise UsageError(str(exc)) from None
    settings = Settings.from_env()
    tokens = TokenService(signing_secret(settings), None)
    with bootstrap(settings) as runtime:
        unit = runtime.units_view.get(args.unit)  # the table, not a cache: retired now?
        if unit is None:
            raise LinkageError(
                "UNIT_NOT_FOUND",
                f"unit {args.unit!r} is not in the imported hierarchy "
                "(`linkage units show CODE` looks one up)",
            )
        if unit.retired:
            raise LinkageError(
                "UNIT_RETIRED",
                f"unit {unit.code} ({unit.name}) was retired by a hierarchy import; "
                "a token is issued only for an active unit",
            )
    print(tokens.issue(args.unit, roles, args.user, ttl))
    return 0


def cmd_units_import(args: argparse.Namespace) -> int:
    from infra.units_import import import_units

    with bootstrap() as runtime:
        report = import_units(runtime, Path(args.path), args.province, show_progress=not args.quiet)
        print(report.describe())
    return 0


def cmd_units_show(args: argparse.Namespace) -> int:
    with bootstrap() as runtime:
        unit = runtime.units.get(args.code)
        if unit is None:
            raise LinkageError("UNIT_NOT_FOUND", f"unit {args.code!r} does not exist")
        chain = " › ".join(_unit_label(runtime, code) for code in unit.path)
        status = " (retired)" if unit.retired else ""
        print(f"{unit.code} {unit.name} — {LEVEL_NAMES_ZH[unit.level]}{status}")
        print(f"  {chain}")
    return 0


def cmd_projections_status(args: argparse.Namespace) -> int:
    with bootstrap() as runtime:
        runner = runtime.projections
        rows = [
            (s.name, s.position, s.head, s.lag, s.dead_letters, s.parked_topics)
            for s in runner.status()
        ]
        units_position = runtime.units_view.max_tracking_id(runtime.units_view.name) or 0
        print(
            f"{'projection':<12} {'position':>10} {'head':>10} {'lag':>8} {'dead':>6} {'parked':>7}"
        )
        for name, position, head, lag, dead, parked in rows:
            print(f"{name:<12} {position:>10} {head:>10} {lag:>8} {dead:>6} {parked:>7}")
        print(f"{'units':<12} {units_position:>10} {'':>10} {'(hierarchy events only)'}")
        for status in runner.status():
            for letter in runner.dead_letters(status.name)[:5]:
                print(
                    f"  {status.name}: topic {letter.topic_id} at {letter.position}: {letter.error}"
                )
    return 0


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    with bootstrap() as runtime:
        runner = runtime.projections
        names = [args.name] if args.name else list(runner.views)
        for name in names:
            runner.view(name)  # unknown names fail before any work
        with tqdm(total=runner.head(), desc="rebuild " + ", ".join(names), unit=" events") as bar:
            read = runner.rebuild_many(
                names, lambda schema: runtime.database.datastore(schema=schema), bar.update
            )
        print(f"{', '.join(names)}: rebuilt from position 0 over {read:,} events and swapped in")
    return 0


def cmd_projections_retry(args: argparse.Namespace) -> int:
    with bootstrap() as runtime:
        runner = runtime.projections
        failed = 0
        for name in [args.name] if args.name else list(runner.views):
            recovered, failing = runner.retry(name)
            failed += failing
            print(f"{name}: {recovered} topics recovered, {failing} still failing")
    return EXIT_FAILURE if failed else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from domain.units import Level
    from infra.simulate import Simulator

    with bootstrap() as runtime:
        places = runtime.units_view.units_of(args.province, [Level.TOWNSHIP, Level.VILLAGE])
        if not places:
            raise LinkageError(
                "PROVINCE_NOT_IMPORTED",
                f"province {args.province!r} has no townships or villages in the store; "
                "import it first with `linkage units import`",
            )
        simulator = Simulator(
            runtime.app,
            runtime.units,
            places,
            seed=args.seed,
            days=args.days,
            workers=args.workers,
        )
        started = time.perf_counter()
        with tqdm(total=args.topics, desc="simulating", unit=" topics") as bar:
            report = simulator.run(args.topics, bar.update)
        rate = report.events / max(time.perf_counter() - started, 1e-9)
        print(
            f"{report.topics:,} topics, {report.events:,} events ({rate:,.0f} events/s); "
            f"store position {report.position}"
        )
        print(f"  {_simulated_span(simulator)}")
        _simulate_plans(runtime, args.province)
    return 0


class UsageError(Exception):
    """A command line whose values are not valid (exit status 2, as argparse's own)."""


class ListenError(Exception):
    """The address to serve on is taken or does not exist here."""


def check_listen(host: str, port: int) -> None:
    """Fail with one line now, rather than from inside uvicorn, if `host:port` is taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # as uvicorn does: a port only in TIME_WAIT is free to take
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM stops like Ctrl-C: servers shut down and the store closes cleanly."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be a port between 1 and 65535, not {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive whole number, not {text}")
    return value


def _simulated_span(simulator: Simulator) -> str:
    """The simulated days, in the display zone (as every time the command line shows)."""
    from datetime import timedelta

    from domain.clock import display_zone, shown_day

    end = simulator.histories.now
    start = end - timedelta(days=simulator.histories.days)
    zone = getattr(display_zone(), "key", str(display_zone()))
    return f"submitted between {shown_day(start)} and {shown_day(end)} ({zone})"


def _stage(topic: Topic) -> str:
    return f"{STAGE[topic.stage]}({topic.stage.value})"


def _route(runtime: Runtime, topic: Topic) -> str:
    return " → ".join(_unit_label(runtime, hop.unit) for hop in topic.route)


def _unit_label(runtime: Runtime, code: str) -> str:
    unit = runtime.units.get(code)
    return f"{unit.name}({code})" if unit else code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linkage", description="Linkage — 五级联动协商 platform for CPPCC committees"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="embedded mode: import Gansu and run a realistic topic")
    demo.add_argument(
        "--topics", type=int, default=300, help="topics simulated on a fresh store (default 300)"
    )
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--host", default="127.0.0.1", help="serve on this address (127.0.0.1)")
    demo.add_argument("--port", type=_port, default=8000, help="serve on this port (8000)")
    demo.add_argument("--no-serve", dest="serve", action="store_false", help="exit after printing")
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="the API (embedded or distributed by environment)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (8000)")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="uvicorn worker processes (default: one per core this process may use)",
    )
    serve.set_defaults(func=cmd_serve)

    _add_stream_commands(sub)
    _add_audit_commands(sub)
    add_privacy_commands(sub)
    token = sub.add_parser("token", help="bearer tokens for the API")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    issue = token_sub.add_parser("issue", help="print a signed bearer token")
    issue.add_argument("--unit", required=True, help="the unit code the token acts for")
    issue.add_argument(
        "--role",
        required=True,
        help="staff, leader, handler, member, auditor or intake; several comma-separated",
    )
    issue.add_argument("--user", help="user id (default: user-UNIT)")
    issue.add_argument("--ttl", default="8h", help="lifetime: 90s, 30m, 8h, 7d (default 8h)")
    issue.set_defaults(func=cmd_token_issue)

    _add_units_commands(sub)
    _add_simulate_parser(sub)

    projections = sub.add_parser("projections", help="the read models")
    proj_sub = projections.add_subparsers(
        dest="projections_command", required=True, metavar="ACTION"
    )
    status = proj_sub.add_parser(
        "status", help="each projection's position, head, lag, dead letters"
    )
    status.set_defaults(func=cmd_projections_status)
    rebuild = proj_sub.add_parser("rebuild", help="rebuild from position 0 and swap in")
    rebuild.add_argument("name", nargs="?", help="one projection (default: all)")
    rebuild.set_defaults(func=cmd_projections_rebuild)
    retry = proj_sub.add_parser("retry", help="re-apply dead-lettered events")
    retry.add_argument("name", nargs="?", help="one projection (default: all)")
    retry.set_defaults(func=cmd_projections_retry)
    return parser


def _add_units_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    units = sub.add_parser("units", help="the five-level hierarchy")
    units_sub = units.add_subparsers(dest="units_command", required=True, metavar="ACTION")
    imp = units_sub.add_parser("import", help="import divisions in the divisions-2023 format")
    imp.add_argument("path", help="folder with provinces.csv … villages.csv(.gz)")
    imp.add_argument("--province", help="import only this province (2-digit code)")
    imp.add_argument("--quiet", action="store_true", help="no progress bars")
    imp.set_defaults(func=cmd_units_import)
    show = units_sub.add_parser("show", help="a unit and its ancestors")
    show.add_argument("code")
    show.set_defaults(func=cmd_units_show)


def _add_audit_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`linkage audit verify` (the hash chain) and `history` / `export` (api.entry.audit_cli)."""
    from api.entry.audit_cli import add_audit_read_parsers

    add_audit_read_parsers(add_audit_parsers(sub))


def _add_simulate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = sub.add_parser("simulate", help="realistic topic traffic through the domain")
    simulate.add_argument("--province", required=True, help="2-digit province code, e.g. 62")
    simulate.add_argument("--topics", type=_positive, required=True)
    simulate.add_argument("--days", type=_positive, default=365, help="spread over this many days")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument(
        "--workers",
        type=_non_negative,
        default=min(os.cpu_count() or 1, 4),
        help="processes playing the topics while this one saves (default: the cores, "
        "at most 4; 0 = play here); the events are the same for any number",
    )
    simulate.set_defaults(func=cmd_simulate)


def _add_stream_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    relay = sub.add_parser("relay", help="distributed: publish the event store to Kafka")
    relay.add_argument("--batch", type=_positive, default=5000, help="events per batch (5000)")
    relay.set_defaults(func=cmd_relay)
    projector = sub.add_parser("projector", help="distributed: feed the read models from Kafka")
    projector.set_defaults(func=cmd_projector)


def add_audit_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """`linkage audit …`: the group, and `verify` (the hash chain, `infra.audit_verify`)."""
    from infra.audit_verify import WORKERS, cmd_audit_verify
    from infra.chain_findings import parse_anchor

    def anchor(text: str) -> tuple[int, bytes]:
        try:
            return parse_anchor(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    audit = sub.add_parser("audit", help="auditors: integrity of the store, decision history")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser(
        "verify", help="recompute the hash chain of every event; exit 1 naming each bad row"
    )
    verify.add_argument(
        "--from",
        dest="start",
        type=_positive,
        default=1,
        metavar="POSITION",
        help="start at this position, trusting the chain before it (default: the first)",
    )
    verify.add_argument(
        "--anchor",
        dest="anchors",
        type=anchor,
        action="append",
        default=[],
        metavar="POSITION:HASH",
        help="a head printed by an earlier verify: the chain must still pass through it",
    )
    verify.add_argument(
        "--workers",
        type=_positive,
        default=WORKERS,
        help=f"database connections checking ranges side by side (default {WORKERS})",
    )
    verify.set_defaults(func=cmd_audit_verify)
    return audit_sub


KNOWN_FAILURES: tuple[type[Exception], ...] = (
    LinkageError,
    UnknownProjectionError,
    DivisionsFileError,
    SettingsError,
    DatabaseUnavailableError,
    ListenError,
    StreamError,
)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        use_display_zone(Settings.from_env().display_zone)  # before any time is read or shown
        status = func(args)
        sys.stdout.flush()  # a reader gone away shows here, not at the interpreter's exit
        return status
    except BrokenPipeError:
        return output_closed()
    except UsageError as exc:
        print(f"linkage: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KNOWN_FAILURES as exc:
        print(f"linkage: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("linkage: interrupted", file=sys.stderr)
        return 130


def output_closed() -> int:
    """Standard output's reader went away before the end (`linkage audit export … | head`):
    the rest goes to /dev/null (so that the interpreter's last flush does not fail
    again), one line says the output is incomplete, and the status is the failure's."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # no file descriptor behind sys.stdout
        pass
    with suppress(OSError):  # standard error may be gone too
        print(
            "linkage: error: standard output was closed before the output was complete "
            "(broken pipe)",
            file=sys.stderr,
        )
    return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
