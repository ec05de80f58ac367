"""The timeline read model: every event of every topic, as auditors page through it.

`timeline_events` holds one row per topic event (position, version, type, time,
actor, reason, and the event's own fields as jsonb with datetimes as UTC ISO
strings), keyed by (topic_id, version). A batch is one SELECT (which topics
already have their creation recorded) and one INSERT from `unnest` arrays; events
of a topic whose creation this view never saw are ignored, and a repeated event
hits the key and changes nothing.

Personal data stays out: the submitter's name and phone (PIPL, DESIGN §10) are
not copied into the read model, so erasing a person's key in the event store
leaves no readable copy here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow

from domain.topic import TOPIC_EVENTS, Topic
from domain.units import UnitDirectory
from projections.base import View
from projections.bulk import array_params, schema_statements, unnest_of
from projections.columns import columns_of, create_table, sql
from projections.envelope import Envelope

PERSONAL_FIELDS = frozenset({"submitter"})
CREATED = Topic.TopicSubmitted.__name__
# Every topic event is a line of the timeline, as it is (the lifecycle test checks
# that this stays every one): nothing is ignored.
HANDLED: frozenset[type[Aggregate.Event]] = frozenset(TOPIC_EVENTS.values())
IGNORED: frozenset[type[Aggregate.Event]] = frozenset()


@dataclass(frozen=True, slots=True)
class EventRow:
    """One `timeline_events` row; its fields are the table's columns (declared once)."""

    topic_id: str = field(metadata=sql("text NOT NULL"))
    version: int = field(metadata=sql("int NOT NULL"))
    position: int = field(metadata=sql("bigint NOT NULL"))
    type: str = field(metadata=sql("text NOT NULL"))
    occurred_at: datetime = field(metadata=sql("timestamptz NOT NULL"))
    actor_user: str = field(metadata=sql("text NOT NULL"))
    actor_unit: str = field(metadata=sql("text NOT NULL"))
    actor_role: str = field(metadata=sql("text NOT NULL"))
    reason: str | None = field(metadata=sql("text"))
    data: dict[str, Any] = field(metadata=sql("jsonb NOT NULL"))


EVENT_COLUMNS = columns_of(EventRow)
EVENT_TYPES = tuple(c.travel for c in EVENT_COLUMNS)
EVENT_NAMES = ", ".join(c.name for c in EVENT_COLUMNS)


def public_data(e: Envelope) -> dict[str, Any]:
    """The event's fields without personal data."""
    return {k: v for k, v in e.data.items() if k not in PERSONAL_FIELDS}


class TimelineView(View):
    """`timeline_events`: the full decision history of each topic."""

    name = "timeline"
    tables = ("timeline_events",)
    DDL = (create_table("timeline_events", EVENT_COLUMNS, "topic_id, version"),)
    STATEMENTS: ClassVar[dict[str, str]] = {
        "known": (
            "SELECT topic_id FROM {schema}.timeline_events WHERE topic_id = ANY(%s) AND version = 1"
        ),
        "insert": (
            f"INSERT INTO {{schema}}.timeline_events ({EVENT_NAMES}) SELECT * FROM "
            + unnest_of(EVENT_TYPES)
            + " ON CONFLICT (topic_id, version) DO NOTHING"
        ),
    }

    def __init__(self, datastore: PostgresDatastore, units: UnitDirectory) -> None:
        super().__init__(datastore, units)
        self.sql = schema_statements(self, self.STATEMENTS)

    def apply(self, curs: Cursor[DictRow], envelopes: Sequence[Envelope]) -> None:
        events = [e for e in envelopes if e.is_topic_event]
        if not events:
            return
        known = {e.topic_id for e in events if e.type == CREATED}
        curs.execute(self.sql["known"], (sorted({e.topic_id for e in events} - known),))
        known.update(row["topic_id"] for row in curs.fetchall())
        events = [e for e in events if e.topic_id in known]
        if not events:
            return
        rows = [
            (
                e.topic_id,
                e.version,
                e.position,
                e.type,
                e.occurred_at,
                e.actor.get("user_id", ""),
                e.actor.get("unit", ""),
                e.actor.get("role", ""),
                e.reason,
                public_data(e),
            )
            for e in events
        ]
        curs.execute(self.sql["insert"], array_params(rows, EVENT_TYPES))
