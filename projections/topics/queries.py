"""The topics read model's questions: a topic, topics by filter, cross-level topics, an inbox.

Each function takes a psycopg connection (any row factory) and `viewer`, the unit
code the caller acts for, and applies visibility inside its SQL (DESIGN §6): a
topic is visible to V iff `topic_visibility` has a row (unit = V, topic_id), and
every query here joins that condition (VISIBLE), so nothing invisible is ever
read; an invisible topic and an unknown one are indistinguishable (`topic`
returns None). Lists are keyset-paged (projections.paging); each statement is
index-backed and a call runs a handful of statements whatever the page holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from psycopg import Connection

from domain.errors import BadInputError
from domain.topic import check_storable
from projections.paging import (
    Page,
    check_first,
    count,
    decode,
    dict_cursor,
    encode,
    int_arg,
    page,
    str_arg,
    time_arg,
    unit_within,
)
from projections.topics.rows import TOPIC_COLUMNS, InboxRow, TopicRow, topic_row

Scope = Literal["SUBTREE", "OWNED", "INVOLVED"]

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


# -- single topic --------------------------------------------------------------------


def topic(conn: Connection[Any], viewer: str, topic_id: str) -> TopicRow | None:
    """The topic, or None when it does not exist or the viewer may not see it."""
    with dict_cursor(conn) as cur:
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
    first = check_first(first)
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
    with dict_cursor(conn) as cur:
        params["unit"] = unit_within(cur, viewer, unit)
        total = None
        if with_total:
            cur.execute("SELECT count(*) AS n FROM topic_summary t" + where, params)
            total = count(cur)
        if after is not None:
            after_at, after_id = decode(after, "topics", 2)
            params.update(after_at=time_arg(after_at), after_id=str_arg(after_id))
            where += " AND " + TOPICS_AFTER
        cur.execute(f"SELECT {TOPIC_COLUMNS} FROM topic_summary t{where}{TOPICS_ORDER}", params)
        rows = [topic_row(r) for r in cur.fetchall()]
    return page(
        rows, first, total, lambda r: encode("topics", r.updated_at.isoformat(), r.topic_id)
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
    first = check_first(first)
    now = now or datetime.now(UTC)
    params: dict[str, Any] = {"viewer": viewer, "now": now, "limit": first + 1}
    with dict_cursor(conn) as cur:
        params["unit"] = unit_within(cur, viewer, unit)
        cur.execute(INBOX_COUNT, params)
        total = count(cur)
        query = INBOX_PAGE
        if after is not None:
            rank, since, after_id, item, task_id = decode(after, "inbox", 5)
            params.update(
                rank=int_arg(rank), since=time_arg(since), after_id=str_arg(after_id),
                item=str_arg(item), task_id=str_arg(task_id),
            )  # fmt: skip
            query += INBOX_AFTER
        cur.execute(query + INBOX_ORDER, params)
        rows = [_inbox_row(r, now) for r in cur.fetchall()]
    return page(rows, first, total, _inbox_cursor)


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
    return encode(
        "inbox",
        0 if i.overdue else 1,
        i.since.isoformat(),
        i.topic.topic_id,
        i.item,
        i.task_id or "",
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
