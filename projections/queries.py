"""The read API as the protocols ask it: one import for GraphQL, REST and the console.

This module owns nothing: each read model answers its own questions in its package
(`projections.topics.queries`, `projections.stats.queries`,
`projections.timeline.queries`, `projections.units.queries`), shared paging is
`projections.paging`. Every function takes the viewer's unit and applies
visibility inside its SQL; a topic a viewer may not see is indistinguishable from
one that does not exist.
"""

from projections.paging import MAX_FIRST, Page
from projections.stats.queries import Count, MonthRow, Rates, StatsRow, rates, stats
from projections.timeline.queries import timeline_page
from projections.timeline.view import EventRow
from projections.topics.queries import (
    VISIBLE,
    Scope,
    cross_level_page,
    inbox_page,
    topic,
    topics_page,
)
from projections.topics.rows import (
    HopRow,
    InboxRow,
    MeetingRow,
    ParticipantRow,
    ReturnVisitRow,
    TaskRow,
    TopicRow,
    TransferRow,
    summary_topic,
    topic_row,
)
from projections.units.queries import UnitRow, unit_in_sight, units_by_code, units_page

__all__ = [
    "MAX_FIRST",
    "VISIBLE",
    "Count",
    "EventRow",
    "HopRow",
    "InboxRow",
    "MeetingRow",
    "MonthRow",
    "Page",
    "ParticipantRow",
    "Rates",
    "ReturnVisitRow",
    "Scope",
    "StatsRow",
    "TaskRow",
    "TopicRow",
    "TransferRow",
    "UnitRow",
    "cross_level_page",
    "inbox_page",
    "rates",
    "stats",
    "summary_topic",
    "timeline_page",
    "topic",
    "topic_row",
    "topics_page",
    "unit_in_sight",
    "units_by_code",
    "units_page",
]
