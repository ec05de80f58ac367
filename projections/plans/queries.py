"""Reading the plans read model: a unit's plan with its items as they stand now,
and the planned/done/overdue counts of several units' plans in one statement.

An item's state as shown is its recorded state, except that a PLANNED item of a
meeting kind (domain.plan.MEETING_KINDS) is DONE from the first deliberation held
on a linked topic (the linked meeting when the link names one); overdue is a
PLANNED item whose period ended before `now` (China time: `ends_at` is the
midnight after the period's last day there). Both are derived here, at read time.
Visibility: a plan is in sight when its unit is (the viewer's subtree and its
ancestors, projections.units.queries.unit_in_sight); anything else reads as none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection

from domain.plan import MEETING_KINDS, plan_id_of
from projections.paging import dict_cursor
from projections.units.queries import unit_in_sight

MEETING_KIND_NAMES = sorted(k.value for k in MEETING_KINDS)

# Each item with its state and completion as shown (see the module's docstring).
ITEMS = """
SELECT i.plan_id, i.item_id, i.seq, i.kind, i.title, i.planned_for, i.ends_at,
       i.lead_leader, i.lead_committee, i.origin, i.adjustments,
       CASE WHEN i.state = 'PLANNED' AND i.kind = ANY(%(meeting_kinds)s) AND h.held IS NOT NULL
            THEN 'DONE' ELSE i.state END AS shown_state,
       CASE WHEN i.state = 'PLANNED' AND i.kind = ANY(%(meeting_kinds)s) AND h.held IS NOT NULL
            THEN h.held ELSE i.done_at END AS shown_done_at,
       coalesce(l.topics, '{}') AS topics, coalesce(l.meetings, '{}') AS meetings
FROM plan_items i
LEFT JOIN LATERAL (
    SELECT min(ph.held_at) AS held FROM plan_links pl
    JOIN plan_held ph ON ph.topic_id = pl.topic_id
         AND (pl.meeting_id IS NULL OR pl.meeting_id = ph.meeting_id)
    WHERE pl.plan_id = i.plan_id AND pl.item_id = i.item_id) h ON true
LEFT JOIN LATERAL (
    SELECT array_agg(pl.topic_id ORDER BY pl.seq) AS topics,
           array_agg(pl.meeting_id ORDER BY pl.seq)
               FILTER (WHERE pl.meeting_id IS NOT NULL) AS meetings
    FROM plan_links pl WHERE pl.plan_id = i.plan_id AND pl.item_id = i.item_id) l ON true
"""


@dataclass(frozen=True, slots=True)
class AdjustmentRow:
    change: str
    reason: str
    actor: dict[str, str]
    at: datetime


@dataclass(frozen=True, slots=True)
class ItemRow:
    item_id: str
    kind: str
    title: str
    planned_for: str
    lead_leader: str | None
    lead_committee: str | None
    origin: str | None
    state: str
    overdue: bool
    done_at: datetime | None
    topic_ids: tuple[str, ...]  # in link order, each once
    meeting_ids: tuple[str, ...]
    adjustments: tuple[AdjustmentRow, ...]


@dataclass(frozen=True, slots=True)
class PlanRow:
    plan_id: str
    unit: str
    year: int
    state: str
    approved_at: datetime | None
    issued_by: tuple[str, ...]
    items: tuple[ItemRow, ...]


@dataclass(frozen=True, slots=True)
class PlanCounts:
    unit: str
    planned: int  # items not cancelled
    done: int
    overdue: int


def _item(row: dict[str, Any], now: datetime) -> ItemRow:
    state = row["shown_state"]
    return ItemRow(
        item_id=row["item_id"],
        kind=row["kind"],
        title=row["title"],
        planned_for=row["planned_for"],
        lead_leader=row["lead_leader"],
        lead_committee=row["lead_committee"],
        origin=row["origin"],
        state=state,
        overdue=state == "PLANNED" and now >= row["ends_at"],
        done_at=row["shown_done_at"],
        topic_ids=tuple(dict.fromkeys(row["topics"])),
        meeting_ids=tuple(row["meetings"]),
        adjustments=tuple(
            AdjustmentRow(a["change"], a["reason"], a["actor"], datetime.fromisoformat(a["at"]))
            for a in row["adjustments"]
        ),
    )


def plan_of(
    conn: Connection[Any], viewer: str, unit: str, year: int, now: datetime
) -> PlanRow | None:
    """The plan of `unit` for `year` if there is one and the viewer sees the unit."""
    return plan_by_id(conn, viewer, str(plan_id_of(unit, year)), now)


def plan_by_id(conn: Connection[Any], viewer: str, plan_id: str, now: datetime) -> PlanRow | None:
    """The plan `plan_id` if there is one and the viewer sees its unit."""
    with dict_cursor(conn) as cur:
        cur.execute("SELECT * FROM plans WHERE plan_id = %s", (plan_id,))
        plan = cur.fetchone()
    if plan is None or unit_in_sight(conn, viewer, plan["unit"]) is None:
        return None
    with dict_cursor(conn) as cur:
        cur.execute(
            ITEMS + " WHERE i.plan_id = %(plan)s ORDER BY i.seq",
            {"plan": plan_id, "meeting_kinds": MEETING_KIND_NAMES},
        )
        items = tuple(_item(r, now) for r in cur.fetchall())
    return PlanRow(
        plan_id=plan_id,
        unit=plan["unit"],
        year=plan["year"],
        state=plan["state"],
        approved_at=plan["approved_at"],
        issued_by=tuple(plan["issued_by"]),
        items=items,
    )


def plan_counts(
    conn: Connection[Any], units: Sequence[str], year: int, now: datetime
) -> dict[str, PlanCounts]:
    """Planned (not cancelled), done and overdue items of each unit's plan for
    `year`, by unit code; units without a plan are absent. The caller has checked
    that the viewer sees these units."""
    with dict_cursor(conn) as cur:
        cur.execute(
            "SELECT p.unit, count(*) FILTER (WHERE x.shown_state <> 'CANCELLED') AS planned,"
            " count(*) FILTER (WHERE x.shown_state = 'DONE') AS done,"
            " count(*) FILTER (WHERE x.shown_state = 'PLANNED' AND x.ends_at <= %(now)s)"
            " AS overdue FROM plans p LEFT JOIN (" + ITEMS + ") x ON x.plan_id = p.plan_id"
            " WHERE p.unit = ANY(%(units)s) AND p.year = %(year)s GROUP BY p.unit",
            {
                "units": list(units),
                "year": year,
                "now": now,
                "meeting_kinds": MEETING_KIND_NAMES,
            },
        )
        return {
            r["unit"]: PlanCounts(r["unit"], int(r["planned"]), int(r["done"]), int(r["overdue"]))
            for r in cur.fetchall()
        }
