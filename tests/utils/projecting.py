"""Feeding stored events to views directly, as the runner does, for read-model tests."""

from __future__ import annotations

from collections.abc import Sequence

from eventsourcing.persistence import Tracking

from infra.bootstrap import Runtime
from projections.base import View
from projections.envelope import Envelope, envelope


def stored_envelopes(runtime: Runtime) -> list[Envelope]:
    """Every event in the store, in position order, as the views receive them."""
    notifications = runtime.app.recorder.select_notifications(start=0, limit=10_000)
    return [envelope(runtime.app.mapper.to_domain_event(n), n.id) for n in notifications]


def project(
    runtime: Runtime, views: Sequence[View], batch_size: int | None = None
) -> list[Envelope]:
    """Create the views' tables and apply every stored event, one transaction per batch
    and view (tracking recorded with the writes); returns the envelopes applied."""
    envelopes = stored_envelopes(runtime)
    size = batch_size or len(envelopes) or 1
    for view in views:
        view.create_table()
        for start in range(0, len(envelopes), size):
            batch = envelopes[start : start + size]
            with view.datastore.transaction(commit=True) as curs:
                view.apply(curs, batch)
                view._insert_tracking(curs, Tracking(view.name, batch[-1].position))
    return envelopes
