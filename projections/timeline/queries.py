"""The timeline read model's question: a topic's events, page by page.

`timeline_page` answers only for a topic the viewer sees (`topic_visibility`, as
every topic read): an invisible topic and an unknown one both raise
`NotFoundError("TOPIC_NOT_FOUND")`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import Connection

from domain.errors import NotFoundError
from projections.paging import Page, check_first, decode, dict_cursor, encode, int_arg, page
from projections.timeline.view import EVENT_COLUMNS, EventRow

TIMELINE_TOTAL = (
    "SELECT (SELECT count(*) FROM timeline_events e"
    " WHERE e.topic_id = %(topic)s AND e.version <= %(until)s) AS n"
    " FROM topic_visibility vv WHERE vv.unit = %(viewer)s AND vv.topic_id = %(topic)s LIMIT 1"
)
TIMELINE_PAGE = (
    "SELECT " + ", ".join(f"e.{c.name}" for c in EVENT_COLUMNS) + " FROM timeline_events e"
    " WHERE e.topic_id = %(topic)s AND e.version > %(after)s AND e.version <= %(until)s"
    " AND EXISTS (SELECT 1 FROM topic_visibility vv"
    "  WHERE vv.unit = %(viewer)s AND vv.topic_id = e.topic_id)"
    " ORDER BY e.version LIMIT %(limit)s"
)


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
    first = check_first(first)
    params: dict[str, Any] = {
        "viewer": viewer,
        "topic": topic_id,
        "limit": first + 1,
        "until": until_version if until_version is not None else 2**31 - 1,
    }
    params["after"] = 0 if after is None else int_arg(decode(after, "events", 1)[0])
    with dict_cursor(conn) as cur:
        cur.execute(TIMELINE_TOTAL, params)
        row = cur.fetchone()
        if row is None:
            raise NotFoundError("TOPIC_NOT_FOUND", f"topic {topic_id} does not exist")
        total = int(row["n"])
        cur.execute(TIMELINE_PAGE, params)
        rows = [_event_row(r) for r in cur.fetchall()]
    return page(rows, first, total, lambda e: encode("events", e.version))


def _event_row(r: Mapping[str, Any]) -> EventRow:
    return EventRow(**{c.name: r[c.name] for c in EVENT_COLUMNS})
