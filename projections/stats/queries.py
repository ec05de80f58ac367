"""The statistics read model's question: the figures of a unit's subtree and children.

The counters are those of `projections.stats.view` (formulas there and in
docs/read-models.md); every topic they count is located in the unit's subtree,
hence visible to a viewer at or above it. A unit outside the viewer's subtree is
`NotFoundError("UNIT_NOT_FOUND")`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from psycopg import Connection

from domain.topic import Stage
from projections.paging import dict_cursor, unit_within
from projections.stats.view import BASICALLY_WEIGHT, LEVELS, MONTHLY, TERMINAL, month_of


@dataclass(frozen=True, slots=True)
class Count:
    key: str
    count: int


@dataclass(frozen=True, slots=True)
class Rates:
    """The rates of DESIGN §5 (formulas in projections.stats); None without data."""

    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    on_time_sign_rate: float | None
    on_time_completion_rate: float | None
    return_rate: float | None
    redo_rate: float | None


@dataclass(frozen=True, slots=True)
class MonthRow:
    month: str  # 'YYYY-MM', China time
    submitted: int
    closed: int
    visits: int
    rates: Rates

    @property
    def satisfaction_rate(self) -> float | None:
        return self.rates.satisfaction_rate


@dataclass(frozen=True, slots=True)
class StatsRow:
    unit: str
    total: int
    open: int
    closed: int
    overdue: int
    by_stage: tuple[Count, ...]
    by_category: tuple[Count, ...]
    by_source: tuple[Count, ...]
    median_days_to_close: float | None
    rates: Rates
    visits: int  # the sample size of the visit rates
    transfers: int
    returns: int  # returned transfers (ping-pong)
    held_hours: dict[int, float]  # level → mean hours a unit of that level held a topic
    months: tuple[MonthRow, ...]
    ranked: bool  # visits reach the minimum sample
    children: tuple[StatsRow, ...] = ()
    ranking: tuple[StatsRow, ...] = field(default=())  # ranked children, best first


CHILD_UNITS = "SELECT code FROM units WHERE parent = %s ORDER BY code"
STATS_MONTHS = (
    "SELECT * FROM stats_months WHERE unit = ANY(%(units)s) AND month BETWEEN %(lo)s AND %(hi)s"
)
STATS_COUNTERS = (
    "SELECT unit, metric, sum(value)::bigint AS value FROM stats_counters"
    " WHERE unit = ANY(%(units)s) AND (month = '' OR month BETWEEN %(lo)s AND %(hi)s)"
    " GROUP BY unit, metric"
)
STATS_OVERDUE = (
    "SELECT unit, count(*) AS n FROM topic_visibility"
    " WHERE unit = ANY(%(units)s) AND kind = 'S' AND located AND due_at IS NOT NULL"
    " AND due_at < %(now)s GROUP BY unit"
)
STAGE_ORDER = {s.value: i for i, s in enumerate(Stage)}


def stats(
    conn: Connection[Any],
    viewer: str,
    unit: str,
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    now: datetime | None = None,
    min_sample: int = 5,
) -> StatsRow:
    """Figures of `unit`'s subtree and of each child unit, over the months of
    [date_from, date_to] (whole months, China time); current-state figures (open,
    by stage, overdue) ignore the window."""
    window = {
        "lo": "0000-00" if date_from is None else month_of(date_from),
        "hi": "9999-99" if date_to is None else month_of(date_to),
    }
    with dict_cursor(conn) as cur:
        unit_within(cur, viewer, unit)
        cur.execute(CHILD_UNITS, (unit,))
        children = [r["code"] for r in cur.fetchall()]
        codes = [unit, *children]
        cur.execute(STATS_MONTHS, {"units": codes, **window})
        months: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in cur.fetchall():
            values = {m: int(r[m]) for m in MONTHLY}
            months[r["unit"]][r["month"]] = values
            for m, v in values.items():
                totals[r["unit"]][m] += v
        cur.execute(STATS_COUNTERS, {"units": codes, **window})
        for r in cur.fetchall():
            totals[r["unit"]][r["metric"]] += int(r["value"])
        cur.execute(STATS_OVERDUE, {"units": codes, "now": now or datetime.now(UTC)})
        overdue = {r["unit"]: int(r["n"]) for r in cur.fetchall()}
    sample = max(min_sample, 1)

    def build(code: str) -> StatsRow:
        return _stats_row(code, totals[code], months[code], overdue.get(code, 0), sample)

    rows = [build(code) for code in children]
    ranking = sorted(
        (r for r in rows if r.ranked),
        key=lambda r: (-(r.rates.satisfaction_rate or 0.0), r.unit),
    )
    return replace(build(unit), children=tuple(rows), ranking=tuple(ranking))


def _stats_row(
    unit: str,
    m: Mapping[str, int],
    by_month: Mapping[str, Mapping[str, int]],
    overdue: int,
    min_sample: int,
) -> StatsRow:
    found: dict[str, list[Count]] = {"stage": [], "category": [], "source": []}
    bins: dict[int, int] = {}
    for name, v in m.items():  # one pass: "kind:key" counters by kind
        kind, colon, key = name.partition(":")
        if not colon:
            continue
        if kind == "close_days":
            bins[int(key)] = v
        elif v and kind in found:
            found[kind].append(Count(key, v))

    def counts(kind: str, order: Callable[[Count], Any]) -> tuple[Count, ...]:
        return tuple(sorted(found[kind], key=order))

    held = {
        level: m[f"held_seconds_l{level}"] / m[f"held_count_l{level}"] / 3600
        for level in LEVELS
        if m.get(f"held_count_l{level}")
    }
    visits = m.get("visits", 0)
    by_stage = counts("stage", lambda c: STAGE_ORDER.get(c.key, len(STAGE_ORDER)))
    return StatsRow(
        unit=unit,
        total=m.get("submitted", 0),
        open=sum(c.count for c in by_stage if c.key not in TERMINAL),
        closed=m.get("closed", 0),
        overdue=overdue,
        by_stage=by_stage,
        by_category=counts("category", lambda c: (-c.count, c.key)),
        by_source=counts("source", lambda c: (-c.count, c.key)),
        median_days_to_close=_median(bins),
        rates=rates(m),
        visits=visits,
        transfers=m.get("transfers", 0),
        returns=m.get("transfers_returned", 0),
        held_hours=held,
        months=tuple(
            MonthRow(month, v.get("submitted", 0), v.get("closed", 0), v.get("visits", 0), rates(v))
            for month, v in sorted(by_month.items())
        ),
        ranked=visits >= min_sample,
    )


def rates(m: Mapping[str, int]) -> Rates:
    """The seven rates of DESIGN §5 from summed counters (formulas: projections.stats)."""

    def ratio(part: float, whole: int) -> float | None:
        return None if whole == 0 else part / whole

    visits = m.get("visits", 0)
    satisfied = m.get("satisfied", 0) + BASICALLY_WEIGHT * m.get("basically_satisfied", 0)
    return Rates(
        response_rate=ratio(m.get("contacted", 0), visits),
        resolution_rate=ratio(m.get("solved", 0), visits),
        satisfaction_rate=ratio(satisfied, visits),
        on_time_sign_rate=ratio(m.get("signed_on_time", 0), m.get("tasks_assigned", 0)),
        on_time_completion_rate=ratio(m.get("completed_on_time", 0), m.get("tasks_completed", 0)),
        return_rate=ratio(m.get("transfers_returned", 0), m.get("transfers", 0)),
        redo_rate=ratio(m.get("reopened", 0), m.get("feedbacks", 0)),
    )


def _median(bins: Mapping[int, int]) -> float | None:
    n = sum(bins.values())
    if n == 0:
        return None
    ordered = sorted(bins.items())

    def nth(k: int) -> int:
        seen = 0
        for days, count in ordered:
            seen += count
            if k < seen:
                return days
        return ordered[-1][0]

    return (nth((n - 1) // 2) + nth(n // 2)) / 2
