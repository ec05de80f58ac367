"""The `linkage` command line: the contract for operators and scripts (DESIGN §8).

Every failure prints one clear line and exits non-zero; long work shows progress.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from domain.errors import LinkageError
from domain.units import LEVEL_NAMES_ZH
from infra.bootstrap import Runtime, bootstrap
from infra.database import DatabaseUnavailableError
from infra.divisions import DivisionsFileError
from infra.settings import Settings, SettingsError

EXIT_FAILURE = 1
EXIT_USAGE = 2


def cmd_demo(args: argparse.Namespace) -> int:
    from infra.demo import format_history, run_scenario
    from infra.units_import import GANSU, import_units

    settings = Settings.from_env()
    where = "embedded PostgreSQL in " + str(settings.home / "pgdata")
    if settings.database_url:
        where = "PostgreSQL at LINKAGE_DATABASE_URL"
    print(f"linkage demo: starting {where} …", flush=True)
    with bootstrap(settings) as runtime:
        if runtime.units_view.count() == 0:
            print("importing the Gansu (甘肃省, 62) hierarchy shipped with Linkage …", flush=True)
            print(import_units(runtime, GANSU).describe())
        else:
            print(f"the store already holds {runtime.units_view.count():,} units")
        topic_id = run_scenario(runtime.app)
        topic = runtime.app.get_topic(topic_id)
        route = " → ".join(_unit_label(runtime, hop.unit) for hop in topic.route)
        print()
        print(f"议题 {topic.title}  ({topic_id})")
        print(f"  stage {topic.stage.value}; route {route}")
        print("  decision history (决策记录):")
        format_history(runtime.app.history(topic_id), runtime.units)
        print()
        print(f"store head position: {runtime.app.head_position()}")
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


def _unit_label(runtime: Runtime, code: str) -> str:
    unit = runtime.units.get(code)
    return f"{unit.name}({code})" if unit else code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linkage", description="Linkage — 五级联动协商 platform for CPPCC committees"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="embedded mode: import Gansu and run a realistic topic")
    demo.set_defaults(func=cmd_demo)

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
    return parser


KNOWN_FAILURES: tuple[type[Exception], ...] = (
    LinkageError,
    DivisionsFileError,
    SettingsError,
    DatabaseUnavailableError,
)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KNOWN_FAILURES as exc:
        print(f"linkage: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("linkage: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
