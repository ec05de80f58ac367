"""The read API: every question the GraphQL/REST layer asks of the read models.

Each function takes a psycopg connection (any row factory: it opens its own
`dict_row` cursor) and `viewer`, the unit code the caller acts for, and applies
visibility inside its SQL (DESIGN §6):

* a topic is visible to V iff `topic_visibility` has a row (unit = V, topic_id);
  every topic query joins that condition, so nothing invisible is ever read;
* a `unit` argument must be V itself or lie in V's subtree, otherwise
  `NotFoundError("UNIT_NOT_FOUND")` with the same message as for an unknown code;
* statistics are counters of units within V's subtree: every topic they count is
  located in V's subtree, hence visible to V (see projections.stats).

An invisible topic and an unknown one are indistinguishable: `topic` returns None,
`timeline_page` raises `NotFoundError("TOPIC_NOT_FOUND")` for both. Lists are
keyset-paged with opaque cursors (`first` ≤ 100); each statement is index-backed
and a call runs a handful of statements whatever the page holds.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from psycopg import Connection, Cursor
from psycopg.rows import DictRow, dict_row

from domain.errors import BadInputError, NotFoundError
from domain.topic import UNSTORABLE, Stage, check_storable
from domain.units import is_plausible_code
from projections.bulk import parse_time
from projections.stats import BASICALLY_WEIGHT, LEVELS, MONTHLY, TERMINAL, month_of

MAX_FIRST = 100
MAX_CURSOR = 1000  # characters; the cursors made here are under 300
Scope = Literal["SUBTREE", "OWNED", "INVOLVED"]
T = TypeVar("T")


# -- rows ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    cursors: tuple[str, ...]  # one per item (GraphQL edges)
    end_cursor: str | None
    has_next: bool
    total_count: int | None  # None when the caller did not ask for it


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
        return (self.completed_at or now) > self.due


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
        return self.due_at is not None and self.due_at < now

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


@dataclass(frozen=True, slots=True)
class EventRow:
    topic_id: str
    position: int
    version: int
    type: str
    occurred_at: datetime
    actor_user: str
    actor_unit: str
    actor_role: str
    reason: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Count:
    key: str
    count: int


@dataclass(frozen=True, slots=True)
class Rates:
    """The rates of DESIGN §5 (formulas in projections.stats); None without data."""

    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    on_time_sign_rate: float | None
    on_time_completion_rate: float | None
    return_rate: float | None
    redo_rate: float | None


@dataclass(frozen=True, slots=True)
class MonthRow:
    month: str  # 'YYYY-MM', China time
    submitted: int
    closed: int
    visits: int
    rates: Rates

    @property
    def satisfaction_rate(self) -> float | None:
        return self.rates.satisfaction_rate


@dataclass(frozen=True, slots=True)
class StatsRow:
    unit: str
    total: int
    open: int
    closed: int
    overdue: int
    by_stage: tuple[Count, ...]
    by_category: tuple[Count, ...]
    by_source: tuple[Count, ...]
    median_days_to_close: float | None
    rates: Rates
    visits: int  # the sample size of the visit rates
    transfers: int
    returns: int  # returned transfers (ping-pong)
    held_hours: dict[int, float]  # level → mean hours a unit of that level held a topic
    months: tuple[MonthRow, ...]
    ranked: bool  # visits reach the minimum sample
    children: tuple[StatsRow, ...] = ()
    ranking: tuple[StatsRow, ...] = field(default=())  # ranked children, best first


# -- SQL ----------------------------------------------------------------------------

TOPIC_COLUMNS = (
    "t.topic_id, t.title, t.description, t.category, t.source, t.stage, t.location,"
    " t.location_level, t.owner, t.owner_level, t.pending, t.co_organizers, t.route, t.tasks,"
    " t.meetings, t.feedback, t.return_visits, t.returns, t.reopened, t.version, t.position,"
    " t.submitted_at, t.updated_at, t.closed_at, t.merged_into, t.cross_level, t.terminal,"
    " t.due_at"
)
VISIBLE = (
    "EXISTS (SELECT 1 FROM topic_visibility vv"
    " WHERE vv.unit = %(viewer)s AND vv.topic_id = t.topic_id)"
)
IN_SUBTREE = (
    "EXISTS (SELECT 1 FROM topic_visibility vs"
    " WHERE vs.unit = %(unit)s AND vs.kind = 'S' AND vs.topic_id = t.topic_id)"
)
# involved now ('I') or before ('E'): the topics the unit takes or took part in
INVOLVED = (
    "EXISTS (SELECT 1 FROM topic_visibility vi"
    " WHERE vi.unit = %(unit)s AND vi.kind IN ('I', 'E') AND vi.topic_id = t.topic_id)"
)
SCOPES: dict[str, str] = {
    "SUBTREE": IN_SUBTREE,
    "OWNED": "t.owner = %(unit)s",
    "INVOLVED": INVOLVED,
}
FILTERS: dict[str, str] = {
    "stages": "t.stage = ANY(%(stages)s)",
    "category": "t.category = %(category)s",
    "source": "t.source = %(source)s",
    "cross_level": "t.cross_level = %(cross_level)s",
    "text": "t.search ILIKE %(text)s",
    "stuck": "NOT t.terminal AND t.updated_at < %(stuck_before)s",
}
OVERDUE_FILTER = {
    True: "t.due_at < %(now)s",
    False: "(t.due_at IS NULL OR t.due_at >= %(now)s)",
}
TOPICS_AFTER = "(t.updated_at, t.topic_id) < (%(after_at)s, %(after_id)s)"
TOPICS_ORDER = " ORDER BY t.updated_at DESC, t.topic_id DESC LIMIT %(limit)s"

SELECT_TOPIC = (
    f"SELECT {TOPIC_COLUMNS} FROM topic_summary t WHERE t.topic_id = %(id)s AND {VISIBLE}"
)
UNIT_PATH = "SELECT path FROM units WHERE code = %s"

INBOX_RANK = "CASE WHEN i.due < %(now)s THEN 0 ELSE 1 END"
INBOX_FROM = (
    " FROM inbox i JOIN topic_summary t ON t.topic_id = i.topic_id"
    f" WHERE i.unit = %(unit)s AND {VISIBLE}"
)
INBOX_PAGE = (
    f"SELECT i.unit AS inbox_unit, i.item, i.task_id, i.due, i.since, {INBOX_RANK} AS rank,"
    f" {TOPIC_COLUMNS}{INBOX_FROM}"
)
INBOX_AFTER = (
    f" AND ({INBOX_RANK}, i.since, i.topic_id, i.item, i.task_id)"
    " > (%(rank)s, %(since)s, %(after_id)s, %(item)s, %(task_id)s)"
)
INBOX_ORDER = f" ORDER BY {INBOX_RANK}, i.since, i.topic_id, i.item, i.task_id LIMIT %(limit)s"
INBOX_COUNT = f"SELECT count(*) AS n{INBOX_FROM}"

TIMELINE_TOTAL = (
    "SELECT (SELECT count(*) FROM timeline_events e"
    " WHERE e.topic_id = %(topic)s AND e.version <= %(until)s) AS n"
    " FROM topic_visibility vv WHERE vv.unit = %(viewer)s AND vv.topic_id = %(topic)s LIMIT 1"
)
TIMELINE_PAGE = (
    "SELECT e.topic_id, e.position, e.version, e.type, e.occurred_at, e.actor_user,"
    " e.actor_unit, e.actor_role, e.reason, e.data FROM timeline_events e"
    " WHERE e.topic_id = %(topic)s AND e.version > %(after)s AND e.version <= %(until)s"
    " AND EXISTS (SELECT 1 FROM topic_visibility vv"
    "  WHERE vv.unit = %(viewer)s AND vv.topic_id = e.topic_id)"
    " ORDER BY e.version LIMIT %(limit)s"
)

CHILD_UNITS = "SELECT code FROM units WHERE parent = %s ORDER BY code"
STATS_MONTHS = (
    "SELECT * FROM stats_months WHERE unit = ANY(%(units)s) AND month BETWEEN %(lo)s AND %(hi)s"
)
STATS_COUNTERS = (
    "SELECT unit, metric, sum(value)::bigint AS value FROM stats_counters"
    " WHERE unit = ANY(%(units)s) AND (month = '' OR month BETWEEN %(lo)s AND %(hi)s)"
    " GROUP BY unit, metric"
)
STATS_OVERDUE = (
    "SELECT unit, count(*) AS n FROM topic_visibility"
    " WHERE unit = ANY(%(units)s) AND kind = 'S' AND located AND due_at IS NOT NULL"
    " AND due_at < %(now)s GROUP BY unit"
)
STAGE_ORDER = {s.value: i for i, s in enumerate(Stage)}


# -- single topic --------------------------------------------------------------------


def topic(conn: Connection[Any], viewer: str, topic_id: str) -> TopicRow | None:
    """The topic, or None when it does not exist or the viewer may not see it."""
    with _cursor(conn) as cur:
        cur.execute(SELECT_TOPIC, {"id": topic_id, "viewer": viewer})
        row = cur.fetchone()
    return None if row is None else topic_row(row)


# -- lists ---------------------------------------------------------------------------


def topics_page(
    conn: Connection[Any],
    viewer: str,
    *,
    scope: Scope = "SUBTREE",
    unit: str | None = None,
    stages: Sequence[str] | None = None,
    category: str | None = None,
    source: str | None = None,
    cross_level: bool | None = None,
    overdue: bool | None = None,
    text: str | None = None,
    now: datetime | None = None,
    first: int = 50,
    after: str | None = None,
    with_total: bool = True,
) -> Page[TopicRow]:
    """Topics of `unit` (default the viewer's) in a scope, newest change first.

    `with_total=False` skips counting (total_count None): counting a province's
    whole subtree costs more than the page itself."""
    if scope not in SCOPES:
        raise BadInputError(
            "INVALID_VALUE", f"scope {scope!r} is not one of: OWNED, SUBTREE, INVOLVED"
        )
    for name, value in (("text", text), ("category", category), ("source", source)):
        check_storable(value or "", name)
    filters: dict[str, Any] = {
        "stages": list(stages) if stages else None,
        "category": category,
        "source": source,
        "cross_level": cross_level,
        "text": None if not text else f"%{_escape_like(text)}%",
    }
    return _topic_list(
        conn, viewer, SCOPES[scope], unit, filters, overdue, now, first, after, with_total
    )


def cross_level_page(
    conn: Connection[Any],
    viewer: str,
    *,
    unit: str | None = None,
    stuck_days: int | None = None,
    now: datetime | None = None,
    first: int = 50,
    after: str | None = None,
    with_total: bool = True,
) -> Page[TopicRow]:
    """Topics in `unit`'s subtree that changed level, newest change first; with
    `stuck_days`, only the open ones without any event for that many days."""
    now = now or datetime.now(UTC)
    filters: dict[str, Any] = {
        "cross_level": True,
        "stuck": None if stuck_days is None else True,
        "stuck_before": None if stuck_days is None else now - timedelta(days=stuck_days),
    }
    return _topic_list(conn, viewer, IN_SUBTREE, unit, filters, None, now, first, after, with_total)


def _topic_list(
    conn: Connection[Any],
    viewer: str,
    scope_sql: str,
    unit: str | None,
    filters: dict[str, Any],
    overdue: bool | None,
    now: datetime | None,
    first: int,
    after: str | None,
    with_total: bool,
) -> Page[TopicRow]:
    first = _check_first(first)
    params: dict[str, Any] = {
        "viewer": viewer,
        "now": now or datetime.now(UTC),
        "limit": first + 1,
        **filters,
    }
    conditions = [VISIBLE, scope_sql]
    conditions += [FILTERS[k] for k, v in filters.items() if k in FILTERS and v is not None]
    if overdue is not None:
        conditions.append(OVERDUE_FILTER[overdue])
    where = " WHERE " + " AND ".join(conditions)
    with _cursor(conn) as cur:
        params["unit"] = _unit_within(cur, viewer, unit)
        total = None
        if with_total:
            cur.execute("SELECT count(*) AS n FROM topic_summary t" + where, params)
            total = _count(cur)
        if after is not None:
            after_at, after_id = _decode(after, "topics", 2)
            params.update(after_at=_time_arg(after_at), after_id=_str_arg(after_id))
            where += " AND " + TOPICS_AFTER
        cur.execute(f"SELECT {TOPIC_COLUMNS} FROM topic_summary t{where}{TOPICS_ORDER}", params)
        rows = [topic_row(r) for r in cur.fetchall()]
    return _page(
        rows, first, total, lambda r: _encode("topics", r.updated_at.isoformat(), r.topic_id)
    )


def inbox_page(
    conn: Connection[Any],
    viewer: str,
    *,
    unit: str | None = None,
    now: datetime | None = None,
    first: int = 50,
    after: str | None = None,
) -> Page[InboxRow]:
    """What `unit` (default the viewer's) must act on: overdue first, then oldest."""
    first = _check_first(first)
    now = now or datetime.now(UTC)
    params: dict[str, Any] = {"viewer": viewer, "now": now, "limit": first + 1}
    with _cursor(conn) as cur:
        params["unit"] = _unit_within(cur, viewer, unit)
        cur.execute(INBOX_COUNT, params)
        total = _count(cur)
        query = INBOX_PAGE
        if after is not None:
            rank, since, after_id, item, task_id = _decode(after, "inbox", 5)
            params.update(
                rank=_int_arg(rank), since=_time_arg(since), after_id=_str_arg(after_id),
                item=_str_arg(item), task_id=_str_arg(task_id),
            )  # fmt: skip
            query += INBOX_AFTER
        cur.execute(query + INBOX_ORDER, params)
        rows = [_inbox_row(r, now) for r in cur.fetchall()]
    return _page(rows, first, total, _inbox_cursor)


def timeline_page(
    conn: Connection[Any],
    viewer: str,
    topic_id: str,
    *,
    first: int = 50,
    after: str | None = None,
    until_version: int | None = None,
) -> Page[EventRow]:
    """The topic's events in version order (up to `until_version`, for a topic read
    as of a past instant); NotFoundError when it is not visible."""
    first = _check_first(first)
    params: dict[str, Any] = {
        "viewer": viewer,
        "topic": topic_id,
        "limit": first + 1,
        "until": until_version if until_version is not None else 2**31 - 1,
    }
    params["after"] = 0 if after is None else _int_arg(_decode(after, "events", 1)[0])
    with _cursor(conn) as cur:
        cur.execute(TIMELINE_TOTAL, params)
        row = cur.fetchone()
        if row is None:
            raise NotFoundError("TOPIC_NOT_FOUND", f"topic {topic_id} does not exist")
        total = int(row["n"])
        cur.execute(TIMELINE_PAGE, params)
        rows = [_event_row(r) for r in cur.fetchall()]
    return _page(rows, first, total, lambda e: _encode("events", e.version))


# -- units ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitRow:
    code: str
    name: str
    level: int
    parent: str | None
    path: tuple[str, ...]  # province first, the unit itself last
    retired: bool


UNIT_COLUMNS = "u.code, u.name, u.level, u.parent, u.path, u.retired"
UNITS_BY_CODE = f"SELECT {UNIT_COLUMNS} FROM units u WHERE u.code = ANY(%s)"
# Units a viewer may browse: its subtree, and its own ancestors (the way up).
UNIT_IN_SIGHT = "(%(viewer)s = ANY(u.path) OR u.code = ANY(%(viewer_path)s))"


def units_by_code(conn: Connection[Any], codes: Sequence[str]) -> dict[str, UnitRow]:
    """Units by code (any unit: a visible topic may name units outside one's subtree)."""
    with _cursor(conn) as cur:
        cur.execute(UNITS_BY_CODE, ([c for c in codes if is_plausible_code(c)],))
        return {r["code"]: _unit_row(r) for r in cur.fetchall()}


def unit_in_sight(conn: Connection[Any], viewer: str, code: str) -> UnitRow | None:
    """The unit if it lies in the viewer's subtree or above it; else None."""
    if not is_plausible_code(code):
        return None
    with _cursor(conn) as cur:
        cur.execute(
            f"SELECT {UNIT_COLUMNS} FROM units u WHERE u.code = %(code)s AND {UNIT_IN_SIGHT}",
            {"code": code, **_viewer_params(cur, viewer)},
        )
        row = cur.fetchone()
    return None if row is None else _unit_row(row)


def units_page(
    conn: Connection[Any],
    viewer: str,
    *,
    parent: str | None = None,
    level: int | None = None,
    first: int = 100,
    after: str | None = None,
) -> Page[UnitRow]:
    """Children of `parent` (default the viewer's unit) or, with `level`, its
    descendants at that level; only units in the viewer's sight, by code."""
    first = _check_first(first)
    with _cursor(conn) as cur:
        params: dict[str, Any] = {**_viewer_params(cur, viewer), "limit": first + 1}
        params["parent"] = viewer if parent is None else parent
        if parent is not None:
            if not is_plausible_code(parent):
                raise NotFoundError("UNIT_NOT_FOUND", f"unit {parent!r} does not exist")
            cur.execute(
                f"SELECT 1 FROM units u WHERE u.code = %(parent)s AND {UNIT_IN_SIGHT}", params
            )
            if cur.fetchone() is None:
                raise NotFoundError("UNIT_NOT_FOUND", f"unit {parent!r} does not exist")
        if level is None:
            where = f" WHERE u.parent = %(parent)s AND {UNIT_IN_SIGHT}"
        else:
            params["level"] = level
            where = (
                " WHERE u.path @> ARRAY[%(parent)s]::text[] AND u.level = %(level)s"
                " AND u.code <> %(parent)s"
            )
            where += f" AND {UNIT_IN_SIGHT}"
        cur.execute("SELECT count(*) AS n FROM units u" + where, params)
        total = _count(cur)
        if after is not None:
            params["after"] = _str_arg(_decode(after, "units", 1)[0])
            where += " AND u.code > %(after)s"
        cur.execute(
            f"SELECT {UNIT_COLUMNS} FROM units u{where} ORDER BY u.code LIMIT %(limit)s", params
        )
        rows = [_unit_row(r) for r in cur.fetchall()]
    return _page(rows, first, total, lambda u: _encode("units", u.code))


def _viewer_params(cur: Cursor[DictRow], viewer: str) -> dict[str, Any]:
    cur.execute(UNIT_PATH, (viewer,))
    row = cur.fetchone()
    return {"viewer": viewer, "viewer_path": list(row["path"]) if row else [viewer]}


def _unit_row(r: Mapping[str, Any]) -> UnitRow:
    return UnitRow(r["code"], r["name"], r["level"], r["parent"], tuple(r["path"]), r["retired"])


# -- statistics ----------------------------------------------------------------------


def stats(
    conn: Connection[Any],
    viewer: str,
    unit: str,
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    now: datetime | None = None,
    min_sample: int = 5,
) -> StatsRow:
    """Figures of `unit`'s subtree and of each child unit, over the months of
    [date_from, date_to] (whole months, China time); current-state figures (open,
    by stage, overdue) ignore the window."""
    window = {
        "lo": "0000-00" if date_from is None else month_of(date_from),
        "hi": "9999-99" if date_to is None else month_of(date_to),
    }
    with _cursor(conn) as cur:
        _unit_within(cur, viewer, unit)
        cur.execute(CHILD_UNITS, (unit,))
        children = [r["code"] for r in cur.fetchall()]
        codes = [unit, *children]
        cur.execute(STATS_MONTHS, {"units": codes, **window})
        months: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in cur.fetchall():
            values = {m: int(r[m]) for m in MONTHLY}
            months[r["unit"]][r["month"]] = values
            for m, v in values.items():
                totals[r["unit"]][m] += v
        cur.execute(STATS_COUNTERS, {"units": codes, **window})
        for r in cur.fetchall():
            totals[r["unit"]][r["metric"]] += int(r["value"])
        cur.execute(STATS_OVERDUE, {"units": codes, "now": now or datetime.now(UTC)})
        overdue = {r["unit"]: int(r["n"]) for r in cur.fetchall()}
    sample = max(min_sample, 1)

    def build(code: str) -> StatsRow:
        return _stats_row(code, totals[code], months[code], overdue.get(code, 0), sample)

    rows = [build(code) for code in children]
    ranking = sorted(
        (r for r in rows if r.ranked),
        key=lambda r: (-(r.rates.satisfaction_rate or 0.0), r.unit),
    )
    return replace(build(unit), children=tuple(rows), ranking=tuple(ranking))


def _stats_row(
    unit: str,
    m: Mapping[str, int],
    by_month: Mapping[str, Mapping[str, int]],
    overdue: int,
    min_sample: int,
) -> StatsRow:
    found: dict[str, list[Count]] = {"stage": [], "category": [], "source": []}
    bins: dict[int, int] = {}
    for name, v in m.items():  # one pass: "kind:key" counters by kind
        kind, colon, key = name.partition(":")
        if not colon:
            continue
        if kind == "close_days":
            bins[int(key)] = v
        elif v and kind in found:
            found[kind].append(Count(key, v))

    def counts(kind: str, order: Callable[[Count], Any]) -> tuple[Count, ...]:
        return tuple(sorted(found[kind], key=order))

    held = {
        level: m[f"held_seconds_l{level}"] / m[f"held_count_l{level}"] / 3600
        for level in LEVELS
        if m.get(f"held_count_l{level}")
    }
    visits = m.get("visits", 0)
    by_stage = counts("stage", lambda c: STAGE_ORDER.get(c.key, len(STAGE_ORDER)))
    return StatsRow(
        unit=unit,
        total=m.get("submitted", 0),
        open=sum(c.count for c in by_stage if c.key not in TERMINAL),
        closed=m.get("closed", 0),
        overdue=overdue,
        by_stage=by_stage,
        by_category=counts("category", lambda c: (-c.count, c.key)),
        by_source=counts("source", lambda c: (-c.count, c.key)),
        median_days_to_close=_median(bins),
        rates=rates(m),
        visits=visits,
        transfers=m.get("transfers", 0),
        returns=m.get("transfers_returned", 0),
        held_hours=held,
        months=tuple(
            MonthRow(month, v.get("submitted", 0), v.get("closed", 0), v.get("visits", 0), rates(v))
            for month, v in sorted(by_month.items())
        ),
        ranked=visits >= min_sample,
    )


def rates(m: Mapping[str, int]) -> Rates:
    """The seven rates of DESIGN §5 from summed counters (formulas: projections.stats)."""

    def ratio(part: float, whole: int) -> float | None:
        return None if whole == 0 else part / whole

    visits = m.get("visits", 0)
    satisfied = m.get("satisfied", 0) + BASICALLY_WEIGHT * m.get("basically_satisfied", 0)
    return Rates(
        response_rate=ratio(m.get("contacted", 0), visits),
        resolution_rate=ratio(m.get("solved", 0), visits),
        satisfaction_rate=ratio(satisfied, visits),
        on_time_sign_rate=ratio(m.get("signed_on_time", 0), m.get("tasks_assigned", 0)),
        on_time_completion_rate=ratio(m.get("completed_on_time", 0), m.get("tasks_completed", 0)),
        return_rate=ratio(m.get("transfers_returned", 0), m.get("transfers", 0)),
        redo_rate=ratio(m.get("reopened", 0), m.get("feedbacks", 0)),
    )


def _median(bins: Mapping[int, int]) -> float | None:
    n = sum(bins.values())
    if n == 0:
        return None
    ordered = sorted(bins.items())

    def nth(k: int) -> int:
        seen = 0
        for days, count in ordered:
            seen += count
            if k < seen:
                return days
        return ordered[-1][0]

    return (nth((n - 1) // 2) + nth(n // 2)) / 2


# -- row mapping ---------------------------------------------------------------------


def topic_row(r: Mapping[str, Any]) -> TopicRow:
    pending = r["pending"]
    return TopicRow(
        topic_id=r["topic_id"],
        title=r["title"],
        description=r["description"],
        category=r["category"],
        source=r["source"],
        stage=r["stage"],
        location=r["location"],
        location_level=r["location_level"],
        owner=r["owner"],
        owner_level=r["owner_level"],
        pending=None if pending is None else _transfer(pending),
        co_organizers=tuple(r["co_organizers"]),
        route=tuple(_hop(h) for h in r["route"]),
        tasks=tuple(_task(t) for t in r["tasks"]),
        meetings=tuple(_meeting(m) for m in r["meetings"]),
        feedback=r["feedback"],
        return_visits=tuple(_visit(v) for v in r["return_visits"]),
        returns=r["returns"],
        reopened=r["reopened"],
        version=r["version"],
        position=r["position"],
        submitted_at=r["submitted_at"],
        updated_at=r["updated_at"],
        closed_at=r["closed_at"],
        merged_into=r["merged_into"],
        cross_level=r["cross_level"],
        terminal=r["terminal"],
        due_at=r["due_at"],
    )


def _time(value: str) -> datetime:
    parsed = parse_time(value)
    assert parsed is not None
    return parsed


def _transfer(p: Mapping[str, Any]) -> TransferRow:
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


def _inbox_row(r: Mapping[str, Any], now: datetime) -> InboxRow:
    return InboxRow(
        unit=r["inbox_unit"],
        item=r["item"],
        task_id=r["task_id"] or None,
        due=r["due"],
        since=r["since"],
        overdue=r["due"] is not None and r["due"] < now,
        topic=topic_row(r),
    )


def _inbox_cursor(i: InboxRow) -> str:
    return _encode(
        "inbox",
        0 if i.overdue else 1,
        i.since.isoformat(),
        i.topic.topic_id,
        i.item,
        i.task_id or "",
    )


def _event_row(r: Mapping[str, Any]) -> EventRow:
    return EventRow(
        topic_id=r["topic_id"],
        position=r["position"],
        version=r["version"],
        type=r["type"],
        occurred_at=r["occurred_at"],
        actor_user=r["actor_user"],
        actor_unit=r["actor_unit"],
        actor_role=r["actor_role"],
        reason=r["reason"],
        data=r["data"],
    )


# -- plumbing ------------------------------------------------------------------------


def _cursor(conn: Connection[Any]) -> Cursor[DictRow]:
    return conn.cursor(row_factory=dict_row)


def _count(cur: Cursor[DictRow]) -> int:
    row = cur.fetchone()
    return 0 if row is None else int(row["n"])


def _unit_within(cur: Cursor[DictRow], viewer: str, unit: str | None) -> str:
    """`unit` (default the viewer's) if it is the viewer's unit or below it."""
    if unit is None or unit == viewer:
        return viewer
    if not is_plausible_code(unit):
        raise NotFoundError("UNIT_NOT_FOUND", f"unit {unit!r} does not exist")
    cur.execute(UNIT_PATH, (unit,))
    row = cur.fetchone()
    if row is None or viewer not in row["path"]:
        raise NotFoundError("UNIT_NOT_FOUND", f"unit {unit!r} does not exist")
    return unit


def _check_first(first: int) -> int:
    if not 0 <= first <= MAX_FIRST:
        raise BadInputError("FIRST_OUT_OF_RANGE", f"first is {first}; it must be 0 to {MAX_FIRST}")
    return first


def _page(rows: list[T], first: int, total: int | None, cursor: Callable[[T], str]) -> Page[T]:
    items = rows[:first]
    cursors = tuple(cursor(item) for item in items)
    return Page(
        items=tuple(items),
        cursors=cursors,
        end_cursor=cursors[-1] if cursors else None,
        has_next=len(rows) > first,
        total_count=total,
    )


def _encode(kind: str, *values: object) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, kind: str, size: int) -> list[Any]:
    """The values of a cursor of `kind` made by `_encode`. Defensive: a cursor is the
    client's text, so its length is bounded before it is decoded, and JSON nested
    too deep (RecursionError) is as invalid as any other."""
    values: Any = None
    if len(cursor) <= MAX_CURSOR:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            values = json.loads(raw)
        except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
            values = None
    if not isinstance(values, list) or len(values) != size + 1 or values[0] != kind:
        shown = cursor if len(cursor) <= 80 else f"{cursor[:40]}… ({len(cursor):,} characters)"
        raise BadInputError("INVALID_CURSOR", f"cursor {shown!r} does not belong to this list")
    return values[1:]


def _time_arg(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadInputError("INVALID_CURSOR", "the cursor holds no valid time") from None
    return parsed


def _str_arg(value: Any) -> str:
    if not isinstance(value, str) or UNSTORABLE.search(value):
        raise BadInputError("INVALID_CURSOR", "the cursor holds no valid key")
    return value


def _int_arg(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadInputError("INVALID_CURSOR", "the cursor holds no valid position")
    return value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def summary_topic(summary: Any) -> TopicRow:
    """A `projections.topics.Summary` (e.g. from `replay`) as the row reads return."""
    from projections.topics import STORED_COLUMNS

    values = {name: getattr(summary, name) for name, _ in STORED_COLUMNS}
    return topic_row({**values, "terminal": summary.terminal, "due_at": summary.due_at})
