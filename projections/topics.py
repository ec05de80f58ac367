"""The topics read model: one summary row per topic, who may see it, and every inbox.

Tables (all in the view's schema):

* `topic_summary` — the topic as the API shows it: stage, location, owner, pending
  transfer, route (every unit that held it, when, via what and why), tasks,
  meetings, return visits, and the derived columns the lists filter on
  (`cross_level`, `open_task_due`, `pending_due`, `due_at`, `terminal`, `search`).
* `topic_visibility` — for each topic, the units that may see it (DESIGN §6), the
  same rule as `domain.topic.Topic.involvement`: kind 'S' (subtree) for every unit
  that is the location or the current owner or an ancestor of either; kind 'I'
  (involved now) for the owner, each co-organiser, each task handler and a pending
  transfer's target; kind 'E' (involvement ended: it reads, it takes no part) for
  every other unit on the route, each unit that returned a transfer and the
  location and owner of each topic merged into this one (`past_involvement`).
  A unit with an 'S' or 'I' row is involved now; one with only an 'E' row is not.
  'S' rows also carry `located` (the unit is the
  location or its ancestor: the rows statistics roll up on) and `due_at` (the
  earliest open deadline, NULL once terminal), so "overdue under unit U" is one
  index range scan.
* `inbox` — what each unit must act on: OWNED (the owner of a non-terminal topic),
  TRANSFER_PENDING (the target of a pending transfer), TASK_TO_SIGN and
  TASK_TO_COMPLETE (the handler unit of an assigned or signed task).

A batch is applied with a handful of statements whatever its size: the touched
topics' rows are loaded once (`= ANY`), every envelope is applied in Python, then
the summaries are upserted from `unnest` arrays and the visibility and inbox rows
of the topics whose rows changed are replaced (one DELETE and one INSERT each).
Envelopes at or below a topic's stored version are skipped, so a repeated event
(Kafka delivers at least once) changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.topic import TERMINAL_STAGES, Stage, TaskStatus, TransferKind, merged_units
from domain.units import UnitDirectory
from projections.base import View
from projections.bulk import (
    UnitPaths,
    array_params,
    db_value,
    fold,
    iso,
    parse_time,
    schema_statements,
    unnest_of,
)
from projections.envelope import Envelope

TERMINAL = frozenset(str(s) for s in TERMINAL_STAGES)
# The columns of topic_summary and the type each travels as in `unnest` (a text[]
# column travels as one array literal per row, since unnest flattens 2-D arrays).
STORED_COLUMNS = (
    ("topic_id", "text"),
    ("title", "text"),
    ("description", "text"),
    ("category", "text"),
    ("source", "text"),
    ("stage", "text"),
    ("location", "text"),
    ("location_level", "smallint"),
    ("owner", "text"),
    ("owner_level", "smallint"),
    ("submitted_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("version", "int"),
    ("position", "bigint"),
    ("pending", "jsonb"),
    ("co_organizers", "text"),
    ("route", "jsonb"),
    ("tasks", "jsonb"),
    ("meetings", "jsonb"),
    ("feedback", "text"),
    ("return_visits", "jsonb"),
    ("returns", "int"),
    ("reopened", "int"),
    ("closed_at", "timestamptz"),
    ("merged_into", "text"),
    ("cross_level", "boolean"),
    ("past_involvement", "jsonb"),
)
DERIVED_COLUMNS = (
    ("open_task_due", "timestamptz"),
    ("pending_due", "timestamptz"),
    ("due_at", "timestamptz"),
    ("terminal", "boolean"),
    ("search", "text"),
)
SUMMARY_COLUMNS = STORED_COLUMNS + DERIVED_COLUMNS
SUMMARY_NAMES = tuple(name for name, _ in SUMMARY_COLUMNS)


@dataclass(slots=True)
class Summary:
    """One `topic_summary` row while a batch is applied (jsonb parts as plain data)."""

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
    submitted_at: datetime
    updated_at: datetime
    version: int
    position: int
    pending: dict[str, Any] | None = None
    co_organizers: list[str] = field(default_factory=list)
    route: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    meetings: list[dict[str, Any]] = field(default_factory=list)
    feedback: str | None = None
    return_visits: list[dict[str, Any]] = field(default_factory=list)
    returns: int = 0
    reopened: int = 0
    closed_at: datetime | None = None
    merged_into: str | None = None
    cross_level: bool = False
    # units whose involvement ended off the route: {"unit", "event", "at"}
    past_involvement: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: DictRow) -> Summary:
        return cls(**{name: row[name] for name, _ in STORED_COLUMNS})

    # -- derived columns ---------------------------------------------------------------

    @property
    def terminal(self) -> bool:
        return self.stage in TERMINAL

    @property
    def open_task_due(self) -> datetime | None:
        dues = [parse_time(t["due"]) for t in self.tasks if t["status"] != TaskStatus.COMPLETED]
        return min((d for d in dues if d is not None), default=None)

    @property
    def pending_due(self) -> datetime | None:
        return parse_time(self.pending.get("due")) if self.pending else None

    @property
    def due_at(self) -> datetime | None:
        """The earliest open deadline (task or delegation); None once terminal."""
        if self.terminal:
            return None
        dues = [d for d in (self.open_task_due, self.pending_due) if d is not None]
        return min(dues, default=None)

    @property
    def search(self) -> str:
        return f"{self.title}\n{self.description}"

    # -- who sees it, who must act ----------------------------------------------------

    def visibility(self, places: UnitPaths) -> set[tuple[Any, ...]]:
        """(unit, topic_id, kind, located, due_at) rows."""
        located = places.path(self.location)
        subtree = set(located) | set(places.path(self.owner))
        due = self.due_at
        rows: set[tuple[Any, ...]] = {(u, self.topic_id, "S", u in located, due) for u in subtree}
        current = {self.owner, *self.co_organizers}
        current.update(t["handler_unit"] for t in self.tasks)
        if self.pending:
            current.add(self.pending["to_unit"])
        ended = {hop["unit"] for hop in self.route}
        ended.update(p["unit"] for p in self.past_involvement)
        rows.update((u, self.topic_id, "I", False, None) for u in current)
        rows.update((u, self.topic_id, "E", False, None) for u in ended - current)
        return rows

    def inbox(self) -> set[tuple[Any, ...]]:
        """(unit, topic_id, item, task_id, due, since) rows."""
        if self.terminal:
            return set()
        tid = self.topic_id
        since = parse_time(self.route[-1]["entered_at"]) if self.route else self.submitted_at
        rows: set[tuple[Any, ...]] = {(self.owner, tid, "OWNED", "", self.due_at, since)}
        if self.pending:
            rows.add(
                (
                    self.pending["to_unit"],
                    tid,
                    "TRANSFER_PENDING",
                    "",
                    self.pending_due,
                    parse_time(self.pending["requested_at"]),
                )
            )
        for task in self.tasks:
            if task["status"] == TaskStatus.ASSIGNED:
                item, at = "TASK_TO_SIGN", task["assigned_at"]
            elif task["status"] == TaskStatus.SIGNED:
                item, at = "TASK_TO_COMPLETE", task["signed_at"]
            else:
                continue
            rows.add(
                (task["handler_unit"], tid, item, task["task_id"], parse_time(task["due"]),
                 parse_time(at))
            )  # fmt: skip
        return rows

    def db_values(self) -> tuple[Any, ...]:
        """The row in SUMMARY_COLUMNS order, as `array_params` takes it."""
        return (
            *(db_value(getattr(self, name), kind) for name, kind in STORED_COLUMNS),
            self.open_task_due,
            self.pending_due,
            self.due_at,
            self.terminal,
            self.search,
        )


# -- applying events ----------------------------------------------------------------


def submitted(e: Envelope, places: UnitPaths) -> Summary:
    d = e.data
    location = d["location"]
    level = places.level(location)
    return Summary(
        topic_id=e.topic_id,
        title=d["title"],
        description=d["description"],
        category=d["category"],
        source=d["source"],
        stage=Stage.COLLECTED.value,
        location=location,
        location_level=level,
        owner=location,
        owner_level=level,
        submitted_at=e.occurred_at,
        updated_at=e.occurred_at,
        version=e.version,
        position=e.position,
        route=[_hop(location, level, e.occurred_at, None, None)],
    )


def _hop(
    unit: str, level: int, at: datetime, via: str | None, reason: str | None
) -> dict[str, Any]:
    return {
        "unit": unit,
        "level": level,
        "entered_at": iso(at),
        "left_at": None,
        "via": via,
        "reason": reason,
    }


def _move(s: Summary, places: UnitPaths, to: str, at: datetime, via: str, why: str | None) -> None:
    if s.route:
        s.route[-1]["left_at"] = iso(at)
    level = places.level(to)
    s.route.append(_hop(to, level, at, via, why))
    s.owner, s.owner_level = to, level
    s.cross_level = s.cross_level or level != s.location_level


def _ended(unit: str, event: str, at: datetime) -> dict[str, Any]:
    return {"unit": unit, "event": event, "at": iso(at)}


def _task(s: Summary, task_id: str) -> dict[str, Any]:
    for task in s.tasks:
        if task["task_id"] == task_id:
            return task
    raise LookupError(f"topic {s.topic_id} has no task {task_id!r} in the read model")


def _meeting(s: Summary, meeting_id: str) -> dict[str, Any]:
    for meeting in s.meetings:
        if meeting["meeting_id"] == meeting_id:
            return meeting
    raise LookupError(f"topic {s.topic_id} has no meeting {meeting_id!r} in the read model")


def advance(s: Summary, e: Envelope, places: UnitPaths) -> None:
    """Apply one event and move the summary to its version."""
    apply_event(s, e, places)
    s.version, s.position, s.updated_at = e.version, e.position, e.occurred_at


def apply_event(s: Summary, e: Envelope, places: UnitPaths) -> None:
    """The effect of one event on the summary (mirrors each event's `apply`)."""
    d, at = e.data, e.occurred_at
    match e.type:
        case "TopicDetermined":
            s.stage = Stage.DETERMINED.value
        case "TopicDeclined":
            s.stage, s.closed_at = Stage.DECLINED.value, at
        case "TopicMerged":
            s.stage, s.closed_at, s.merged_into = Stage.MERGED.value, at, d["into"]
        case "EscalationRequested" | "DelegationRequested":
            s.pending = {
                "kind": TransferKind.ESCALATION
                if e.type == "EscalationRequested"
                else TransferKind.DELEGATION,
                "from_unit": d["from_unit"],
                "to_unit": d["to_unit"],
                "reason": d.get("reason", d.get("instructions")),
                "requested_at": iso(at),
                "due": iso(d.get("due")),
                "skip_level": bool(d.get("skip_level", False)),
            }
        case "TransferAccepted":
            why = s.pending["reason"] if s.pending else None
            _move(s, places, d["to_unit"], at, d["kind"], why)
            s.pending = None
        case "TransferReturned":
            s.pending = None
            s.returns += 1
            s.past_involvement.append(_ended(d["to_unit"], e.type, at))
        case "TopicAbsorbed":
            for unit in merged_units(e.actor["unit"], d.get("merged_location")):
                s.past_involvement.append(_ended(unit, e.type, at))
        case "TransferCancelled":
            s.pending = None
        case "TopicTakenOver":
            s.pending = None
            _move(s, places, d["to_unit"], at, TransferKind.TAKEOVER, d["reason"])
        case "CoOrganizerInvited":
            s.co_organizers.append(d["unit"])
        case "ResearchStarted":
            s.stage = Stage.RESEARCH.value
        case "DeliberationScheduled":
            s.stage = Stage.DELIBERATION.value
            s.meetings.append(_scheduled(d))
        case "DeliberationHeld":
            meeting = _meeting(s, d["meeting_id"])
            meeting.update(
                held_at=iso(at),
                attendance=list(d["attendance"]),
                minutes=d["minutes"],
                recommendations=list(d["recommendations"]),
            )
        case _:
            _apply_later_steps(s, e)


def _scheduled(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "meeting_id": d["meeting_id"],
        "scheduled_at": iso(d["scheduled_at"]),
        "place": d["place"],
        "format": d["format"],
        "participants": list(d["participants"]),
        "held_at": None,
        "attendance": [],
        "minutes": None,
        "recommendations": [],
    }


def _apply_later_steps(s: Summary, e: Envelope) -> None:
    """Handling, feedback and the end of a topic."""
    d, at = e.data, e.occurred_at
    match e.type:
        case "TaskAssigned":
            s.stage = Stage.HANDLING.value
            s.tasks.append(
                {
                    "task_id": d["task_id"],
                    "handler_unit": d["handler_unit"],
                    "handler": d["handler"],
                    "requirement": d["requirement"],
                    "due": iso(d["due"]),
                    "status": TaskStatus.ASSIGNED,
                    "assigned_at": iso(at),
                    "signed_at": None,
                    "completed_at": None,
                    "result": None,
                    "supervisions": 0,
                    "extensions": 0,
                }
            )
        case "TaskSigned":
            _task(s, d["task_id"]).update(status=TaskStatus.SIGNED, signed_at=iso(at))
        case "TaskSupervised":
            _task(s, d["task_id"])["supervisions"] += 1
        case "TaskDeadlineExtended":
            task = _task(s, d["task_id"])
            task["due"] = iso(d["new_due"])
            task["extensions"] += 1
        case "TaskCompleted":
            _task(s, d["task_id"]).update(
                status=TaskStatus.COMPLETED, completed_at=iso(at), result=d["result"]
            )
        case "FeedbackGiven":
            s.stage, s.feedback = Stage.FEEDBACK.value, d["reply"]
        case "ReturnVisitRecorded":
            s.return_visits.append(
                {
                    "contacted": bool(d["contacted"]),
                    "solved": bool(d["solved"]),
                    "satisfaction": d["satisfaction"],
                    "comment": d.get("comment"),
                    "visited_at": iso(at),
                }
            )
        case "TopicReopened":
            s.stage, s.feedback = Stage.HANDLING.value, None
            s.reopened += 1
        case "TopicClosed":
            s.stage, s.closed_at = Stage.CLOSED.value, at
        case "TopicWithdrawn":
            s.stage, s.closed_at, s.pending = Stage.WITHDRAWN.value, at, None
        case _:
            pass  # comments, research reports, progress, instructions, adoptions


# -- the view -------------------------------------------------------------------------


VISIBILITY_TYPES = ("text", "text", "text", "boolean", "timestamptz")
INBOX_TYPES = ("text", "text", "text", "text", "timestamptz", "timestamptz")


class TopicsView(View):
    """`topic_summary`, `topic_visibility` and `inbox`."""

    name = "topics"
    tables = ("inbox", "topic_visibility", "topic_summary")
    # Few indexes, each for a query of projections.queries: every one costs the rebuild.
    DDL = (
        "CREATE TABLE IF NOT EXISTS {schema}.topic_summary ("
        " topic_id text PRIMARY KEY,"
        " title text NOT NULL,"
        " description text NOT NULL,"
        " category text NOT NULL,"
        " source text NOT NULL,"
        " stage text NOT NULL,"
        " location text NOT NULL,"
        " location_level smallint NOT NULL,"
        " owner text NOT NULL,"
        " owner_level smallint NOT NULL,"
        " submitted_at timestamptz NOT NULL,"
        " updated_at timestamptz NOT NULL,"
        " version int NOT NULL,"
        " position bigint NOT NULL,"
        " pending jsonb,"
        " co_organizers text[] NOT NULL,"
        " route jsonb NOT NULL,"
        " tasks jsonb NOT NULL,"
        " meetings jsonb NOT NULL,"
        " feedback text,"
        " return_visits jsonb NOT NULL,"
        " returns int NOT NULL,"
        " reopened int NOT NULL,"
        " closed_at timestamptz,"
        " merged_into text,"
        " cross_level boolean NOT NULL,"
        " open_task_due timestamptz,"
        " pending_due timestamptz,"
        " due_at timestamptz,"
        " terminal boolean NOT NULL,"
        " search text NOT NULL,"
        " past_involvement jsonb NOT NULL DEFAULT '[]')",
        # a table created before the column existed gets it (a rebuild fills it in)
        "ALTER TABLE {schema}.topic_summary"
        " ADD COLUMN IF NOT EXISTS past_involvement jsonb NOT NULL DEFAULT '[]'",
        "CREATE INDEX IF NOT EXISTS topic_summary_owner_idx"
        " ON {schema}.topic_summary (owner, updated_at DESC, topic_id DESC)",
        "CREATE INDEX IF NOT EXISTS topic_summary_updated_idx"
        " ON {schema}.topic_summary (updated_at DESC, topic_id DESC)",
        "CREATE INDEX IF NOT EXISTS topic_summary_cross_level_idx"
        " ON {schema}.topic_summary (updated_at DESC, topic_id DESC) WHERE cross_level",
        "CREATE INDEX IF NOT EXISTS topic_summary_due_idx"
        " ON {schema}.topic_summary (due_at) WHERE due_at IS NOT NULL",
        "CREATE TABLE IF NOT EXISTS {schema}.topic_visibility ("
        " unit text NOT NULL,"
        " topic_id text NOT NULL,"
        " kind char(1) NOT NULL,"
        " located boolean NOT NULL,"
        " due_at timestamptz,"
        " PRIMARY KEY (unit, topic_id, kind))",
        "CREATE INDEX IF NOT EXISTS topic_visibility_topic_idx"
        " ON {schema}.topic_visibility (topic_id)",
        "CREATE INDEX IF NOT EXISTS topic_visibility_due_idx"
        " ON {schema}.topic_visibility (unit, due_at)"
        " WHERE kind = 'S' AND located AND due_at IS NOT NULL",
        "CREATE TABLE IF NOT EXISTS {schema}.inbox ("
        " unit text NOT NULL,"
        " topic_id text NOT NULL,"
        " item text NOT NULL,"
        " task_id text NOT NULL,"
        " due timestamptz,"
        " since timestamptz NOT NULL,"
        " PRIMARY KEY (unit, topic_id, item, task_id))",
        "CREATE INDEX IF NOT EXISTS inbox_topic_idx ON {schema}.inbox (topic_id)",
    )
    STATEMENTS: ClassVar[dict[str, str]] = {
        "select": "SELECT * FROM {schema}.topic_summary WHERE topic_id = ANY(%s)",
        "upsert": (
            "INSERT INTO {schema}.topic_summary AS t (" + ", ".join(SUMMARY_NAMES) + ")"
            " SELECT "
            + ", ".join(
                f"r.{n}::text[]" if n == "co_organizers" else f"r.{n}" for n in SUMMARY_NAMES
            )
            + " FROM "
            + unnest_of([t for _, t in SUMMARY_COLUMNS])
            + " AS r("
            + ", ".join(SUMMARY_NAMES)
            + ") ON CONFLICT (topic_id) DO UPDATE SET "
            + ", ".join(f"{n} = EXCLUDED.{n}" for n in SUMMARY_NAMES[1:])
        ),
        "delete_visibility": "DELETE FROM {schema}.topic_visibility WHERE topic_id = ANY(%s)",
        "insert_visibility": (
            "INSERT INTO {schema}.topic_visibility (unit, topic_id, kind, located, due_at)"
            " SELECT * FROM " + unnest_of(VISIBILITY_TYPES)
        ),
        "delete_inbox": "DELETE FROM {schema}.inbox WHERE topic_id = ANY(%s)",
        "insert_inbox": (
            "INSERT INTO {schema}.inbox (unit, topic_id, item, task_id, due, since)"
            " SELECT * FROM " + unnest_of(INBOX_TYPES)
        ),
    }

    def __init__(self, datastore: PostgresDatastore, units: UnitDirectory) -> None:
        super().__init__(datastore, units)
        self.sql = schema_statements(self, self.STATEMENTS)
        self.places = UnitPaths(units)

    def apply(self, curs: Cursor[DictRow], envelopes: Sequence[Envelope]) -> None:
        events = [e for e in envelopes if e.is_topic_event]
        if not events:
            return
        states = self._load(curs, {e.topic_id for e in events})
        self.places.prefetch(curs, _units_named(states.values(), events))
        before = {tid: self._derived(s) for tid, s in states.items()}

        changed = fold(
            events,
            states,
            lambda e: submitted(e, self.places),
            lambda s, e: advance(s, e, self.places),
        )
        self._write(curs, [states[t] for t in sorted(changed)], before)

    def _load(self, curs: Cursor[DictRow], topic_ids: set[str]) -> dict[str, Summary]:
        curs.execute(self.sql["select"], (sorted(topic_ids),))
        return {row["topic_id"]: Summary.from_row(row) for row in curs.fetchall()}

    def _derived(self, s: Summary) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
        return s.visibility(self.places), s.inbox()

    def _write(
        self,
        curs: Cursor[DictRow],
        summaries: list[Summary],
        before: dict[str, tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]],
    ) -> None:
        if not summaries:
            return
        curs.execute(
            self.sql["upsert"],
            array_params([s.db_values() for s in summaries], [t for _, t in SUMMARY_COLUMNS]),
        )
        stale_visibility: list[str] = []
        stale_inbox: list[str] = []
        visibility: list[tuple[Any, ...]] = []
        inbox: list[tuple[Any, ...]] = []
        for s in summaries:
            old_visibility, old_inbox = before.get(s.topic_id, (None, None))
            new_visibility, new_inbox = self._derived(s)
            if new_visibility != old_visibility:
                if old_visibility:
                    stale_visibility.append(s.topic_id)
                visibility.extend(sorted(new_visibility))
            if new_inbox != old_inbox:
                if old_inbox:
                    stale_inbox.append(s.topic_id)
                inbox.extend(sorted(new_inbox, key=lambda r: r[:4]))
        self._replace(curs, "visibility", stale_visibility, visibility, VISIBILITY_TYPES)
        self._replace(curs, "inbox", stale_inbox, inbox, INBOX_TYPES)

    def _replace(
        self,
        curs: Cursor[DictRow],
        table: str,
        stale: list[str],
        rows: list[tuple[Any, ...]],
        types: Sequence[str],
    ) -> None:
        if stale:
            curs.execute(self.sql[f"delete_{table}"], (stale,))
        if rows:
            curs.execute(self.sql[f"insert_{table}"], array_params(rows, types))


def _units_named(summaries: Iterable[Summary], events: Iterable[Envelope]) -> set[str | None]:
    """Every unit whose path or level applying `events` to `summaries` may need."""
    codes: set[str | None] = set()
    for s in summaries:
        codes.update((s.location, s.owner))
    for e in events:
        codes.update((e.data.get("location"), e.data.get("to_unit")))
    return codes


def replay(events: Iterable[Envelope], units: UnitDirectory) -> Summary | None:
    """One topic's summary from its events, by the same code the view runs (for
    `asOf` reads: the topic as it stood after the last of `events`)."""
    places = UnitPaths(units)
    states: dict[str, Summary] = {}

    fold(
        [e for e in events if e.is_topic_event],
        states,
        lambda e: submitted(e, places),
        lambda s, e: advance(s, e, places),
    )
    return next(iter(states.values()), None)
