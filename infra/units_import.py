"""`linkage units import`: read a divisions folder, record what changed, update the view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from domain.topic import Actor, Role
from domain.units import HierarchyChanges, UnitRecord, diff_hierarchy
from infra.bootstrap import Runtime
from infra.divisions import read_divisions

SYSTEM_ACTOR = Actor("system:units-import", "", Role.STAFF)
GANSU = Path(__file__).parent / "data" / "gansu"


@dataclass(frozen=True, slots=True)
class ImportReport:
    read: int
    summary: dict[str, int]
    content_hash: str
    position: int | None  # None: nothing changed, nothing recorded

    def describe(self) -> str:
        if self.position is None:
            return f"read {self.read:,} units; the hierarchy is unchanged, nothing recorded"
        changed = ", ".join(f"{n:,} {what}" for what, n in self.summary.items() if n)
        return (
            f"read {self.read:,} units; recorded {changed} "
            f"(content hash {self.content_hash[:12]}…, position {self.position})"
        )


def import_units(
    runtime: Runtime,
    path: Path,
    province: str | None = None,
    *,
    actor: Actor = SYSTEM_ACTOR,
    show_progress: bool = True,
) -> ImportReport:
    """Everything is read and validated before anything is written; the events of one
    import are saved in one transaction, so a bad file records nothing."""
    with tqdm(desc="reading", unit=" units", disable=not show_progress) as bar:
        divisions = read_divisions(path, province, progress=bar.update)
    changes, position = record_units(
        runtime,
        divisions.records,
        provinces=divisions.provinces,
        content_hash=divisions.content_hash,
        source=str(path),
        actor=actor,
        show_progress=show_progress,
    )
    return ImportReport(len(divisions.records), changes.summary(), divisions.content_hash, position)


def record_units(
    runtime: Runtime,
    records: Sequence[UnitRecord],
    *,
    provinces: set[str],
    content_hash: str,
    source: str,
    actor: Actor = SYSTEM_ACTOR,
    show_progress: bool = False,
) -> tuple[HierarchyChanges, int | None]:
    """Record what `records` (the complete units of `provinces`) change, bring the
    units view up to date, and forget cached lookups; the position is None when
    nothing changed."""
    current, retired = runtime.units_view.snapshot(provinces)
    changes = diff_hierarchy(records, current, retired)
    position = runtime.app.record_hierarchy_changes(
        changes,
        content_hash=content_hash,
        source=source,
        provinces=sorted(provinces),
        actor=actor,
    )
    with tqdm(desc="indexing", unit=" events", disable=not show_progress) as bar:
        runtime.units_view.catch_up(runtime.app, progress=bar.update)
    runtime.units.invalidate()
    return changes, position
