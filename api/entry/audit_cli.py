"""`linkage audit history` and `linkage audit export`: the auditors' reads (issue 6).

Registered by `add_audit_read_parsers(audit_sub)` under the `audit` group of
`api.entry.cli`; the work itself is in `projections.audit`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from domain.clock import display_zone, shown
from domain.errors import BadInputError, LinkageError
from domain.topic import check_time
from infra.bootstrap import Runtime, bootstrap

if TYPE_CHECKING:
    from projections.audit import TopicHistory

HISTORY_FORMATS = ("text", "json", "csv")
CATCH_UP_WAIT = 60.0  # seconds to wait for another process projecting the store


def add_audit_read_parsers(audit_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = audit_sub.add_parser(
        "history", help="a topic's decision history (with --as-of: its state then)"
    )
    history.add_argument("topic", help="the topic's UUID")
    history.add_argument(
        "--as-of",
        dest="as_of",
        metavar="T",
        help="an instant: " + TIME_FORMS + " (a date: the end of that day, display zone)",
    )
    history.add_argument("--format", default="text", metavar="text|json|csv")
    history.set_defaults(func=cmd_audit_history)

    export = audit_sub.add_parser(
        "export", help="every event of the topics a unit sees, unit names as they were then"
    )
    export.add_argument(
        "--unit", required=True, metavar="CODE", help="the unit code whose view is exported"
    )
    export.add_argument(
        "--from",
        dest="date_from",
        metavar="T",
        help="from this instant (inclusive): " + TIME_FORMS + " (a date: its start)",
    )
    export.add_argument(
        "--to",
        dest="date_to",
        metavar="T",
        help="to this instant (exclusive); a date: up to the end of that day",
    )
    export.add_argument("--format", required=True, metavar="csv|jsonl")
    export.add_argument(
        "--output", metavar="FILE", help="write to this file (default: standard output)"
    )
    export.set_defaults(func=cmd_audit_export)


TIME_FORMS = "2026-11-05T10:00+08:00 (a time with its offset), 2026-11-05+08:00 or 2026-11-05"
_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?")


def parse_instant(text: str | None, option: str, *, day_ends: bool = False) -> datetime | None:
    """What the hints show, and only that: an ISO 8601 time with its offset, a date
    with an offset, or a date in the display zone. A date stands for the start of that
    day, or with `day_ends` for its end (the next day's start: `--to` is exclusive)."""
    if text is None:
        return None
    value = text.strip()
    day = _DAY.fullmatch(value)
    if day is not None:
        return check_time(_day(day, text, option, day_ends), option)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadInputError("INVALID_TIME", f"{option} {text!r} 不是时间；{_forms()}") from None
    if moment.tzinfo is None:
        raise BadInputError(
            "TIME_WITHOUT_OFFSET", f"{option} {text!r} 有时刻却没有时区偏移；{_forms()}"
        )
    return check_time(moment, option)


def _day(day: re.Match[str], text: str, option: str, day_ends: bool) -> datetime:
    try:
        start = date.fromisoformat(day.group(1))
    except ValueError:
        raise BadInputError(
            "INVALID_TIME", f"{option} {text!r} 不是日历上的日期；{_forms()}"
        ) from None
    if day_ends:
        start += timedelta(days=1)
    offset = day.group(2)
    if offset is None:  # the day in the display zone, as the display shows it
        return datetime.combine(start, time(0), tzinfo=display_zone())
    try:
        return datetime.fromisoformat(f"{start.isoformat()}T00:00{offset}")
    except ValueError:  # an offset beyond ±24 h
        raise BadInputError(
            "INVALID_TIME", f"{option} {text!r} 的时区偏移无效；{_forms()}"
        ) from None


def _forms() -> str:
    zone = getattr(display_zone(), "key", str(display_zone()))
    return (
        "可写 2026-11-05T10:00+08:00（时刻，带时区偏移）、2026-11-05+08:00（日期，带偏移）"
        f"或 2026-11-05（日期，按显示时区 {zone}）"
    )


def parse_topic(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise BadInputError("INVALID_TOPIC_ID", f"topic {text!r} is not a topic UUID") from None


# -- history ---------------------------------------------------------------------------


def cmd_audit_history(args: argparse.Namespace) -> int:
    from infra.audit_format import csv_lines
    from projections.audit import HISTORY_COLUMNS, topic_history

    fmt = _choice(args.format, HISTORY_FORMATS)
    topic_id = parse_topic(args.topic)
    as_of = parse_instant(args.as_of, "--as-of", day_ends=True)
    if as_of is not None and _DAY.fullmatch(args.as_of.strip()):
        as_of -= timedelta(microseconds=1)  # the day's last instant: the state at its end
    with bootstrap() as runtime, runtime.database.connect() as conn:
        runtime.open_read_models()  # creates the read-model tables if missing
        found = topic_history(conn, runtime.app, topic_id, as_of)
        if fmt == "json":
            print(json.dumps(found.document(), ensure_ascii=False, indent=2))
        elif fmt == "csv":
            sys.stdout.writelines(csv_lines(found.rows, HISTORY_COLUMNS))
        else:
            _print_history_text(runtime, found)
    return 0


def _print_history_text(runtime: Runtime, found: TopicHistory) -> None:
    from api.entry.demo import format_history

    state, as_of, count = found.state, found.as_of, len(found.entries)
    if as_of is not None:
        print(f"议题 {found.topic_id} as of {shown(as_of)}")
        if state is None:
            print("  it did not exist yet")
            return
        route = " → ".join(f"{h['name']}({h['code']})" for h in state["route"])
        owner = state["owner"]
        print(f"  {state['title']}")
        print(f"  stage {state['stage']}; owner {owner['name']}({owner['code']}); route {route}")
        pending = state["pending_transfer"]
        if pending:
            to = pending["to"]
            print(f"  pending {pending['kind']} to {to['name']}({to['code']})")
        for task in state["tasks"]:
            print(f"  task {task['task_id']} {task['status']} at {task['handler_unit']['name']}")
        print(f"  decision history up to then (决策记录, {count} events):")
    else:
        print(f"议题 {found.topic_id}: decision history (决策记录, {count} events)")
    format_history(found.entries, runtime.units, name_at=found.names.name_at)


# -- export ----------------------------------------------------------------------------


def cmd_audit_export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from infra.audit_format import check_format, formatted
    from projections.audit import (
        EXPORT_COLUMNS,
        UnitNames,
        check_export_unit,
        count_topics,
        export_rows,
        export_window,
    )

    fmt = check_format(args.format)
    window = export_window(
        args.unit,
        parse_instant(args.date_from, "--from"),
        parse_instant(args.date_to, "--to", day_ends=True),
    )
    with (
        _output(args.output) as out,  # a path that cannot be written fails before any work
        bootstrap() as runtime,
        runtime.database.connect() as conn,
    ):
        check_export_unit(conn, window.unit)
        _bring_up_to_date(runtime)
        total = count_topics(conn, window)
        names = UnitNames.load(conn, runtime.app)
        with tqdm(total=total, desc=f"export {window.unit}", unit=" topics") as bar:
            rows = _Counted(export_rows(conn, window, names, bar.update))
            out.writelines(formatted(rows, fmt, EXPORT_COLUMNS))
        where = f" to {args.output}" if args.output else ""
        print(
            f"linkage: exported {rows.n:,} events of {total:,} topics seen by unit "
            f"{window.unit}{where}",
            file=sys.stderr,
        )
    return 0


class _Counted:
    """The rows, counted as they pass."""

    def __init__(self, rows: Iterator[dict[str, Any]]) -> None:
        self.rows = rows
        self.n = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self.rows:
            self.n += 1
            yield row


def _bring_up_to_date(runtime: Runtime) -> None:
    """Embedded or single-host: project what the read models have not seen yet, so the
    export covers the store up to now; distributed: say how far behind they are."""
    import psycopg
    from eventsourcing.persistence import IntegrityError
    from tqdm import tqdm

    runner = runtime.projections
    head, position = runner.head(), runner.position()
    if position >= head:
        return
    if runtime.settings.distributed:
        print(
            f"linkage: warning: the read models are at position {position} of {head}; "
            "the export covers the store up to there",
            file=sys.stderr,
        )
        return
    try:
        with tqdm(total=head - position, desc="projecting", unit=" events") as bar:
            runner.catch_up(["topics", "timeline"], progress=bar.update)
    except (IntegrityError, psycopg.IntegrityError):
        # another process (`linkage serve`) projects the same store: let it finish
        try:
            runner.wait_for(head, timeout=CATCH_UP_WAIT)
        except TimeoutError:
            print(
                f"linkage: warning: the read models are at position {runner.position()} "
                f"of {head}; the export covers the store up to there",
                file=sys.stderr,
            )


@contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    try:
        with Path(path).open("w", encoding="utf-8", newline="") as handle:
            yield handle
    except OSError as exc:  # not writable, or the disk filled up
        raise LinkageError(
            "OUTPUT_NOT_WRITABLE", f"cannot write {path}: {exc.strerror or exc}"
        ) from None


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadInputError(
            "INVALID_FORMAT", f"format {value!r} is not one of: {', '.join(allowed)}"
        )
    return value
