"""The timeline read model: `view` (`timeline_events`, one row per topic event,
columns declared once on `EventRow`) and `queries` (a topic's events, paged)."""

from projections.timeline.view import EventRow, TimelineView

__all__ = ["EventRow", "TimelineView"]
