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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.lifecycle import Change, involvement, open_deadline
from domain.topic import (
    LIFECYCLE,
    TERMINAL_STAGES,
    TOPIC_EVENTS,
    Stage,
    TaskStatus,
    Topic,
    TransferKind,
    merged_units,
)
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
from projections.columns import Column, columns_of, create_table, sql, upsert_unnest
from projections.envelope import Envelope

TERMINAL = frozenset(str(s) for s in TERMINAL_STAGES)


@dataclass(slots=True)
class Summary:
    """One `topic_summary` row while a batch is applied (jsonb parts as plain data).

    Its fields are the table's stored columns, declared once here (`sql`): the
    DDL, the batch upsert and the API's row (`projections.topics.rows.TopicRow`,
    which reads a subset of them) follow. The derived columns (DERIVED_COLUMNS) are the
    properties below, written with the row so the lists can filter on them."""

    topic_id: str = field(metadata=sql("text NOT NULL"))
    title: str = field(metadata=sql("text NOT NULL"))
    description: str = field(metadata=sql("text NOT NULL"))
    category: str = field(metadata=sql("text NOT NULL"))
    source: str = field(metadata=sql("text NOT NULL"))
    stage: str = field(metadata=sql("text NOT NULL"))
    location: str = field(metadata=sql("text NOT NULL"))
    location_level: int = field(metadata=sql("smallint NOT NULL"))
    owner: str = field(metadata=sql("text NOT NULL"))
    owner_level: int = field(metadata=sql("smallint NOT NULL"))
    submitted_at: datetime = field(metadata=sql("timestamptz NOT NULL"))
    updated_at: datetime = field(metadata=sql("timestamptz NOT NULL"))
    version: int = field(metadata=sql("int NOT NULL"))
    position: int = field(metadata=sql("bigint NOT NULL"))
    pending: dict[str, Any] | None = field(metadata=sql("jsonb"), default=None)
    co_organizers: list[str] = field(metadata=sql("text[] NOT NULL"), default_factory=list)
    route: list[dict[str, Any]] = field(metadata=sql("jsonb NOT NULL"), default_factory=list)
    tasks: list[dict[str, Any]] = field(metadata=sql("jsonb NOT NULL"), default_factory=list)
    meetings: list[dict[str, Any]] = field(metadata=sql("jsonb NOT NULL"), default_factory=list)
    feedback: str | None = field(metadata=sql("text"), default=None)
    return_visits: list[dict[str, Any]] = field(
        metadata=sql("jsonb NOT NULL"), default_factory=list
    )
    returns: int = field(metadata=sql("int NOT NULL"), default=0)
    reopened: int = field(metadata=sql("int NOT NULL"), default=0)
    closed_at: datetime | None = field(metadata=sql("timestamptz"), default=None)
    merged_into: str | None = field(metadata=sql("text"), default=None)
    cross_level: bool = field(metadata=sql("boolean NOT NULL"), default=False)
    # units whose involvement ended off the route: {"unit", "event", "at"}
    past_involvement: list[dict[str, Any]] = field(
        metadata=sql("jsonb NOT NULL DEFAULT '[]'"), default_factory=list
    )

    @classmethod
    def from_row(cls, row: DictRow) -> Summary:
        return cls(**{c.name: row[c.name] for c in STORED_COLUMNS})

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
        return open_deadline(self.terminal, (self.open_task_due,), self.pending_due)

    @property
    def search(self) -> str:
        return f"{self.title}\n{self.description}"

    # -- who sees it, who must act ----------------------------------------------------

    def visibility(self, places: UnitPaths) -> set[tuple[Any, ...]]:
        """(unit, topic_id, kind, located, due_at) rows: 'S' the subtrees of the location
        and the owner; 'I' and 'E' by `domain.lifecycle.involvement`, as `Topic`."""
        located = places.path(self.location)
        subtree = set(located) | set(places.path(self.owner))
        due = self.due_at
        rows: set[tuple[Any, ...]] = {(u, self.topic_id, "S", u in located, due) for u in subtree}
        current, ended = involvement(
            self.owner,
            self.co_organizers,
            (t["handler_unit"] for t in self.tasks),
            self.pending["to_unit"] if self.pending else None,
            (hop["unit"] for hop in self.route),
            (p["unit"] for p in self.past_involvement),
        )
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
        return tuple(db_value(getattr(self, c.name), c.travel) for c in SUMMARY_COLUMNS)


STORED_COLUMNS = columns_of(Summary)
DERIVED_COLUMNS = tuple(
    Column(name, sql)
    for name, sql in (
        ("open_task_due", "timestamptz"),
        ("pending_due", "timestamptz"),
        ("due_at", "timestamptz"),
        ("terminal", "boolean NOT NULL"),
        ("search", "text NOT NULL"),
    )
)
SUMMARY_COLUMNS = STORED_COLUMNS + DERIVED_COLUMNS
SUMMARY_TYPES = tuple(c.travel for c in SUMMARY_COLUMNS)


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
    """The effect of one event on the summary: its handler (HANDLERS), then its row of
    `domain.topic.LIFECYCLE` (the stage, a terminal topic's end, a pending transfer
    that ends), as `Topic.Event.mutate` applies it. Events of IGNORED change nothing
    the summary shows; an unknown type (a newer writer's) is ignored too."""
    cls = TOPIC_EVENTS.get(e.type)
    if cls is None or cls in IGNORED:
        return
    handler = HANDLERS[cls]
    if handler is not None:
        handler(s, e, places)
    effect = LIFECYCLE[cls]
    if effect.stage is not None:
        s.stage = effect.stage.value
        if effect.stage in TERMINAL_STAGES:
            s.closed_at = e.occurred_at
    if effect.pending is Change.ENDS:
        s.pending = None


def _requested(kind: TransferKind) -> Handler:
    def requested(s: Summary, e: Envelope, places: UnitPaths) -> None:
        d = e.data
        s.pending = {
            "kind": kind,
            "from_unit": d["from_unit"],
            "to_unit": d["to_unit"],
            "reason": d.get("reason", d.get("instructions")),
            "requested_at": iso(e.occurred_at),
            "due": iso(d.get("due")),
            "skip_level": bool(d.get("skip_level", False)),
        }

    return requested


def _accepted(s: Summary, e: Envelope, places: UnitPaths) -> None:
    why = s.pending["reason"] if s.pending else None
    _move(s, places, e.data["to_unit"], e.occurred_at, e.data["kind"], why)


def _returned(s: Summary, e: Envelope, places: UnitPaths) -> None:
    s.returns += 1
    s.past_involvement.append(_ended(e.data["to_unit"], e.type, e.occurred_at))


def _absorbed(s: Summary, e: Envelope, places: UnitPaths) -> None:
    for unit in merged_units(e.actor["unit"], e.data.get("merged_location")):
        s.past_involvement.append(_ended(unit, e.type, e.occurred_at))


def _taken_over(s: Summary, e: Envelope, places: UnitPaths) -> None:
    d = e.data
    _move(s, places, d["to_unit"], e.occurred_at, TransferKind.TAKEOVER, d["reason"])


def _merged(s: Summary, e: Envelope, places: UnitPaths) -> None:
    s.merged_into = e.data["into"]


def _co_organizer(s: Summary, e: Envelope, places: UnitPaths) -> None:
    s.co_organizers.append(e.data["unit"])


def _scheduled(s: Summary, e: Envelope, places: UnitPaths) -> None:
    d = e.data
    s.meetings.append(
        {
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
    )


def _held(s: Summary, e: Envelope, places: UnitPaths) -> None:
    d = e.data
    _meeting(s, d["meeting_id"]).update(
        held_at=iso(e.occurred_at),
        attendance=list(d["attendance"]),
        minutes=d["minutes"],
        recommendations=list(d["recommendations"]),
    )


def _assigned(s: Summary, e: Envelope, places: UnitPaths) -> None:
    d = e.data
    s.tasks.append(
        {
            "task_id": d["task_id"],
            "handler_unit": d["handler_unit"],
            "handler": d["handler"],
            "requirement": d["requirement"],
            "due": iso(d["due"]),
            "status": TaskStatus.ASSIGNED,
            "assigned_at": iso(e.occurred_at),
            "signed_at": None,
            "completed_at": None,
            "result": None,
            "supervisions": 0,
            "extensions": 0,
        }
    )


def _signed(s: Summary, e: Envelope, places: UnitPaths) -> None:
    _task(s, e.data["task_id"]).update(status=TaskStatus.SIGNED, signed_at=iso(e.occurred_at))


def _supervised(s: Summary, e: Envelope, places: UnitPaths) -> None:
    _task(s, e.data["task_id"])["supervisions"] += 1


def _extended(s: Summary, e: Envelope, places: UnitPaths) -> None:
    task = _task(s, e.data["task_id"])
    task["due"] = iso(e.data["new_due"])
    task["extensions"] += 1


def _completed(s: Summary, e: Envelope, places: UnitPaths) -> None:
    _task(s, e.data["task_id"]).update(
        status=TaskStatus.COMPLETED, completed_at=iso(e.occurred_at), result=e.data["result"]
    )


def _feedback(s: Summary, e: Envelope, places: UnitPaths) -> None:
    s.feedback = e.data["reply"]


def _visited(s: Summary, e: Envelope, places: UnitPaths) -> None:
    d = e.data
    s.return_visits.append(
        {
            "contacted": bool(d["contacted"]),
            "solved": bool(d["solved"]),
            "satisfaction": d["satisfaction"],
            "comment": d.get("comment"),
            "visited_at": iso(e.occurred_at),
        }
    )


def _reopened(s: Summary, e: Envelope, places: UnitPaths) -> None:
    s.feedback = None
    s.reopened += 1


Handler = Callable[[Summary, Envelope, UnitPaths], None]
# What each event does to the summary beyond its LIFECYCLE row (None: nothing more);
# TopicSubmitted creates it (`submitted`).
HANDLERS: dict[type[Aggregate.Event], Handler | None] = {
    Topic.TopicSubmitted: None,
    Topic.TopicDetermined: None,
    Topic.TopicDeclined: None,
    Topic.TopicMerged: _merged,
    Topic.TopicAbsorbed: _absorbed,
    Topic.EscalationRequested: _requested(TransferKind.ESCALATION),
    Topic.DelegationRequested: _requested(TransferKind.DELEGATION),
    Topic.TransferAccepted: _accepted,
    Topic.TransferReturned: _returned,
    Topic.TransferCancelled: None,
    Topic.TopicTakenOver: _taken_over,
    Topic.CoOrganizerInvited: _co_organizer,
    Topic.ResearchStarted: None,
    Topic.DeliberationScheduled: _scheduled,
    Topic.DeliberationHeld: _held,
    Topic.TaskAssigned: _assigned,
    Topic.TaskSigned: _signed,
    Topic.TaskSupervised: _supervised,
    Topic.TaskDeadlineExtended: _extended,
    Topic.TaskCompleted: _completed,
    Topic.FeedbackGiven: _feedback,
    Topic.ReturnVisitRecorded: _visited,
    Topic.TopicReopened: _reopened,
    Topic.TopicClosed: None,
    Topic.TopicWithdrawn: None,
}
# Events the summary does not show (the timeline holds them).
IGNORED: frozenset[type[Aggregate.Event]] = frozenset(
    {
        Topic.CommentAdded,
        Topic.ResearchReported,
        Topic.TaskProgressReported,
        Topic.LeaderInstructionRecorded,
        Topic.OutcomeAdopted,
    }
)


# -- the view -------------------------------------------------------------------------


VISIBILITY_TYPES = ("text", "text", "text", "boolean", "timestamptz")
INBOX_TYPES = ("text", "text", "text", "text", "timestamptz", "timestamptz")


class TopicsView(View):
    """`topic_summary`, `topic_visibility` and `inbox`."""

    name = "topics"
    tables = ("inbox", "topic_visibility", "topic_summary")
    # Few indexes, each for a query of projections.topics.queries: every one costs the rebuild.
    DDL = (
        create_table("topic_summary", SUMMARY_COLUMNS, "topic_id"),
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
        "upsert": upsert_unnest("topic_summary", SUMMARY_COLUMNS, unnest_of(SUMMARY_TYPES)),
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
            array_params([s.db_values() for s in summaries], SUMMARY_TYPES),
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
