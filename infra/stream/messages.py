"""The Kafka message of one event (DESIGN §7), both ways.

Key: the topic id (so one topic's events stay in one partition, in order).
Value: UTF-8 JSON `{"position", "topic_id", "version", "type", "occurred_at",
"actor": {"user_id", "unit", "role"}, "unit_path": [province … owner], "data"}`.
Headers: `type` and `schema_version`. Any Kafka client can read it; the
projector turns it back into the `Envelope` the read models apply, so the same
projection code runs in both modes. The AsyncAPI document (`api/asyncapi.yaml`)
describes exactly this, and is generated from the same event classes.
"""

from __future__ import annotations

import json
import typing
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from eventsourcing.domain import Aggregate

from domain.application import BASE_FIELDS
from domain.topic import Topic
from domain.units import UnitImport
from projections.envelope import Envelope
from projections.units import CachedUnitDirectory

SCHEMA_VERSION = "1"
ENVELOPE_FIELDS = (
    "position",
    "topic_id",
    "version",
    "type",
    "occurred_at",
    "actor",
    "unit_path",
    "data",
)


class MessageError(ValueError):
    """A message that is not a Linkage event envelope; the text says what is wrong."""


def event_classes() -> dict[str, type[Aggregate.Event]]:
    """Every event type of the stream by contract name (topic events, then hierarchy)."""
    found: dict[str, type[Aggregate.Event]] = {}
    for owner in (Topic, UnitImport):
        for name, value in vars(owner).items():
            is_event = isinstance(value, type) and issubclass(value, Aggregate.Event)
            if is_event and name not in {"Event", "Created"}:
                found[name] = value
    return found


def data_fields(cls: type[Aggregate.Event]) -> dict[str, Any]:
    """An event class's own fields (what goes in `data`) and their annotations."""
    hints = typing.get_type_hints(cls)
    return {
        name: hint
        for name, hint in hints.items()
        if name not in BASE_FIELDS
        and name != "actor"
        and typing.get_origin(hint) is not typing.ClassVar
    }


def _is_datetime(hint: Any) -> bool:
    return hint is datetime or datetime in typing.get_args(hint)


DATETIME_FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(f for f, hint in data_fields(cls).items() if _is_datetime(hint))
    for name, cls in event_classes().items()
}


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)  # UUIDs


def encode(e: Envelope, unit_path: list[str]) -> bytes:
    """The message value of one envelope."""
    body = {
        "position": e.position,
        "topic_id": e.topic_id,
        "version": e.version,
        "type": e.type,
        "occurred_at": e.occurred_at.isoformat(),
        "actor": e.actor,
        "unit_path": unit_path,
        "data": e.data,
    }
    return json.dumps(
        body, ensure_ascii=False, separators=(",", ":"), default=_json_default
    ).encode()


def headers(e: Envelope) -> list[tuple[str, bytes]]:
    return [("type", e.type.encode()), ("schema_version", SCHEMA_VERSION.encode())]


def decode(value: bytes) -> Envelope:
    """The envelope a message carries (datetimes restored as the event classes declare)."""
    try:
        body = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"the message is not UTF-8 JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MessageError(f"the message is a JSON {type(body).__name__}, not an object")
    missing = [k for k in ENVELOPE_FIELDS if k not in body]
    if missing:
        raise MessageError(f"the message lacks {', '.join(missing)}")
    kind = body["type"]
    if kind not in DATETIME_FIELDS:
        raise MessageError(f"unknown event type {kind!r}")
    data = dict(body["data"])
    try:
        for name in DATETIME_FIELDS[kind]:
            if isinstance(data.get(name), str):
                data[name] = datetime.fromisoformat(data[name])
        occurred_at = datetime.fromisoformat(body["occurred_at"])
        return Envelope(
            position=int(body["position"]),
            topic_id=str(body["topic_id"]),
            version=int(body["version"]),
            type=kind,
            occurred_at=occurred_at,
            actor={str(k): str(v) for k, v in dict(body["actor"]).items()},
            data=data,
        )
    except (TypeError, ValueError) as exc:
        raise MessageError(f"malformed {kind} message: {exc}") from None


# -- the owner's path, for `unit_path` -------------------------------------------------

OWNER_MOVES = frozenset({"TransferAccepted", "TopicTakenOver"})  # events whose to_unit owns


class OwnerPaths:
    """`unit_path` of each event: the chain from the province to the topic's owner
    after the event. Owners are remembered for the most recent topics only (memory
    stays flat in store size); a topic not remembered asks `owner_before` (the
    store) once."""

    def __init__(
        self,
        units: CachedUnitDirectory,
        owner_before: Callable[[str, int], str | None],
        capacity: int = 200_000,
    ) -> None:
        self.units = units
        self.owner_before = owner_before
        self.capacity = capacity
        self._owners: OrderedDict[str, tuple[int, str]] = OrderedDict()

    def preload(self, envelopes: Sequence[Envelope]) -> None:
        """Fetch the units a batch will name in one query, not one per unit."""
        codes = {known for _, known in self._owners.values()} if len(self._owners) < 5000 else set()
        for e in envelopes:
            for key in ("location", "to_unit"):
                value = e.data.get(key)
                if isinstance(value, str):
                    codes.add(value)
        self.units.preload(codes)

    def after(self, e: Envelope) -> list[str]:
        if not e.is_topic_event:
            return []
        owner = self._owner_after(e)
        if owner is None:
            return []
        self._owners[e.topic_id] = (e.version, owner)
        self._owners.move_to_end(e.topic_id)
        while len(self._owners) > self.capacity:
            self._owners.popitem(last=False)
        unit = self.units.get(owner)
        return list(unit.path) if unit is not None else [owner]

    def _owner_after(self, e: Envelope) -> str | None:
        if e.type == "TopicSubmitted":
            return str(e.data["location"])
        if e.type in OWNER_MOVES:
            return str(e.data["to_unit"])
        known = self._owners.get(e.topic_id)
        if known is not None and known[0] == e.version - 1:
            return known[1]
        return self.owner_before(e.topic_id, e.version)

    def forget(self) -> None:
        """After a failed publish the batch is read again: start from the store."""
        self._owners.clear()
