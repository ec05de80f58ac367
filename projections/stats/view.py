"""Subtree statistics: additive counters per unit and month, rolled up the hierarchy.

Every count of a topic is added to each unit on the path of the topic's
**location** (province → … → the location itself), so a village's topic counts
for its township, county, city and province, and a unit's figures are always the
sum over its subtree. `month` is the calendar month in China time (UTC+8, no
daylight saving) of the event that opened the case, as 'YYYY-MM', or '' for a
current-state count. All values are integers (counts, or whole seconds), so sums
are exact and a view built in batches of any size holds the same rows.

Tables
------
* ``stats_months (unit, month, <one bigint column per monthly metric>)`` — the
  fixed monthly metrics below, one row per unit and month;
* ``stats_counters (unit, month, metric, value)`` — the open-ended ones:
  ``category:<c>``, ``source:<s>``, ``close_days:<n>`` by month, and
  ``stage:<stage>`` (month ''); a counter back at zero is deleted. Its key
  carries the value (``INCLUDE``) so that a statistics read is an index-only scan:
  a unit's rows are scattered over the heap as events arrive, and at 1 M topics
  the province's 14,000 counter rows sat on 7,000 pages (37 ms; 14 ms from the
  index). The price: an update is no longer HOT (−5 % on the view's rebuild);
* ``stats_topic_state`` — what the view remembers of each topic (its location
  path, stage, current hop, pending request, last feedback, tasks) to turn events
  into deltas.

A batch costs one SELECT of the touched topics' state and three writes, however
many events it holds: the deltas are summed in Python, then added with
``INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE SET v = v + EXCLUDED.v``.
(One row per unit and month instead of one per metric cuts the rows a rebuild
writes by more than half.)

Monthly metrics (month of the event named)
------------------------------------------
* ``submitted`` (TopicSubmitted), with ``category:<c>`` and ``source:<s>``
* ``closed`` (TopicClosed), with ``close_days:<n>`` — a histogram of whole days
  from submission to closing (rounded down), for the median
* ``visits``, ``contacted``, ``solved``, ``satisfied``, ``basically_satisfied``,
  ``unsatisfied`` (ReturnVisitRecorded)
* ``tasks_assigned`` (TaskAssigned); ``signed_on_time`` in the *assignment's*
  month when TaskSigned comes at most ``SIGN_WITHIN`` (24 h) after the assignment
* ``tasks_completed`` (TaskCompleted); ``completed_on_time`` when completed at or
  before the task's due (as moved by TaskDeadlineExtended)
* ``transfers`` (EscalationRequested, DelegationRequested); ``transfers_returned``
  (TransferReturned) in the *request's* month
* ``feedbacks`` (FeedbackGiven); ``reopened`` (TopicReopened) in the month of the
  feedback it rejects
* ``held_seconds_l<L>`` and ``held_count_l<L>`` — each time a unit of level L
  stops holding the topic (a transfer accepted, a takeover, or the topic reaching
  a terminal stage): the whole seconds it held it, and one hop

Each rate's numerator is counted in the month of its denominator's case, so a
month's rate is about that month's cases and never exceeds 1.

Figures and rates (over the months of a window, or of all time)
---------------------------------------------------------------
* total = Σ submitted; closed = Σ closed (TopicClosed only: declined, withdrawn
  and merged topics are terminal but not closed)
* by stage: the current ``stage:<s>`` counts (the window does not apply);
  open = the sum over the non-terminal stages
* overdue: the unit's non-terminal topics (by location) with an open task or a
  pending delegation past its due at the moment of reading — never a counter,
  since overdue is derived from ``due`` at read time (DESIGN §4)
* median days to close = the median of the ``close_days`` histogram
* time held at level L, in hours = Σ held_seconds_l<L> / Σ held_count_l<L> / 3600
* response rate 响应率 = contacted / visits
* resolution rate 解决率 = solved / visits
* satisfaction rate 满意率 = (satisfied + 0.9 × basically_satisfied) / visits
* on-time sign-off rate 及时签收率 = signed_on_time / tasks_assigned
* on-time completion rate 按时办结率 = completed_on_time / tasks_completed
* return rate 退单率 = transfers_returned / transfers
* redo rate 重办率 = reopened / feedbacks

A rate whose denominator is 0 is None (no data), never 0. Every valid return
visit counts (a topic revisited after a reopen counts each visit). Child units
are ranked by satisfaction rate only when their visits reach a minimum sample
(default 5), so that a unit with one lucky visit does not top the list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.lifecycle import Change
from domain.topic import LIFECYCLE, TERMINAL_STAGES, TOPIC_EVENTS, Stage, Topic
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
from projections.columns import columns_of, create_table, sql, upsert_unnest
from projections.envelope import Envelope

CHINA = timezone(timedelta(hours=8), "CST")
CURRENT = ""  # the month of current-state counters
SIGN_WITHIN = timedelta(hours=24)  # 及时签收: a task signed for within a day
BASICALLY_WEIGHT = 0.9  # 满意率: a "basically satisfied" visit counts 0.9
TERMINAL = frozenset(str(s) for s in TERMINAL_STAGES)
LEVELS = range(1, 6)
MONTHLY = (
    "submitted",
    "closed",
    "visits",
    "contacted",
    "solved",
    "satisfied",
    "basically_satisfied",
    "unsatisfied",
    "tasks_assigned",
    "signed_on_time",
    "tasks_completed",
    "completed_on_time",
    "transfers",
    "transfers_returned",
    "feedbacks",
    "reopened",
    *(f"held_seconds_l{level}" for level in LEVELS),
    *(f"held_count_l{level}" for level in LEVELS),
)
MONTHLY_INDEX = {name: i for i, name in enumerate(MONTHLY)}

VISIT_VERDICTS = {
    "SATISFIED": "satisfied",
    "BASICALLY_SATISFIED": "basically_satisfied",
    "UNSATISFIED": "unsatisfied",
}


MONTHS_TYPES = ("text", "text", *("bigint" for _ in MONTHLY))
COUNTER_TYPES = ("text", "text", "text", "bigint")


def month_of(at: datetime) -> str:
    """'YYYY-MM' of an instant, in China time."""
    local = at.astimezone(CHINA)
    return f"{local.year:04d}-{local.month:02d}"


@dataclass(slots=True)
class TopicStats:
    """What the stats view remembers of one topic to turn its events into deltas."""

    topic_id: str = field(metadata=sql("text NOT NULL"))
    version: int = field(metadata=sql("int NOT NULL"))
    path: list[str] = field(metadata=sql("text[] NOT NULL"))
    stage: str = field(metadata=sql("text NOT NULL"))
    submitted_at: datetime = field(metadata=sql("timestamptz NOT NULL"))
    hop_level: int = field(metadata=sql("smallint NOT NULL"))
    hop_entered: datetime = field(metadata=sql("timestamptz NOT NULL"))
    pending_at: datetime | None = field(metadata=sql("timestamptz"), default=None)
    feedback_at: datetime | None = field(metadata=sql("timestamptz"), default=None)
    # task id → assigned_at, due (ISO)
    tasks: dict[str, dict[str, Any]] = field(metadata=sql("jsonb NOT NULL"), default_factory=dict)
    deltas: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    @classmethod
    def from_row(cls, row: DictRow) -> TopicStats:
        return cls(**{c.name: row[c.name] for c in STATE_COLUMNS})

    def db_values(self) -> tuple[Any, ...]:
        return tuple(db_value(getattr(self, c.name), c.travel) for c in STATE_COLUMNS)

    def count(self, at: datetime | str, metric: str, delta: int = 1) -> None:
        month = at if isinstance(at, str) else month_of(at)
        self.deltas[month, metric] += delta

    def set_stage(self, stage: str, at: datetime) -> None:
        if stage == self.stage:
            return
        self.count(CURRENT, f"stage:{self.stage}", -1)
        self.count(CURRENT, f"stage:{stage}")
        if stage in TERMINAL and self.stage not in TERMINAL:
            self.leave_hop(at)
        self.stage = stage

    def leave_hop(self, at: datetime) -> None:
        if self.hop_level in LEVELS:  # a unit unknown to the hierarchy has no level
            held = int((at - self.hop_entered).total_seconds())
            self.count(at, f"held_seconds_l{self.hop_level}", held)
            self.count(at, f"held_count_l{self.hop_level}")


STATE_COLUMNS = columns_of(TopicStats)
STATE_TYPES = tuple(c.travel for c in STATE_COLUMNS)


def submitted(e: Envelope, places: UnitPaths) -> TopicStats:
    d, at = e.data, e.occurred_at
    location = d["location"]
    s = TopicStats(
        topic_id=e.topic_id,
        version=e.version,
        path=list(places.path(location)),
        stage=Stage.COLLECTED.value,
        submitted_at=at,
        hop_level=places.level(location),
        hop_entered=at,
    )
    for metric in ("submitted", f"category:{d['category']}", f"source:{d['source']}"):
        s.count(at, metric)
    s.count(CURRENT, f"stage:{s.stage}")
    return s


def apply_event(s: TopicStats, e: Envelope, places: UnitPaths) -> None:
    """Its handler (HANDLERS), then its row of `domain.topic.LIFECYCLE`: a new owner
    ends the current hop, a pending transfer that ends is forgotten, a stage moves
    the current-state counters (a terminal one ends the hop)."""
    cls = TOPIC_EVENTS.get(e.type)
    if cls is None or cls in IGNORED:
        return
    handler = HANDLERS[cls]
    if handler is not None:
        handler(s, e)
    effect, at = LIFECYCLE[cls], e.occurred_at
    if effect.owner is not None:
        s.leave_hop(at)
        s.hop_level, s.hop_entered = places.level(e.data[effect.owner]), at
    if effect.pending is Change.ENDS:
        s.pending_at = None
    if effect.stage is not None:
        s.set_stage(effect.stage.value, at)


def _requested(s: TopicStats, e: Envelope) -> None:
    s.count(e.occurred_at, "transfers")
    s.pending_at = e.occurred_at


def _returned(s: TopicStats, e: Envelope) -> None:
    s.count(s.pending_at or e.occurred_at, "transfers_returned")


def _assigned(s: TopicStats, e: Envelope) -> None:
    s.count(e.occurred_at, "tasks_assigned")
    s.tasks[e.data["task_id"]] = {"assigned_at": iso(e.occurred_at), "due": iso(e.data["due"])}


def _signed(s: TopicStats, e: Envelope) -> None:
    assigned = _task_time(s, e.data["task_id"], "assigned_at")
    if assigned is not None and e.occurred_at - assigned <= SIGN_WITHIN:
        s.count(assigned, "signed_on_time")


def _extended(s: TopicStats, e: Envelope) -> None:
    if e.data["task_id"] in s.tasks:
        s.tasks[e.data["task_id"]]["due"] = iso(e.data["new_due"])


def _completed(s: TopicStats, e: Envelope) -> None:
    at = e.occurred_at
    s.count(at, "tasks_completed")
    due = _task_time(s, e.data["task_id"], "due")
    if due is not None and at <= due:
        s.count(at, "completed_on_time")


def _feedback(s: TopicStats, e: Envelope) -> None:
    s.count(e.occurred_at, "feedbacks")
    s.feedback_at = e.occurred_at


def _visited(s: TopicStats, e: Envelope) -> None:
    at, d = e.occurred_at, e.data
    s.count(at, "visits")
    for flag in ("contacted", "solved"):
        if d[flag]:
            s.count(at, flag)
    s.count(at, VISIT_VERDICTS[d["satisfaction"]])


def _reopened(s: TopicStats, e: Envelope) -> None:
    s.count(s.feedback_at or e.occurred_at, "reopened")


def _closed(s: TopicStats, e: Envelope) -> None:
    at = e.occurred_at
    s.count(at, "closed")
    s.count(at, f"close_days:{(at - s.submitted_at).days}")


Handler = Callable[[TopicStats, Envelope], None]
# What each event counts beyond its LIFECYCLE row (None: nothing more); TopicSubmitted
# creates the state (`submitted`).
HANDLERS: dict[type[Aggregate.Event], Handler | None] = {
    Topic.TopicSubmitted: None,
    Topic.TopicDetermined: None,
    Topic.TopicDeclined: None,
    Topic.TopicMerged: None,
    Topic.EscalationRequested: _requested,
    Topic.DelegationRequested: _requested,
    Topic.TransferAccepted: None,
    Topic.TransferReturned: _returned,
    Topic.TransferCancelled: None,
    Topic.TopicTakenOver: None,
    Topic.ResearchStarted: None,
    Topic.DeliberationScheduled: None,
    Topic.TaskAssigned: _assigned,
    Topic.TaskSigned: _signed,
    Topic.TaskDeadlineExtended: _extended,
    Topic.TaskCompleted: _completed,
    Topic.FeedbackGiven: _feedback,
    Topic.ReturnVisitRecorded: _visited,
    Topic.TopicReopened: _reopened,
    Topic.TopicClosed: _closed,
    Topic.TopicWithdrawn: None,
}
# Events no figure counts (co-organisers and merges are not figures; the absorbing
# topic's figures are its own).
IGNORED: frozenset[type[Aggregate.Event]] = frozenset(
    {
        Topic.TopicAbsorbed,
        Topic.CoOrganizerInvited,
        Topic.ResearchReported,
        Topic.DeliberationHeld,
        Topic.TaskProgressReported,
        Topic.TaskSupervised,
        Topic.LeaderInstructionRecorded,
        Topic.OutcomeAdopted,
        Topic.CommentAdded,
    }
)


def _task_time(s: TopicStats, task_id: str, key: str) -> datetime | None:
    task = s.tasks.get(task_id)
    return None if task is None else parse_time(task[key])


class StatsView(View):
    """`stats_months`, `stats_counters` and the per-topic state behind their deltas."""

    name = "stats"
    tables = ("stats_months", "stats_counters", "stats_topic_state")
    # The counters are updated in place batch after batch (a province's row every
    # batch): free room on each page lets PostgreSQL update them without touching
    # the primary key (HOT updates).
    DDL = (
        "CREATE TABLE IF NOT EXISTS {schema}.stats_months ("
        " unit text NOT NULL,"
        " month text NOT NULL,"
        + "".join(f" {m} bigint NOT NULL DEFAULT 0," for m in MONTHLY)
        + " PRIMARY KEY (unit, month)) WITH (fillfactor = 80)",
        "CREATE TABLE IF NOT EXISTS {schema}.stats_counters ("
        " unit text NOT NULL,"
        " month text NOT NULL,"
        " metric text NOT NULL,"
        " value bigint NOT NULL,"
        " PRIMARY KEY (unit, month, metric) INCLUDE (value)) WITH (fillfactor = 80)",
        create_table("stats_topic_state", STATE_COLUMNS, "topic_id"),
    )
    STATEMENTS: ClassVar[dict[str, str]] = {
        "select": "SELECT * FROM {schema}.stats_topic_state WHERE topic_id = ANY(%s)",
        "upsert_state": upsert_unnest("stats_topic_state", STATE_COLUMNS, unnest_of(STATE_TYPES)),
        "add_months": (
            "INSERT INTO {schema}.stats_months AS c (unit, month, " + ", ".join(MONTHLY) + ")"
            " SELECT * FROM "
            + unnest_of(MONTHS_TYPES)
            + " ON CONFLICT (unit, month) DO UPDATE SET "
            + ", ".join(f"{m} = c.{m} + EXCLUDED.{m}" for m in MONTHLY)
        ),
        "add_counters": (
            "WITH added AS ("
            " INSERT INTO {schema}.stats_counters AS c (unit, month, metric, value)"
            " SELECT * FROM " + unnest_of(COUNTER_TYPES) + " ON CONFLICT (unit, month, metric)"
            " DO UPDATE SET value = c.value + EXCLUDED.value"
            " RETURNING c.unit, c.month, c.metric, c.value)"
            " SELECT unit, month, metric FROM added WHERE value = 0"
        ),
        "drop_zeros": (
            "DELETE FROM {schema}.stats_counters c"
            " USING " + unnest_of(COUNTER_TYPES[:3]) + " AS z(unit, month, metric)"
            " WHERE c.unit = z.unit AND c.month = z.month AND c.metric = z.metric"
            " AND c.value = 0"
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
        curs.execute(self.sql["select"], (sorted({e.topic_id for e in events}),))
        states = {row["topic_id"]: TopicStats.from_row(row) for row in curs.fetchall()}
        self.places.prefetch(
            curs, {e.data.get("location") or e.data.get("to_unit") for e in events}
        )

        def step(s: TopicStats, e: Envelope) -> None:
            apply_event(s, e, self.places)
            s.version = e.version

        changed = fold(events, states, lambda e: submitted(e, self.places), step)
        touched = [states[t] for t in sorted(changed)]
        if touched:
            rows = [s.db_values() for s in touched]
            curs.execute(self.sql["upsert_state"], array_params(rows, STATE_TYPES))
            self._add(curs, touched)

    def _add(self, curs: Cursor[DictRow], touched: list[TopicStats]) -> None:
        """Add the deltas to every unit on each topic's path."""
        months: dict[tuple[str, str], list[int]] = {}
        counters: dict[tuple[str, str, str], int] = defaultdict(int)
        for s in touched:
            for (month, metric), delta in s.deltas.items():
                if not delta:
                    continue
                column = MONTHLY_INDEX.get(metric)
                for unit in s.path:
                    if column is None:
                        counters[unit, month, metric] += delta
                    else:
                        row = months.get((unit, month))
                        if row is None:
                            row = months[unit, month] = [0] * len(MONTHLY)
                        row[column] += delta
        if months:
            rows = [(unit, month, *values) for (unit, month), values in sorted(months.items())]
            curs.execute(self.sql["add_months"], array_params(rows, MONTHS_TYPES))
        keys = sorted(k for k, v in counters.items() if v)
        if keys:
            rows = [(*k, counters[k]) for k in keys]
            curs.execute(self.sql["add_counters"], array_params(rows, COUNTER_TYPES))
            zeros = [(z["unit"], z["month"], z["metric"]) for z in curs.fetchall()]
            if zeros:  # a counter back at zero goes, whatever the batches were
                curs.execute(self.sql["drop_zeros"], array_params(zeros, COUNTER_TYPES[:3]))
