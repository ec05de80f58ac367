"""What every read of the read models shares: pages, opaque keyset cursors, bounds.

A list is keyset-paged: `first` (0…MAX_FIRST) items after an opaque cursor, one
cursor per item (GraphQL edges). A cursor is base64url JSON `[kind, *values]`; one
of another list, of another shape, too long (over MAX_CURSOR characters) or not
decodable at all is `BadInputError("INVALID_CURSOR")`, as is a value of the wrong
type inside one. A `unit` argument must be the viewer's unit or lie below it,
otherwise `NotFoundError("UNIT_NOT_FOUND")`, as for an unknown code.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from psycopg import Connection, Cursor
from psycopg.rows import DictRow, dict_row

from domain.errors import BadInputError, NotFoundError
from domain.topic import UNSTORABLE
from domain.units import is_plausible_code

MAX_FIRST = 100
MAX_CURSOR = 1000  # characters; the cursors made here are under 300
UNIT_PATH = "SELECT path FROM units WHERE code = %s"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    cursors: tuple[str, ...]  # one per item (GraphQL edges)
    end_cursor: str | None
    has_next: bool
    total_count: int | None  # None when the caller did not ask for it


def dict_cursor(conn: Connection[Any]) -> Cursor[DictRow]:
    return conn.cursor(row_factory=dict_row)


def count(cur: Cursor[DictRow]) -> int:
    row = cur.fetchone()
    return 0 if row is None else int(row["n"])


def unit_within(cur: Cursor[DictRow], viewer: str, unit: str | None) -> str:
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


def check_first(first: int) -> int:
    if not 0 <= first <= MAX_FIRST:
        raise BadInputError("FIRST_OUT_OF_RANGE", f"first is {first}; it must be 0 to {MAX_FIRST}")
    return first


def page(rows: list[T], first: int, total: int | None, cursor: Callable[[T], str]) -> Page[T]:
    """The first `first` of `rows` (fetched with `first + 1` to know whether more follow)."""
    items = rows[:first]
    cursors = tuple(cursor(item) for item in items)
    return Page(
        items=tuple(items),
        cursors=cursors,
        end_cursor=cursors[-1] if cursors else None,
        has_next=len(rows) > first,
        total_count=total,
    )


def encode(kind: str, *values: object) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, kind: str, size: int) -> list[Any]:
    """The values of a cursor of `kind` made by `encode`. Defensive: a cursor is the
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


def time_arg(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadInputError("INVALID_CURSOR", "the cursor holds no valid time") from None
    return parsed


def str_arg(value: Any) -> str:
    if not isinstance(value, str) or UNSTORABLE.search(value):
        raise BadInputError("INVALID_CURSOR", "the cursor holds no valid key")
    return value


def int_arg(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadInputError("INVALID_CURSOR", "the cursor holds no valid position")
    return value
