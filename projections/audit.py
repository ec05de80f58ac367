"""Audit reads: a topic as of an instant through a time → version index, unit names
as they were at an instant, and the streamed export of a unit's events.

**As of an instant.** The timeline read model (`timeline_events`, keyed by
(topic_id, version), with `occurred_at`) is the index: one statement over the
topic's primary-key range gives the last version that happened by T, the newest
version the view holds and how many it holds. The index decides when it covers T
(it holds versions 1…top without a gap and some indexed event is later than T);
otherwise — the view lags behind the topic, never saw it, or every indexed event
is ≤ T — the store's tail after `top` decides, read in version order until an
event later than T. Then only the events up to that version are loaded
(eventsourcing's `events.get(id, lte=version)`), never the whole stream.

**Names at an instant.** Renames are hierarchy events (`UnitImport.UnitsRenamed`,
carrying code, old name, new name). The name of a unit at T is the *old* name of
its first rename after T, or its current name when none came after. The renames
are read once per export from the notification log (topic-filtered, in pages),
current names from `units` as codes appear.

**Export.** `timeline_events` of the topics the unit sees (the API's
`topic_visibility`) *and the caller sees* — the intersection, by the very predicate
every topic read of the API applies (`projections.topics.queries.VISIBLE`), so a unit's
involvement in another area's topic (co-organiser, task handler, transfer target,
former holder) never widens what an auditor or leader above it reads. In (topic,
version) order, read a page of topics at a time (keyset pages, two indexed
statements each): memory holds one page whatever the size of the province.
Personal data is never in the timeline (see projections.timeline), so never in an
export. The CSV and JSON Lines formatting is `infra.audit_format`'s.
"""

from __future__ import annotations

import json
import threading
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from weakref import WeakKeyDictionary

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.utils import get_topic
from psycopg import Connection
from psycopg.rows import dict_row, tuple_row
from psycopg.sql import SQL, Identifier

from domain.application import HistoryEntry, LinkageApp, history_entry
from domain.clock import shown
from domain.errors import BadInputError, NotFoundError
from domain.topic import Topic, check_time
from domain.units import UnitDirectory, UnitImport, is_plausible_code
from projections.envelope import envelope
from projections.topics.queries import VISIBLE
from projections.topics.queries import topic as visible_topic
from projections.topics.rows import TopicRow, summary_topic
from projections.topics.view import replay

EXPORT_TOPICS = 500  # topics per page of an export
RENAMES_PAGE = 500  # rename events per read of the notification log
PERSONAL_FIELDS = frozenset({"submitter"})
WITHHELD = "(withheld: personal data)"

# -- as of an instant ------------------------------------------------------------------

VERSION_AT = (
    "SELECT max(version) FILTER (WHERE occurred_at <= %(at)s) AS at_version,"
    " max(version) AS top, count(*) AS n"
    " FROM timeline_events WHERE topic_id = %(topic)s"
)
# One round trip: the index's answer and the stored events it allows. Where the index
# decides (it holds 1…top without a gap and an indexed event is later than T), only
# the events up to that version are read; otherwise the whole stream, filtered by
# time below. The stored events are decoded by the application's own mapper.
EVENTS_AS_OF = """
WITH idx AS ({version_at})
SELECT idx.at_version, idx.top, idx.n,
       s.originator_version, s.topic, s.state
FROM idx LEFT JOIN {events} s
  ON s.originator_id = %(id)s
 AND (s.originator_version <= idx.at_version
      OR idx.at_version IS NULL AND idx.n = 0
      OR NOT (idx.n = idx.top AND idx.at_version < idx.top))
ORDER BY s.originator_version
"""


def replayed_topic(events: Iterable[Aggregate.Event], units: UnitDirectory) -> TopicRow | None:
    """The topic after `events`, replayed by the topics read model's own code (asOf
    reads); None when there are none (before the topic existed)."""
    summary = replay([envelope(event, 0) for event in events], units)
    return None if summary is None else summary_topic(summary)


def events_as_of(
    conn: Connection[Any], app: LinkageApp, topic_id: uuid.UUID, at: datetime
) -> list[Aggregate.Event]:
    """The topic's events that happened by `at`, in version order ([] before it
    existed), found through the timeline index; correct however far it lags."""
    at = check_time(at, "asOf")
    recorder = cast(PostgresAggregateRecorder, app.recorder)
    statement = SQL(EVENTS_AS_OF).format(
        version_at=SQL(VERSION_AT),
        events=Identifier(recorder.datastore.schema, recorder.events_table_name),
    )
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(statement, {"at": at, "topic": str(topic_id), "id": topic_id}, prepare=True)
        rows = cur.fetchall()
    at_version, top, n = rows[0][:3] if rows else (None, None, 0)
    decided = top is not None and n == top and (at_version is None or at_version < top)
    events: list[Aggregate.Event] = []
    for _, _, _, version, topic, state in rows:
        if version is None:
            continue
        stored = StoredEvent(topic_id, version, topic, bytes(state))
        event = cast(Aggregate.Event, app.mapper.to_domain_event(stored))
        if not decided and event.timestamp > at:
            break  # the index did not decide: the stream's own times do
        events.append(event)
    return events


# -- unit names at an instant --------------------------------------------------------

RENAMED_TOPIC = get_topic(UnitImport.UnitsRenamed)
CURRENT_NAMES = "SELECT code, name FROM units WHERE code = ANY(%s)"


class UnitNames:
    """Unit names as they were at any instant (renames are events)."""

    def __init__(
        self, conn: Connection[Any], renames: Mapping[str, Sequence[tuple[datetime, str]]]
    ) -> None:
        self.conn = conn
        # code → [(when renamed, the name it had before)], oldest first
        self.renames = renames
        self.current: dict[str, str | None] = {}

    @classmethod
    def load(cls, conn: Connection[Any], app: LinkageApp) -> UnitNames:
        """Names over every rename recorded in the store so far."""
        with _RENAME_LOCK:
            log = _RENAME_LOGS.get(app)
            if log is None:
                log = _RENAME_LOGS[app] = RenameLog()
            return cls(conn, log.catch_up(app))

    def preload(self, codes: Iterable[str]) -> None:
        missing = sorted({c for c in codes if c and c not in self.current})
        if not missing:
            return
        with self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(CURRENT_NAMES, (missing,))
            found = dict(cast(list[tuple[str, str]], cur.fetchall()))
        self.current.update({code: found.get(code) for code in missing})

    def name_at(self, code: str, at: datetime) -> str:
        """The unit's name at `at` ('' for a code the hierarchy never had)."""
        history = self.renames.get(code)
        if history:
            later = bisect_right([when for when, _ in history], at)
            if later < len(history):
                return history[later][1]
        if code not in self.current:
            self.preload([code])
        return self.current.get(code) or ""


class RenameLog:
    """Every rename in the store, read once per process and then only what is new
    (renames are few — one per changed unit per import — but the log they are in
    is long: the first read filters all of it, later ones start where it ended)."""

    def __init__(self) -> None:
        self.position = 0
        self.renames: dict[str, tuple[tuple[datetime, str], ...]] = {}

    def catch_up(self, app: LinkageApp) -> Mapping[str, Sequence[tuple[datetime, str]]]:
        """The renames up to now (a snapshot the caller may keep: never changed)."""
        added: dict[str, list[tuple[datetime, str]]] = {}
        while True:
            page = app.recorder.select_notifications(
                start=self.position,
                limit=RENAMES_PAGE,
                topics=[RENAMED_TOPIC],
                inclusive_of_start=False,
            )
            if not page:
                break
            for notification in page:
                event = cast(UnitImport.UnitsRenamed, app.mapper.to_domain_event(notification))
                for code, old, _new in event.units:
                    added.setdefault(code, []).append((event.timestamp, old))
            self.position = page[-1].id
        if added:
            renames = dict(self.renames)
            for code, more in added.items():
                renames[code] = tuple(sorted([*renames.get(code, ()), *more]))
            self.renames = renames
        return self.renames


_RENAME_LOGS: WeakKeyDictionary[LinkageApp, RenameLog] = WeakKeyDictionary()
_RENAME_LOCK = threading.Lock()


# -- history ---------------------------------------------------------------------------

HISTORY_COLUMNS = (
    "version",
    "type",
    "occurred_at",
    "actor_user",
    "actor_unit",
    "actor_unit_name",
    "actor_role",
    "reason",
    "data",
)


def history_rows(entries: Iterable[HistoryEntry], names: UnitNames) -> list[dict[str, Any]]:
    """The decision history as auditors export it: the actor's unit with its name
    at the time; personal fields withheld."""
    entries = list(entries)
    names.preload(e.actor.get("unit", "") for e in entries)
    return [
        {
            "version": e.version,
            "type": e.type,
            "occurred_at": _iso(e.occurred_at),
            "actor_user": e.actor.get("user_id", ""),
            "actor_unit": e.actor.get("unit", ""),
            "actor_unit_name": names.name_at(e.actor.get("unit", ""), e.occurred_at),
            "actor_role": e.actor.get("role", ""),
            "reason": e.reason,
            "data": json.loads(json.dumps(public_data(e.data), default=json_default)),
        }
        for e in entries
    ]


@dataclass(frozen=True, slots=True)
class TopicHistory:
    """A topic's decision history (up to `as_of`), and with `as_of` its state then."""

    topic_id: uuid.UUID
    as_of: datetime | None
    entries: list[HistoryEntry]
    rows: list[dict[str, Any]]
    state: dict[str, Any] | None
    names: UnitNames

    def document(self) -> dict[str, Any]:
        return {
            "topic_id": str(self.topic_id),
            "as_of": None if self.as_of is None else _iso(self.as_of),
            "state": self.state,
            "history": self.rows,
        }


def topic_history(
    conn: Connection[Any],
    app: LinkageApp,
    topic_id: uuid.UUID,
    as_of: datetime | None = None,
    viewer: str | None = None,
) -> TopicHistory:
    """The history read from the event store (through the time index with `as_of`);
    TOPIC_NOT_FOUND for an id that names no topic and, with `viewer` (the caller's
    unit), for one that `topic(id)` would not show that unit — the same answer.
    Without `viewer` (an operator's CLI) every topic is read."""
    if viewer is not None and visible_topic(conn, viewer, str(topic_id)) is None:
        raise NotFoundError("TOPIC_NOT_FOUND", f"topic {topic_id} does not exist")
    if as_of is None:
        events = list(app.events_of(topic_id))
    else:
        as_of = check_time(as_of, "asOf")
        events = events_as_of(conn, app, topic_id, as_of)
    first = events[0] if events else next(iter(app.events.get(topic_id, limit=1)), None)
    if not isinstance(first, Topic.TopicSubmitted):
        raise NotFoundError("TOPIC_NOT_FOUND", f"topic {topic_id} does not exist")
    names = UnitNames.load(conn, app)
    entries = [history_entry(e) for e in events]
    state = None if as_of is None else _state_at(events, as_of, app, names)
    return TopicHistory(topic_id, as_of, entries, history_rows(entries, names), state, names)


def _state_at(
    events: list[Aggregate.Event], as_of: datetime, app: LinkageApp, names: UnitNames
) -> dict[str, Any] | None:
    """The topic as it stood (None before it existed), by the read model's own replay,
    with unit names as they were then."""
    row = replayed_topic(events, app.units)
    if row is None:
        return None
    names.preload([row.owner, row.location, *(h.unit for h in row.route)])

    def unit(code: str) -> dict[str, str]:
        return {"code": code, "name": names.name_at(code, as_of)}

    pending = row.pending
    return {
        "version": row.version,
        "title": row.title,
        "stage": row.stage,
        "owner": unit(row.owner),
        "location": unit(row.location),
        "route": [unit(h.unit) | {"via": h.via, "reason": h.reason} for h in row.route],
        "pending_transfer": None
        if pending is None
        else {
            "kind": pending.kind,
            "from": unit(pending.from_unit),
            "to": unit(pending.to_unit),
            "reason": pending.reason,
        },
        "co_organizers": [unit(c) for c in row.co_organizers],
        "tasks": [
            {"task_id": t.task_id, "handler_unit": unit(t.handler_unit), "status": t.status}
            for t in row.tasks
        ],
        "updated_at": _iso(row.updated_at),
    }


def public_data(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (WITHHELD if k in PERSONAL_FIELDS else v) for k, v in data.items()}


# -- export ----------------------------------------------------------------------------

EXPORT_COLUMNS = ("position", "topic_id", *HISTORY_COLUMNS)
# Keyset pages of the topics the unit sees (a range of topic_visibility's key) that
# the viewer — the caller — sees too: the API's own VISIBLE predicate over the
# topic's summary row `t` (one primary-key probe and one visibility probe a topic),
# then each page's events by the timeline's key: two indexed statements per page,
# whatever the planner's statistics say (a join under a server-side cursor could
# pick a fast-start nested loop over a sequential scan of the whole timeline).
SEEN_BY_UNIT_AND_VIEWER = (
    " FROM topic_visibility v JOIN topic_summary t ON t.topic_id = v.topic_id"
    f" WHERE v.unit = %(unit)s AND {VISIBLE}"
)
VISIBLE_TOPICS = (
    f"SELECT DISTINCT v.topic_id{SEEN_BY_UNIT_AND_VIEWER}"
    " AND v.topic_id > %(after)s ORDER BY v.topic_id LIMIT %(limit)s"
)
COUNT_VISIBLE = f"SELECT count(DISTINCT v.topic_id){SEEN_BY_UNIT_AND_VIEWER}"
EVENTS_OF_TOPICS = (
    "SELECT e.position, e.topic_id, e.version, e.type, e.occurred_at, e.actor_user,"
    " e.actor_unit, e.actor_role, e.reason, e.data FROM timeline_events e"
    " WHERE e.topic_id = ANY(%(topics)s) AND e.occurred_at >= %(lo)s AND e.occurred_at < %(hi)s"
    " ORDER BY e.topic_id, e.version"
)
UNIT_PATH = "SELECT path FROM units WHERE code = %s"
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ExportWindow:
    """What an export covers: the topics `unit` sees that `viewer` (the caller's unit;
    `unit` itself when None, for an operator exporting a unit's view) sees too, and
    their events in [date_from, date_to)."""

    unit: str
    date_from: datetime | None = None
    date_to: datetime | None = None  # exclusive
    viewer: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "viewer": self.viewer or self.unit,
            "lo": self.date_from or EARLIEST,
            "hi": self.date_to or LATEST,
        }


def export_window(
    unit: str, date_from: datetime | None, date_to: datetime | None, viewer: str | None = None
) -> ExportWindow:
    """The window checked: times with an offset, `from` not after `to`; `viewer` the
    caller's unit (None: `unit`'s own view)."""
    lo = None if date_from is None else check_time(date_from, "from")
    hi = None if date_to is None else check_time(date_to, "to")
    if lo is not None and hi is not None and lo > hi:
        raise BadInputError("DATE_RANGE_INVERTED", f"from {shown(lo)} is after to {shown(hi)}")
    return ExportWindow(unit, lo, hi, viewer)


def unit_path(conn: Connection[Any], unit: str) -> tuple[str, ...] | None:
    """The unit's code and its ancestors' codes, None for an unknown unit (whom the
    path lets audit it is `domain.access.may_audit_unit`'s)."""
    if not is_plausible_code(unit):
        return None
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(UNIT_PATH, (unit,))
        row = cur.fetchone()
    return None if row is None else tuple(row[0])


def check_export_unit(conn: Connection[Any], unit: str) -> None:
    """The unit exists; otherwise UNIT_NOT_FOUND (the operator's export: the CLI holds
    no token, it reads what the database holds)."""
    if unit_path(conn, unit) is None:
        raise NotFoundError("UNIT_NOT_FOUND", f"unit {unit!r} does not exist")


def count_topics(conn: Connection[Any], window: ExportWindow) -> int:
    """How many topics the export walks (its progress is counted in topics)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(COUNT_VISIBLE, window.params())
        row = cur.fetchone()
    return 0 if row is None else int(row[0])


def export_rows(
    conn: Connection[Any],
    window: ExportWindow,
    names: UnitNames,
    progress: Callable[[int], object] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every event in the window of the topics `window.unit` sees and `window.viewer`
    sees too, in (topic, version) order, a page of EXPORT_TOPICS topics at a time:
    memory holds one page, never the export. `progress` is told how many topics each
    page covered."""
    params = window.params() | {"after": "", "limit": EXPORT_TOPICS}
    while True:
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(VISIBLE_TOPICS, params)
            topics = [row[0] for row in cur.fetchall()]
        if not topics:
            return
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(EVENTS_OF_TOPICS, params | {"topics": topics})
            batch = cur.fetchall()
        names.preload(r["actor_unit"] for r in batch)
        for r in batch:
            yield {
                "position": r["position"],
                "topic_id": r["topic_id"],
                "version": r["version"],
                "type": r["type"],
                "occurred_at": _iso(r["occurred_at"]),
                "actor_user": r["actor_user"],
                "actor_unit": r["actor_unit"],
                "actor_unit_name": names.name_at(r["actor_unit"], r["occurred_at"]),
                "actor_role": r["actor_role"],
                "reason": r["reason"],
                "data": public_data(r["data"]),
            }
        if progress:
            progress(len(topics))
        params["after"] = topics[-1]


def _iso(value: datetime) -> str:
    return shown(value)  # the display zone, offset shown: the same instant as in UTC


def json_default(value: object) -> Any:
    """How a value that JSON has no form for is written (datetimes in ISO 8601 in the
    display zone, with the offset)."""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, uuid.UUID | set | frozenset | tuple):
        return str(value) if isinstance(value, uuid.UUID) else list(value)
    return str(value)
