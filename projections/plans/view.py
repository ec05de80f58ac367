"""The plans read model.

Tables (all keyed so that a repeated event changes nothing):

* `plans` — one row per plan: unit, year, state, approval, issuing bodies.
* `plan_items` — one row per item, as its events left it (kind, title, period and
  the instant that period ends in China time, recorded state, completion), with
  its adjustments (change, reason, actor, time) as a jsonb list.
* `plan_links` — the topics (and meetings) an item is carried out by.
* `plan_held` — every held deliberation of every topic (topic, meeting, time): an
  item of a meeting kind (domain.plan.MEETING_KINDS) linked to a topic is DONE
  from the first deliberation held on it (the linked meeting when the link names
  one), whichever of the link and the meeting came first. That state is derived
  when read (projections.plans.queries), like overdue.

Events apply one by one in position order: plan events are few (a committee's
year is tens of them) and of the topic events only `DeliberationHeld` is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.lifecycle import event_classes
from domain.plan import ConsultationPlan, parse_period
from domain.topic import TOPIC_EVENTS, Topic
from domain.units import UnitDirectory
from projections.base import View
from projections.bulk import schema_statements
from projections.envelope import Envelope

HELD = Topic.DeliberationHeld.__name__
# The topic events this view reads, and those it has nothing to do with (the
# lifecycle test holds every view to saying which is which).
HANDLED: frozenset[type[Aggregate.Event]] = frozenset({Topic.DeliberationHeld})
IGNORED: frozenset[type[Aggregate.Event]] = frozenset(TOPIC_EVENTS.values()) - HANDLED
PLAN_EVENTS = frozenset(cls.__name__ for cls in event_classes(ConsultationPlan))

DDL = (
    "CREATE TABLE IF NOT EXISTS {schema}.plans (plan_id text PRIMARY KEY, unit text NOT NULL,"
    " year int NOT NULL, state text NOT NULL, approved_at timestamptz,"
    " issued_by jsonb NOT NULL, drafted_at timestamptz NOT NULL)",
    "CREATE INDEX IF NOT EXISTS plans_unit_year ON {schema}.plans (unit, year)",
    "CREATE TABLE IF NOT EXISTS {schema}.plan_items (plan_id text NOT NULL, item_id text NOT NULL,"
    " seq int NOT NULL, kind text NOT NULL, title text NOT NULL, planned_for text NOT NULL,"
    " ends_at timestamptz NOT NULL, state text NOT NULL, done_at timestamptz,"
    " lead_leader text, lead_committee text, origin text, adjustments jsonb NOT NULL,"
    " PRIMARY KEY (plan_id, item_id))",
    "CREATE TABLE IF NOT EXISTS {schema}.plan_links (plan_id text NOT NULL, item_id text NOT NULL,"
    " seq int NOT NULL, topic_id text NOT NULL, meeting_id text,"
    " PRIMARY KEY (plan_id, item_id, seq))",
    "CREATE INDEX IF NOT EXISTS plan_links_topic ON {schema}.plan_links (topic_id)",
    "CREATE TABLE IF NOT EXISTS {schema}.plan_held (topic_id text NOT NULL,"
    " meeting_id text NOT NULL, held_at timestamptz NOT NULL, PRIMARY KEY (topic_id, meeting_id))",
)


class PlansView(View):
    """`plans`, `plan_items`, `plan_links`, `plan_held`."""

    name = "plans"
    tables = ("plan_links", "plan_items", "plans", "plan_held")
    DDL = DDL
    STATEMENTS: ClassVar[dict[str, str]] = {
        "PlanDrafted": (
            "INSERT INTO {schema}.plans (plan_id, unit, year, state, approved_at, issued_by,"
            " drafted_at) VALUES (%(id)s, %(unit)s, %(year)s, 'DRAFT', NULL, '[]', %(at)s)"
            " ON CONFLICT (plan_id) DO NOTHING"
        ),
        "PlanSubmitted": "UPDATE {schema}.plans SET state = 'SUBMITTED' WHERE plan_id = %(id)s",
        "PlanApproved": (
            "UPDATE {schema}.plans SET state = 'APPROVED', approved_at = %(at)s,"
            " issued_by = %(issued_by)s WHERE plan_id = %(id)s"
        ),
        "PlanItemAdded": (
            "INSERT INTO {schema}.plan_items (plan_id, item_id, seq, kind, title, planned_for,"
            " ends_at, state, done_at, lead_leader, lead_committee, origin, adjustments)"
            " VALUES (%(id)s, %(item_id)s, %(seq)s, %(kind)s, %(title)s, %(planned_for)s,"
            " %(ends_at)s, 'PLANNED', NULL, %(lead_leader)s, %(lead_committee)s, %(origin)s,"
            " '[]') ON CONFLICT (plan_id, item_id) DO NOTHING"
        ),
        "PlanItemAdjusted": (
            "UPDATE {schema}.plan_items SET title = coalesce(%(title)s, title),"
            " planned_for = coalesce(%(planned_for)s, planned_for),"
            " ends_at = coalesce(%(ends_at)s, ends_at), kind = coalesce(%(kind)s, kind),"
            " adjustments = adjustments || %(adjustment)s"
            " WHERE plan_id = %(id)s AND item_id = %(item_id)s"
        ),
        "PlanItemCancelled": (
            "UPDATE {schema}.plan_items SET state = 'CANCELLED',"
            " adjustments = adjustments || %(adjustment)s"
            " WHERE plan_id = %(id)s AND item_id = %(item_id)s"
        ),
        "PlanItemCompleted": (
            "UPDATE {schema}.plan_items SET state = 'DONE', done_at = %(at)s"
            " WHERE plan_id = %(id)s AND item_id = %(item_id)s"
        ),
        "PlanItemLinked": (
            "INSERT INTO {schema}.plan_links (plan_id, item_id, seq, topic_id, meeting_id)"
            " SELECT %(id)s, %(item_id)s, %(version)s, %(topic_id)s, %(meeting_id)s"
            " ON CONFLICT DO NOTHING"
        ),
        HELD: (
            "INSERT INTO {schema}.plan_held (topic_id, meeting_id, held_at)"
            " VALUES (%(id)s, %(meeting_id)s, %(at)s) ON CONFLICT DO NOTHING"
        ),
    }

    def __init__(self, datastore: PostgresDatastore, units: UnitDirectory) -> None:
        super().__init__(datastore, units)
        self.sql = schema_statements(self, self.STATEMENTS)

    def apply(self, curs: Cursor[DictRow], envelopes: Sequence[Envelope]) -> None:
        for e in envelopes:
            if e.type in PLAN_EVENTS or e.type == HELD:
                curs.execute(self.sql[e.type], _parameters(e))


def _parameters(e: Envelope) -> dict[str, Any]:
    d = e.data
    params: dict[str, Any] = {"id": e.topic_id, "at": e.occurred_at, "version": e.version, **d}
    if e.type == "PlanApproved":
        params["issued_by"] = Jsonb(list(d.get("issued_by") or []))
    elif e.type == "PlanItemAdded":
        params["seq"] = int(str(d["item_id"]).lstrip("I") or 0)
        params["ends_at"] = parse_period(d["planned_for"]).ends_at
    elif e.type in ("PlanItemAdjusted", "PlanItemCancelled"):
        planned = d.get("planned_for")
        params.setdefault("title", None)
        params.setdefault("kind", None)
        params["planned_for"] = planned
        params["ends_at"] = None if not planned else parse_period(planned).ends_at
        params["adjustment"] = Jsonb(
            [
                {
                    "change": d.get("change", "cancelled"),
                    "reason": d.get("reason", ""),
                    "actor": e.actor,
                    "at": e.occurred_at.isoformat(),
                }
            ]
        )
    return params
