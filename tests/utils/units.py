"""Recording a hierarchy straight into a store, for tests that need units but no files."""

from __future__ import annotations

from collections.abc import Sequence

from domain.topic import Actor, Role
from domain.units import UnitRecord, diff_hierarchy
from infra.bootstrap import Runtime

TEST_ACTOR = Actor("test", "", Role.STAFF)


def load_units(runtime: Runtime, records: Sequence[UnitRecord]) -> int | None:
    provinces = {r.code[:2] for r in records}
    current, retired = runtime.units_view.snapshot(provinces)
    changes = diff_hierarchy(records, current, retired)
    position = runtime.app.record_hierarchy_changes(
        changes, content_hash="test", source="tests", provinces=sorted(provinces), actor=TEST_ACTOR
    )
    runtime.units_view.catch_up(runtime.app)
    runtime.units.invalidate()
    return position
