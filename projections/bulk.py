"""Batch writes shared by the read models: array literals, unnest, unit paths.

psycopg adapts Python lists element by element, which dominated the views' cost;
building each column as one array literal (or one JSON document) and unpacking it
with `unnest` in SQL makes a batch a handful of statements whatever its size.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from domain.topic import Topic
from domain.units import UnitDirectory
from projections.base import View
from projections.envelope import Envelope


def iso(value: datetime | None) -> str | None:
    """A UTC ISO 8601 string, the form every datetime takes inside jsonb columns."""
    return None if value is None else value.astimezone(UTC).isoformat()


def parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def dumps(value: object) -> str:
    """JSON text for a jsonb column; datetimes become UTC ISO strings."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def text_array(values: Iterable[str | None]) -> str:
    """A PostgreSQL array literal of text, for a `%s::text[]` (or any type's `[]`)
    parameter: building it with str.join is several times faster than adapting a
    Python list element by element, which is what a batch's writes are made of."""
    items = tuple(values)
    if not items:
        return "{}"
    if None not in items:
        texts = cast(tuple[str, ...], items)
        probe = "".join(texts)
        if '"' not in probe and "\\" not in probe:  # nothing to escape: quote them all at once
            return '{"' + '","'.join(texts) + '"}'
    return "{" + ",".join("NULL" if v is None else _quoted(v) for v in items) + "}"


def _quoted(value: str) -> str:
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def number_array(values: Iterable[int | None]) -> str:
    items = tuple(values)
    if None in items:
        return "{" + ",".join("NULL" if v is None else str(int(v)) for v in items) + "}"
    return "{" + ",".join(map(str, items)) + "}"


def time_array(values: Iterable[datetime | None]) -> str:
    return "{" + ",".join("NULL" if v is None else v.isoformat() for v in values) + "}"


def bool_array(values: Iterable[bool]) -> str:
    return "{" + ",".join("t" if v else "f" for v in values) + "}"


def json_array(values: Iterable[Any]) -> str:
    """One JSON document for a whole jsonb column (None becomes SQL NULL)."""
    return dumps(list(values))


ARRAY_LITERALS: dict[str, Callable[[Iterable[Any]], str]] = {
    "text": text_array,
    "jsonb": json_array,
    "smallint": number_array,
    "int": number_array,
    "bigint": number_array,
    "timestamptz": time_array,
    "boolean": bool_array,
}


# A jsonb column travels as one JSON array (one fast `json.dumps` for the batch, no
# escaping into an array literal), unpacked in order into a jsonb[].
JSONB_COLUMN = (
    "ARRAY(SELECT NULLIF(j.x, 'null') FROM jsonb_array_elements(%s::jsonb)"
    " WITH ORDINALITY AS j(x, n) ORDER BY j.n)"
)


def unnest_of(types: Sequence[str]) -> str:
    """`unnest(%s::t1[], %s::t2[], …)`: the rows a batch writes, one array per column."""
    return (
        "unnest(" + ", ".join(JSONB_COLUMN if t == "jsonb" else f"%s::{t}[]" for t in types) + ")"
    )


def array_params(rows: Sequence[Sequence[Any]], types: Sequence[str]) -> list[str]:
    """The parameters of `unnest_of(types)` for these rows."""
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * len(types)
    return [ARRAY_LITERALS[t](c) for t, c in zip(types, columns, strict=True)]


def schema_statements(view: View, statements: dict[str, str]) -> dict[str, Composed]:
    """Each `{schema}` placeholder replaced by the view's schema identifier."""
    schema = Identifier(view.schema)
    return {k: SQL(v).format(schema=schema) for k, v in statements.items()}


class UnitPaths:
    """Each unit's path (province first) and level, as a view needs them per batch.

    `prefetch` reads the codes a batch needs and has not cached from the units read
    model in one statement, inside the batch's transaction (a unit lookup per event
    would cost a round trip each). A code missing there is asked of the
    `UnitDirectory` port; an unknown code stands alone at level 0. The cache is
    bounded and forgotten now and then, since an import may re-parent units.
    """

    SELECT = "SELECT code, path, level FROM units WHERE code = ANY(%s)"
    EXISTS = "SELECT to_regclass('units') IS NOT NULL AS found"

    def __init__(self, units: UnitDirectory, max_entries: int = 100_000, ttl: float = 60.0):
        self.units = units
        self.max_entries = max_entries
        self.ttl = ttl
        self._known: dict[str, tuple[tuple[str, ...], int]] = {}
        self._since = time.monotonic()
        self._table: bool | None = None  # whether the units read model is there to read

    def prefetch(self, curs: Cursor[DictRow], codes: Iterable[str | None]) -> None:
        if self._table is None:
            row = curs.execute(self.EXISTS).fetchone()
            self._table = bool(row and row["found"])
        if not self._table:
            return  # every lookup goes to the port
        if time.monotonic() - self._since > self.ttl:
            self._known.clear()
            self._since = time.monotonic()
        missing = sorted({c for c in codes if c and c not in self._known})
        if not missing:
            return
        if len(self._known) + len(missing) > self.max_entries:
            self._known.clear()
        curs.execute(self.SELECT, (missing,))
        for row in curs.fetchall():
            self._known[row["code"]] = (tuple(row["path"]), int(row["level"]))

    def _lookup(self, code: str) -> tuple[tuple[str, ...], int]:
        found = self._known.get(code)
        if found is None:
            unit = self.units.get(code)
            if unit is None:
                return (code,), 0  # not cached: an import may add it
            found = self._known[code] = (unit.path, int(unit.level))
        return found

    def path(self, code: str) -> tuple[str, ...]:
        return self._lookup(code)[0]

    def level(self, code: str) -> int:
        return self._lookup(code)[1]


# -- the state of one topic -------------------------------------------------------


CREATED = Topic.TopicSubmitted.__name__  # the event that creates a topic's state


def db_value(value: Any, kind: str) -> Any:
    """A value as `array_params` sends it: a text[] in a text column as its literal."""
    if kind == "text" and isinstance(value, list):
        return text_array(value)
    return value


class Versioned(Protocol):
    version: int


S = TypeVar("S", bound=Versioned)


def fold(
    events: Sequence[Envelope],
    states: dict[str, S],
    create: Callable[[Envelope], S],
    step: Callable[[S, Envelope], None],
) -> set[str]:
    """Apply topic events to per-topic states in order; returns the topics changed.

    A topic first seen by its TopicSubmitted is created; events of a topic never
    seen created are ignored; an event at or below a state's version is a repeat
    (Kafka delivers at least once) and changes nothing. `step` must advance `version`.
    """
    changed: set[str] = set()
    for e in events:
        state = states.get(e.topic_id)
        if state is None:
            if e.type == CREATED:
                states[e.topic_id] = create(e)
                changed.add(e.topic_id)
            continue
        if e.version <= state.version:
            continue
        step(state, e)
        changed.add(e.topic_id)
    return changed
