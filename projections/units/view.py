"""The units read model: the current hierarchy, with each unit's ancestry path.

Fed from `UnitImport` events. Rows and the tracking position are written in one
transaction (eventsourcing's TrackingRecorder model), many events per transaction.
`path` (province first, the unit last) answers ancestors in one row and subtrees
through a GIN index: `path @> ARRAY['620102']` is everything under 城关区.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from domain.units import Level, Unit, UnitImport, UnitRecord, is_plausible_code

# The hierarchy's events this view applies (`UnitsView.process`), and those it has
# nothing to do with (an import's start and end change no unit).
HANDLED: tuple[type[Aggregate.Event], ...] = (
    UnitImport.UnitsAdded,
    UnitImport.UnitsRenamed,
    UnitImport.UnitsReparented,
    UnitImport.UnitsRetired,
    UnitImport.UnitsRestored,
)
IGNORED = frozenset({UnitImport.UnitImportStarted, UnitImport.UnitImportCompleted})
UNIT_EVENT_TOPICS = [get_topic(cls) for cls in HANDLED]
CATCH_UP_BATCH = 50  # events per transaction (each carries up to 2,000 units)


class UnitsView(PostgresTrackingRecorder):
    """The `units` table and its tracking row."""

    name = "units"

    CREATE = (
        "CREATE TABLE IF NOT EXISTS units ("
        " code text PRIMARY KEY,"
        " name text NOT NULL,"
        " level smallint NOT NULL,"
        " parent text,"
        " path text[] NOT NULL,"
        " retired boolean NOT NULL DEFAULT false)",
        "CREATE INDEX IF NOT EXISTS units_parent_idx ON units (parent, code)",
        "CREATE INDEX IF NOT EXISTS units_path_idx ON units USING gin (path)",
    )
    INSERT_ROWS = (
        "INSERT INTO units (code, name, level, parent, path)"
        " SELECT r.code, r.name, r.level, r.parent,"
        "  COALESCE(p.path, ARRAY[]::text[]) || r.code"
        " FROM unnest(%s::text[], %s::text[], %s::smallint[], %s::text[])"
        "  WITH ORDINALITY AS r(code, name, level, parent, n)"
        " LEFT JOIN units p ON p.code = r.parent"
        " ORDER BY r.n"
        " ON CONFLICT (code) DO NOTHING"
    )
    RENAME = "UPDATE units SET name = %s WHERE code = %s"
    REPARENT_SELF = (
        "UPDATE units u SET parent = %(parent)s,"
        " path = COALESCE((SELECT path FROM units WHERE code = %(parent)s), ARRAY[]::text[])"
        "  || u.path[array_position(u.path, %(code)s):]"
        " WHERE u.path @> ARRAY[%(code)s::text]"
    )
    RETIRE = "UPDATE units SET retired = %s WHERE code = ANY(%s)"
    SELECT_ONE = "SELECT code, name, level, parent, path, retired FROM units WHERE code = %s"
    SELECT_MANY = "SELECT code, name, level, parent, path, retired FROM units WHERE code = ANY(%s)"
    SELECT_PROVINCES = (
        "SELECT code, name, level, parent, retired FROM units WHERE path[1] = ANY(%s)"
    )
    COUNT = "SELECT count(*) AS n FROM units"
    SELECT_PLACES = (
        "SELECT code, name, level, parent, path, retired FROM units"
        " WHERE path[1] = %s AND level = ANY(%s) AND NOT retired ORDER BY code"
    )

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, tracking_table_name="units_tracking")
        self.sql_create_statements.extend(SQL(s).format() for s in self.CREATE)

    # -- writing ---------------------------------------------------------------------

    def process(self, curs: Cursor[DictRow], event: Any) -> None:
        match event:
            case UnitImport.UnitsAdded(units=rows):
                self._insert(curs, [UnitRecord.from_row(r) for r in rows])
            case UnitImport.UnitsRenamed(units=rows):
                curs.executemany(self.RENAME, [(new, code) for code, _old, new in rows])
            case UnitImport.UnitsReparented(units=rows):
                for code, _old, new in rows:
                    curs.execute(self.REPARENT_SELF, {"code": code, "parent": new})
            case UnitImport.UnitsRetired(codes=codes):
                curs.execute(self.RETIRE, (True, codes))
            case UnitImport.UnitsRestored(codes=codes):
                curs.execute(self.RETIRE, (False, codes))
            case _:
                pass

    def _insert(self, curs: Cursor[DictRow], records: Sequence[UnitRecord]) -> None:
        # Rows arrive sorted by level, so a parent is inserted before its children;
        # one statement per level lets each level join its parents' paths.
        for level in Level:
            rows = [r for r in records if r.level == level]
            if rows:
                curs.execute(
                    self.INSERT_ROWS,
                    (
                        [r.code for r in rows],
                        [r.name for r in rows],
                        [int(r.level) for r in rows],
                        [r.parent for r in rows],
                    ),
                )

    def catch_up(
        self, app: Application[Any], progress: Callable[[int], object] | None = None
    ) -> int:
        """Apply every unit event after the tracked position; returns how many."""
        done = 0
        start = self.max_tracking_id(self.name) or 0
        while True:
            notifications = app.recorder.select_notifications(
                start=start,
                limit=CATCH_UP_BATCH,
                topics=UNIT_EVENT_TOPICS,
                inclusive_of_start=False,
            )
            if not notifications:
                return done
            with self.datastore.transaction(commit=True) as curs:
                for notification in notifications:
                    self.process(curs, app.mapper.to_domain_event(notification))
                self._insert_tracking(curs, Tracking(self.name, notifications[-1].id))
            start = notifications[-1].id
            done += len(notifications)
            if progress:
                progress(len(notifications))

    # -- reading ---------------------------------------------------------------------

    def get(self, code: str) -> Unit | None:
        if not is_plausible_code(code):
            return None
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.SELECT_ONE, (code,), prepare=True)
            row = curs.fetchone()
        return None if row is None else _unit(row)

    def get_many(self, codes: Iterable[str]) -> dict[str, Unit]:
        """The units of these codes that exist, in one query."""
        wanted = sorted({c for c in codes if is_plausible_code(c)})
        if not wanted:
            return {}
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.SELECT_MANY, (wanted,))
            return {row["code"]: _unit(row) for row in curs.fetchall()}

    def snapshot(self, provinces: Iterable[str]) -> tuple[dict[str, UnitRecord], set[str]]:
        """The recorded hierarchy of some provinces: records by code, and retired codes."""
        records: dict[str, UnitRecord] = {}
        retired: set[str] = set()
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.SELECT_PROVINCES, (sorted(provinces),))
            for row in curs:
                records[row["code"]] = UnitRecord(
                    row["code"], row["name"], Level(row["level"]), row["parent"]
                )
                if row["retired"]:
                    retired.add(row["code"])
        return records, retired

    def units_of(self, province: str, levels: Iterable[Level]) -> list[Unit]:
        """The active units of some levels in one province, by code."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.SELECT_PLACES, (province, [int(level) for level in levels]))
            return [_unit(row) for row in curs.fetchall()]

    def count(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.COUNT)
            row = curs.fetchone()
        return 0 if row is None else int(row["n"])


def _unit(row: DictRow) -> Unit:
    return Unit(
        code=row["code"],
        name=row["name"],
        level=Level(row["level"]),
        parent=row["parent"],
        path=tuple(row["path"]),
        retired=row["retired"],
    )


class CachedUnitDirectory:
    """The domain's `UnitDirectory` over the units table, with a bounded cache.

    Five levels means at most five lookups per rule check; the cache keeps the
    hot part of a national hierarchy (665 k units) without holding all of it.
    """

    def __init__(self, view: UnitsView, max_entries: int = 100_000, ttl: float = 60.0) -> None:
        self.view = view
        self.max_entries = max_entries
        self.ttl = ttl  # other processes may import: forget everything now and then
        self._cache: dict[str, Unit | None] = {}
        self._since = time.monotonic()

    def get(self, code: str) -> Unit | None:
        if not is_plausible_code(code):
            return None
        if time.monotonic() - self._since > self.ttl:
            self.invalidate()
        try:
            return self._cache[code]
        except KeyError:
            pass
        unit = self.view.get(code)
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        if unit is not None:  # unknown codes are not cached: an import may add them
            self._cache[code] = unit
        return unit

    def preload(self, codes: Iterable[str]) -> None:
        """Fetch the codes not cached yet in one query (callers about to ask for many)."""
        missing = {c for c in codes if c not in self._cache}
        if not missing:
            return
        found = self.view.get_many(missing)
        if len(self._cache) + len(found) >= self.max_entries:
            self._cache.clear()
        self._cache.update(found)

    def invalidate(self) -> None:
        self._cache.clear()
        self._since = time.monotonic()
