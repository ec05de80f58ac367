"""The event as every read model and the Kafka stream see it (DESIGN §7).

An `Envelope` is independent of eventsourcing's classes: the in-process runner
builds it from the notification log, the Kafka consumer from the JSON message, and
the projection code is the same under both.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from eventsourcing.domain import Aggregate, DomainEventProtocol

from domain.application import REASON_FIELDS, event_data, event_type
from domain.lifecycle import event_classes
from domain.plan import PLAN_EVENT_TYPES
from domain.units import UnitImport

# The hierarchy's events share the log with the topics' events.
UNIT_EVENT_TYPES = frozenset(cls.__name__ for cls in event_classes(UnitImport))


@dataclass(frozen=True, slots=True)
class Envelope:
    position: int
    topic_id: str  # the originator id (a topic's UUID, or a unit import's)
    version: int
    type: str  # the contract event name, e.g. "EscalationRequested"
    occurred_at: datetime
    actor: dict[str, str]
    data: dict[str, Any]  # the event's own fields (datetimes stay datetimes)

    @property
    def is_topic_event(self) -> bool:
        return self.type not in UNIT_EVENT_TYPES and self.type not in PLAN_EVENT_TYPES

    @property
    def reason(self) -> str | None:
        for key in REASON_FIELDS:
            value = self.data.get(key)
            if value:
                return str(value)
        return None


def envelope(event: DomainEventProtocol[Any], position: int) -> Envelope:
    data = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in event_data(event).items()}
    return Envelope(
        position=position,
        topic_id=str(event.originator_id),
        version=event.originator_version,
        type=event_type(event),
        occurred_at=cast(Aggregate.Event, event).timestamp,
        actor=dict(getattr(event, "actor", None) or {}),
        data=data,
    )
