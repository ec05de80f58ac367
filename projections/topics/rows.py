"""The topics read model's rows as the API reads them.

`TopicRow` reads a subset of `topic_summary`'s columns (declared once, on
`projections.topics.view.Summary`): its fields are checked against them below, the
SELECT list (TOPIC_COLUMNS) and the row mapping (`topic_row`) follow from its
fields, and the jsonb parts are parsed into the small row types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from domain.lifecycle import is_overdue, task_overdue
from projections.bulk import parse_time
from projections.topics.view import SUMMARY_COLUMNS, Summary


@dataclass(frozen=True, slots=True)
class TransferRow:
    kind: str
    from_unit: str
    to_unit: str
    reason: str
    requested_at: datetime
    due: datetime | None
    skip_level: bool


@dataclass(frozen=True, slots=True)
class HopRow:
    unit: str
    level: int
    entered_at: datetime
    left_at: datetime | None
    via: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class TaskRow:
    task_id: str
    handler_unit: str
    handler: str
    requirement: str
    due: datetime
    status: str
    assigned_at: datetime
    signed_at: datetime | None
    completed_at: datetime | None
    result: str | None
    supervisions: int
    extensions: int

    def overdue(self, now: datetime) -> bool:
        """Finished late, or still open past its due (as `domain.topic.Task.overdue`)."""
        return task_overdue(self.due, self.completed_at, now)


@dataclass(frozen=True, slots=True)
class ParticipantRow:
    name: str
    kind: str
    member_id: str | None


@dataclass(frozen=True, slots=True)
class MeetingRow:
    meeting_id: str
    scheduled_at: datetime
    place: str
    format: str
    participants: tuple[ParticipantRow, ...]
    held_at: datetime | None
    attendance: tuple[str, ...]
    minutes: str | None
    recommendations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReturnVisitRow:
    contacted: bool
    solved: bool
    satisfaction: str
    comment: str | None
    visited_at: datetime


@dataclass(frozen=True, slots=True)
class TopicRow:
    """A topic as the API shows it: columns of `topic_summary`, by the same names."""

    topic_id: str
    title: str
    description: str
    category: str
    source: str
    stage: str
    location: str
    location_level: int
    owner: str
    owner_level: int
    pending: TransferRow | None
    co_organizers: tuple[str, ...]
    route: tuple[HopRow, ...]
    tasks: tuple[TaskRow, ...]
    meetings: tuple[MeetingRow, ...]
    feedback: str | None
    return_visits: tuple[ReturnVisitRow, ...]
    returns: int
    reopened: int
    version: int
    position: int
    submitted_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    merged_into: str | None
    cross_level: bool
    terminal: bool
    due_at: datetime | None  # the earliest open deadline; None once terminal

    def overdue(self, now: datetime) -> bool:
        return is_overdue(self.due_at, now)

    def held(self, now: datetime) -> tuple[timedelta, ...]:
        """How long each hop of the route held the topic (the last one until it ended)."""
        end = self.closed_at or now
        return tuple((hop.left_at or end) - hop.entered_at for hop in self.route)


@dataclass(frozen=True, slots=True)
class InboxRow:
    unit: str
    item: str  # OWNED | TRANSFER_PENDING | TASK_TO_SIGN | TASK_TO_COMPLETE
    task_id: str | None
    due: datetime | None
    since: datetime
    overdue: bool
    topic: TopicRow


# -- mapping ---------------------------------------------------------------------------

ROW_NAMES = tuple(f.name for f in fields(TopicRow))
_unknown = set(ROW_NAMES) - {c.name for c in SUMMARY_COLUMNS}
assert not _unknown, f"TopicRow fields that are no column of topic_summary: {_unknown}"
TOPIC_COLUMNS = ", ".join(f"t.{name}" for name in ROW_NAMES)


def _time(value: str) -> datetime:
    parsed = parse_time(value)
    assert parsed is not None
    return parsed


def _transfer(p: Mapping[str, Any] | None) -> TransferRow | None:
    if p is None:
        return None
    return TransferRow(
        kind=p["kind"],
        from_unit=p["from_unit"],
        to_unit=p["to_unit"],
        reason=p["reason"] or "",
        requested_at=_time(p["requested_at"]),
        due=parse_time(p["due"]),
        skip_level=p["skip_level"],
    )


def _hop(h: Mapping[str, Any]) -> HopRow:
    return HopRow(
        unit=h["unit"],
        level=h["level"],
        entered_at=_time(h["entered_at"]),
        left_at=parse_time(h["left_at"]),
        via=h["via"],
        reason=h["reason"],
    )


def _task(t: Mapping[str, Any]) -> TaskRow:
    return TaskRow(
        task_id=t["task_id"],
        handler_unit=t["handler_unit"],
        handler=t["handler"],
        requirement=t["requirement"],
        due=_time(t["due"]),
        status=t["status"],
        assigned_at=_time(t["assigned_at"]),
        signed_at=parse_time(t["signed_at"]),
        completed_at=parse_time(t["completed_at"]),
        result=t["result"],
        supervisions=t["supervisions"],
        extensions=t["extensions"],
    )


def _meeting(m: Mapping[str, Any]) -> MeetingRow:
    return MeetingRow(
        meeting_id=m["meeting_id"],
        scheduled_at=_time(m["scheduled_at"]),
        place=m["place"],
        format=m["format"],
        participants=tuple(
            ParticipantRow(p["name"], p["kind"], p.get("member_id")) for p in m["participants"]
        ),
        held_at=parse_time(m["held_at"]),
        attendance=tuple(m["attendance"]),
        minutes=m["minutes"],
        recommendations=tuple(m["recommendations"]),
    )


def _visit(v: Mapping[str, Any]) -> ReturnVisitRow:
    return ReturnVisitRow(
        contacted=v["contacted"],
        solved=v["solved"],
        satisfaction=v["satisfaction"],
        comment=v["comment"],
        visited_at=_time(v["visited_at"]),
    )


def _each(parse: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    return lambda values: tuple(parse(v) for v in values)


# How a stored value becomes the row's (every other column is taken as it is).
PARSERS: dict[str, Callable[[Any], Any]] = {
    "pending": _transfer,
    "co_organizers": tuple,
    "route": _each(_hop),
    "tasks": _each(_task),
    "meetings": _each(_meeting),
    "return_visits": _each(_visit),
}


_READERS = tuple((name, PARSERS.get(name)) for name in ROW_NAMES)


def topic_row(r: Mapping[str, Any]) -> TopicRow:
    return TopicRow(*[r[name] if parse is None else parse(r[name]) for name, parse in _READERS])


def summary_topic(summary: Summary) -> TopicRow:
    """A `Summary` (e.g. from `replay`) as the row reads return."""
    return topic_row({name: getattr(summary, name) for name in ROW_NAMES})
