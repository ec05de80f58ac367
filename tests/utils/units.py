"""Recording a hierarchy straight into a store, for tests that need units but no files."""

from __future__ import annotations

from collections.abc import Sequence

from domain.units import UnitRecord
from infra.bootstrap import Runtime
from infra.units_import import record_units


def load_units(runtime: Runtime, records: Sequence[UnitRecord]) -> int | None:
    provinces = {r.code[:2] for r in records if r.parent is None}
    _, position = record_units(
        runtime, records, provinces=provinces, content_hash="test", source="tests"
    )
    return position
