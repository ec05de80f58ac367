"""Units (行政单元): the five-level hierarchy the topic rules rely on.

The hierarchy is recorded as events of a `UnitImport` aggregate, one aggregate per
import that changes something (a re-import of the same files finds no difference
and records nothing). All events of one import are saved in one transaction: nothing
partial is ever recorded. The domain reads the hierarchy through the
`UnitDirectory` port; infra provides a PostgreSQL-backed one, tests an in-memory one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

from eventsourcing.domain import Aggregate

from domain.errors import NotFoundError

# No single event carries more than this many units: ~2,000 units is ~150 kB of JSON.
UNITS_PER_EVENT = 2000


def is_plausible_code(code: str) -> bool:
    """Digits of one of the five code lengths: anything else names no unit."""
    return code.isascii() and code.isdigit() and len(code) in CODE_LENGTH.values()


class Level(IntEnum):
    PROVINCE = 1
    CITY = 2
    COUNTY = 3
    TOWNSHIP = 4
    VILLAGE = 5


CODE_LENGTH = {
    Level.PROVINCE: 2,
    Level.CITY: 4,
    Level.COUNTY: 6,
    Level.TOWNSHIP: 9,
    Level.VILLAGE: 12,
}
LEVEL_NAMES_ZH = {
    Level.PROVINCE: "省",
    Level.CITY: "市",
    Level.COUNTY: "县",
    Level.TOWNSHIP: "乡镇",
    Level.VILLAGE: "村",
}


def level_of_code(code: str) -> Level | None:
    """The level a well-formed code belongs to, or None for a malformed code."""
    if not code.isascii() or not code.isdigit():
        return None
    for level, length in CODE_LENGTH.items():
        if len(code) == length:
            return level
    return None


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """One unit as given by a divisions file (or as stored)."""

    code: str
    name: str
    level: Level
    parent: str | None

    def as_row(self) -> list[Any]:
        return [self.code, self.name, int(self.level), self.parent]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> UnitRecord:
        return cls(code=row[0], name=row[1], level=Level(row[2]), parent=row[3])


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit with its ancestry resolved: `path` runs from the province to itself."""

    code: str
    name: str
    level: Level
    parent: str | None
    path: tuple[str, ...]
    retired: bool = False

    @property
    def ancestors(self) -> tuple[str, ...]:
        return self.path[:-1]


class UnitDirectory(Protocol):
    """The lookups the domain needs; each is cheap at national scale."""

    def get(self, code: str) -> Unit | None: ...


def require_unit(units: UnitDirectory, code: str) -> Unit:
    unit = units.get(code)
    if unit is None:
        raise NotFoundError("UNIT_NOT_FOUND", f"unit {code!r} does not exist")
    return unit


def is_ancestor(units: UnitDirectory, ancestor: str, descendant: str) -> bool:
    """True when `ancestor` is a strict ancestor of `descendant`."""
    unit = units.get(descendant)
    return unit is not None and ancestor in unit.ancestors


def is_within(units: UnitDirectory, unit_code: str, scope: str) -> bool:
    """True when `unit_code` is `scope` itself or lies in its subtree."""
    return unit_code == scope or is_ancestor(units, scope, unit_code)


def may_see_unit(units: UnitDirectory, viewer: str, code: str) -> bool:
    """True when `viewer` may browse unit `code`: its own subtree and its ancestors."""
    return is_within(units, code, viewer) or is_within(units, viewer, code)


class InMemoryUnitDirectory:
    """A directory held in a dict: for tests and small hierarchies."""

    def __init__(self, records: Iterable[UnitRecord] = ()) -> None:
        self._records: dict[str, UnitRecord] = {}
        self._retired: set[str] = set()
        self._paths: dict[str, tuple[str, ...]] = {}
        self.apply(records)

    def apply(self, records: Iterable[UnitRecord], retired: Iterable[str] = ()) -> None:
        for record in records:
            self._records[record.code] = record
        self._retired.update(retired)
        self._paths.clear()

    def _path(self, code: str) -> tuple[str, ...]:
        path = self._paths.get(code)
        if path is None:
            record = self._records[code]
            path = (*self._path(record.parent), code) if record.parent else (code,)
            self._paths[code] = path
        return path

    def get(self, code: str) -> Unit | None:
        record = self._records.get(code)
        if record is None:
            return None
        return Unit(
            record.code,
            record.name,
            record.level,
            record.parent,
            self._path(code),
            retired=code in self._retired,
        )

    def records(self) -> Mapping[str, UnitRecord]:
        return self._records

    def __len__(self) -> int:
        return len(self._records)


@dataclass(frozen=True, slots=True)
class HierarchyChanges:
    """What an import changes compared with the hierarchy already recorded."""

    added: list[UnitRecord]
    renamed: list[tuple[str, str, str]]  # code, old name, new name
    reparented: list[tuple[str, str | None, str | None]]  # code, old parent, new parent
    retired: list[str]
    restored: list[str]

    @property
    def empty(self) -> bool:
        return not (self.added or self.renamed or self.reparented or self.retired or self.restored)

    def summary(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "renamed": len(self.renamed),
            "reparented": len(self.reparented),
            "retired": len(self.retired),
            "restored": len(self.restored),
        }


def diff_hierarchy(
    incoming: Sequence[UnitRecord],
    current: Mapping[str, UnitRecord],
    current_retired: set[str],
) -> HierarchyChanges:
    """Compare a complete import of some provinces with what is recorded.

    `current` holds the recorded units of the imported provinces only: a unit there
    but absent from the files is retired; one that reappears is restored. Units of
    other provinces are never in `current`, so importing one province never retires
    another.
    """
    added: list[UnitRecord] = []
    renamed: list[tuple[str, str, str]] = []
    reparented: list[tuple[str, str | None, str | None]] = []
    restored: list[str] = []
    seen: set[str] = set()
    for record in incoming:
        seen.add(record.code)
        old = current.get(record.code)
        if old is None:
            added.append(record)
            continue
        if old.name != record.name:
            renamed.append((record.code, old.name, record.name))
        if old.parent != record.parent:
            reparented.append((record.code, old.parent, record.parent))
        if record.code in current_retired:
            restored.append(record.code)
    retired = sorted(code for code in current if code not in seen and code not in current_retired)
    return HierarchyChanges(added, renamed, reparented, retired, restored)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class UnitImport(Aggregate):
    """One recorded change of the hierarchy: its events hold the units in batches."""

    class UnitImportStarted(Aggregate.Created):
        content_hash: str
        source: str
        provinces: list[str]
        actor: dict[str, str]

    class UnitsAdded(Aggregate.Event):
        units: list[list[Any]]  # [code, name, level, parent]

        def apply(self, aggregate: Any) -> None:
            aggregate.added += len(self.units)

    class UnitsRenamed(Aggregate.Event):
        units: list[list[Any]]  # [code, old name, new name]

        def apply(self, aggregate: Any) -> None:
            aggregate.renamed += len(self.units)

    class UnitsReparented(Aggregate.Event):
        units: list[list[Any]]  # [code, old parent, new parent]

        def apply(self, aggregate: Any) -> None:
            aggregate.reparented += len(self.units)

    class UnitsRetired(Aggregate.Event):
        codes: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.retired += len(self.codes)

    class UnitsRestored(Aggregate.Event):
        codes: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.restored += len(self.codes)

    class UnitImportCompleted(Aggregate.Event):
        summary: dict[str, int]

        def apply(self, aggregate: Any) -> None:
            aggregate.completed = True

    def __init__(
        self, content_hash: str, source: str, provinces: list[str], actor: dict[str, str]
    ) -> None:
        self.content_hash = content_hash
        self.source = source
        self.provinces = provinces
        self.actor = actor
        self.added = self.renamed = self.reparented = self.retired = self.restored = 0
        self.completed = False

    @classmethod
    def record(
        cls,
        content_hash: str,
        source: str,
        provinces: list[str],
        changes: HierarchyChanges,
        actor: dict[str, str],
    ) -> UnitImport:
        """All events of one import; parents are added before their children."""
        agg = cls._create(
            cls.UnitImportStarted,
            id=uuid.uuid4(),
            content_hash=content_hash,
            source=source,
            provinces=provinces,
            actor=actor,
        )
        added = sorted(changes.added, key=lambda r: (r.level, r.code))
        for chunk in _chunks(added, UNITS_PER_EVENT):
            agg.trigger_event(cls.UnitsAdded, units=[r.as_row() for r in chunk])
        for chunk in _chunks(changes.renamed, UNITS_PER_EVENT):
            agg.trigger_event(cls.UnitsRenamed, units=[list(r) for r in chunk])
        for chunk in _chunks(changes.reparented, UNITS_PER_EVENT):
            agg.trigger_event(cls.UnitsReparented, units=[list(r) for r in chunk])
        for chunk in _chunks(changes.retired, UNITS_PER_EVENT):
            agg.trigger_event(cls.UnitsRetired, codes=list(chunk))
        for chunk in _chunks(changes.restored, UNITS_PER_EVENT):
            agg.trigger_event(cls.UnitsRestored, codes=list(chunk))
        agg.trigger_event(cls.UnitImportCompleted, summary=changes.summary())
        return agg
