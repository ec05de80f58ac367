"""The contract's scalars: DateTime (ISO 8601 with an offset) and JSON.

The schema maps every `datetime` annotation to `DateTimeScalar`, which refuses
times without an offset (strawberry's own DateTime accepts naive ones).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

__all__ = ["JSON", "DateTimeScalar"]

MIN_YEAR, MAX_YEAR = 1900, 2999  # far from datetime's limits, so time-zone shifts never overflow


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(f"DateTime must be an ISO 8601 string with an offset, not {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"DateTime {value!r} is not ISO 8601 (e.g. 2026-03-02T09:30:00+08:00)"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"DateTime {value!r} has no UTC offset (e.g. +08:00 or Z)")
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise ValueError(f"DateTime {value!r} is outside the years {MIN_YEAR}–{MAX_YEAR}")
    return parsed


def serialize_datetime(value: datetime) -> str:
    return value.isoformat()


DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description="ISO 8601 date and time with an offset, e.g. 2026-03-02T09:30:00+08:00",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)
