"""The units read model's questions: units by code, a unit in sight, children pages.

A viewer browses its own subtree and its ancestors (the way up); a unit outside
both reads as unknown (`NotFoundError("UNIT_NOT_FOUND")`, or None).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import Connection, Cursor
from psycopg.rows import DictRow

from domain.errors import NotFoundError
from domain.units import is_plausible_code
from projections.paging import (
    UNIT_PATH,
    Page,
    check_first,
    count,
    decode,
    dict_cursor,
    encode,
    page,
    str_arg,
)


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
    with dict_cursor(conn) as cur:
        cur.execute(UNITS_BY_CODE, ([c for c in codes if is_plausible_code(c)],))
        return {r["code"]: _unit_row(r) for r in cur.fetchall()}


def unit_in_sight(conn: Connection[Any], viewer: str, code: str) -> UnitRow | None:
    """The unit if it lies in the viewer's subtree or above it; else None."""
    if not is_plausible_code(code):
        return None
    with dict_cursor(conn) as cur:
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
    first = check_first(first)
    with dict_cursor(conn) as cur:
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
        total = count(cur)
        if after is not None:
            params["after"] = str_arg(decode(after, "units", 1)[0])
            where += " AND u.code > %(after)s"
        cur.execute(
            f"SELECT {UNIT_COLUMNS} FROM units u{where} ORDER BY u.code LIMIT %(limit)s", params
        )
        rows = [_unit_row(r) for r in cur.fetchall()]
    return page(rows, first, total, lambda u: encode("units", u.code))


def _viewer_params(cur: Cursor[DictRow], viewer: str) -> dict[str, Any]:
    cur.execute(UNIT_PATH, (viewer,))
    row = cur.fetchone()
    return {"viewer": viewer, "viewer_path": list(row["path"]) if row else [viewer]}


def _unit_row(r: Mapping[str, Any]) -> UnitRow:
    return UnitRow(r["code"], r["name"], r["level"], r["parent"], tuple(r["path"]), r["retired"])
