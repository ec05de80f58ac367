"""What a topic's events do to its lifecycle, stated once for the aggregate and the views.

`domain.topic.LIFECYCLE` gives each event class of `Topic` one `Lifecycle`: the
stage it enters, the field naming a new owner, what it does to a pending transfer,
to deadlines and to who is involved. `Topic` applies the generic part (stage, the
end of a terminal topic, a pending transfer that ends) in `Topic.Event.mutate`
after the event's own `apply`; the read models (`projections.topics`,
`projections.stats`) read the same table instead of restating it, and
`tests/unit/test_lifecycle.py` checks that every view handles or explicitly
ignores every event class.

The rules below (who is involved, the earliest open deadline, overdue) are
functions of plain values so that the aggregate and the read models, which hold
the same facts in different shapes, compute them by the same code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from eventsourcing.domain import Aggregate

if TYPE_CHECKING:
    from domain.topic import Stage


class Change(StrEnum):
    """What an event does to a pending transfer or to a deadline."""

    OPENS = "OPENS"  # a transfer requested / a task's due set
    MOVES = "MOVES"  # a task's due moved (extension)
    ENDS = "ENDS"  # the transfer decided or lapsed / the task completed


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The effect of one event class on a topic's lifecycle.

    * `stage` — the stage the topic enters (None: unchanged); a terminal stage
      ends the topic: `closed_at` is set, no deadline is open, nothing is in an inbox;
    * `owner` — the event field naming the new owner: the route gains a hop, the
      previous holder's involvement ends (it keeps read-only sight);
    * `pending` — OPENS a transfer (its target is involved while it waits; a
      delegation's `due` is a deadline) or ENDS it (accepted, returned, cancelled,
      lapsed by a takeover or a withdrawal);
    * `deadline` — a task's due OPENS (`due`), MOVES (`new_due`) or ENDS (completed);
    * `involves` — the event field naming a unit involved from now on;
    * `ends_involvement` — the event ends some unit's involvement off the route
      (the target that returned a transfer; a merged topic's location and owner).
    """

    stage: Stage | None = None
    owner: str | None = None
    pending: Change | None = None
    deadline: Change | None = None
    involves: str | None = None
    ends_involvement: bool = False


def event_classes(aggregate: type[Aggregate]) -> tuple[type[Aggregate.Event], ...]:
    """Every event class an aggregate declares, in declaration order (not the
    `Event` and `Created` bases eventsourcing gives each aggregate)."""
    bases = {getattr(aggregate, "Event", None), getattr(aggregate, "Created", None)}
    return tuple(
        v
        for v in vars(aggregate).values()
        if isinstance(v, type) and issubclass(v, Aggregate.Event) and v not in bases
    )


def involvement(
    owner: str,
    co_organizers: Iterable[str],
    handler_units: Iterable[str],
    pending_target: str | None,
    route_units: Iterable[str],
    past_units: Iterable[str],
) -> tuple[set[str], set[str]]:
    """(current, ended): the units taking part now besides the subtrees (the holder,
    co-organisers, task handlers, a pending transfer's target), and those whose
    involvement ended (every unit on the route, each unit that returned a transfer,
    the location and owner of each topic merged into this one; a unit may be both).
    """
    current = {owner, *co_organizers, *handler_units}
    if pending_target:
        current.add(pending_target)
    return current, {*route_units, *past_units}


def open_deadline(
    terminal: bool, open_task_dues: Iterable[datetime | None], pending_due: datetime | None
) -> datetime | None:
    """The earliest open deadline (an open task's due, a pending delegation's due);
    None once the topic is terminal."""
    if terminal:
        return None
    dues = [d for d in (*open_task_dues, pending_due) if d is not None]
    return min(dues, default=None)


def is_overdue(deadline: datetime | None, now: datetime) -> bool:
    """Derived at read time, never stored: an open deadline has passed."""
    return deadline is not None and deadline < now


def task_overdue(due: datetime, completed_at: datetime | None, now: datetime) -> bool:
    """A task finished late, or still open past its due."""
    return (completed_at if completed_at is not None else now) > due
