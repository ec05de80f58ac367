"""The contract's object types, each built from a read-model row.

A `Topic` wraps a `TopicRow` (from the read model, or replayed for `asOf` or right
after a command); units are resolved through the request's DataLoader, so a page
of topics costs one units statement however many units it names.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.graphql.context import Context
from api.ids import global_id
from domain import topic as domain
from domain.errors import NotFoundError
from domain.units import Level as DomainLevel
from projections import queries
from projections.queries import (
    EventRow,
    HopRow,
    InboxRow,
    MeetingRow,
    Page,
    ReturnVisitRow,
    StatsRow,
    TaskRow,
    TopicRow,
    TransferRow,
    UnitRow,
)

# The domain's enums are the contract's (same names): registered as GraphQL enums in
# place, so annotations name the domain classes themselves.
Level = DomainLevel
Stage = domain.Stage
Source = domain.Source
TransferKind = domain.TransferKind
TaskStatus = domain.TaskStatus
Satisfaction = domain.Satisfaction
ParticipantKind = domain.ParticipantKind
Role = domain.Role
for _enum in (Level, Stage, Source, TransferKind, TaskStatus, Satisfaction, ParticipantKind, Role):
    strawberry.enum(_enum)

Ctx = Info[Context, None]
DAY_SECONDS = 86_400.0


@strawberry.enum
class Scope(Enum):
    OWNED = "OWNED"
    SUBTREE = "SUBTREE"
    INVOLVED = "INVOLVED"


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def page_info(page: Page[Any]) -> PageInfo:
    return PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)


# -- units ---------------------------------------------------------------------------


@strawberry.type
class Unit(Node):
    row: strawberry.Private[UnitRow]

    @strawberry.field
    def code(self) -> str:
        return self.row.code

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def level(self) -> Level:
        return DomainLevel(self.row.level) if self.row.level else DomainLevel.VILLAGE

    @strawberry.field(description="Retired by a hierarchy import (kept for history).")
    def retired(self) -> bool:
        return self.row.retired

    @strawberry.field
    async def parent(self, info: Ctx) -> Unit | None:
        if self.row.parent is None:
            return None
        return Unit.of(await info.context.unit(self.row.parent))

    @strawberry.field(description="Province first.")
    async def ancestors(self, info: Ctx) -> list[Unit]:
        rows = await info.context.units.load_many(list(self.row.path[:-1]))
        return [Unit.of(r) for r in rows if r is not None]

    @strawberry.field(description="Only the children in the viewer's sight.")
    async def children(
        self, info: Ctx, first: int = 100, after: str | None = None
    ) -> UnitConnection:
        viewer = info.context.viewer.unit
        code = self.row.code
        try:
            page = await info.context.db(
                lambda conn: queries.units_page(conn, viewer, parent=code, first=first, after=after)
            )
        except NotFoundError:  # a unit out of sight, named by a visible topic
            return UnitConnection(
                edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None), total_count=0
            )
        return UnitConnection.of(page)

    @classmethod
    def of(cls, row: UnitRow) -> Unit:
        return cls(id=strawberry.ID(global_id("Unit", row.code)), row=row)


@strawberry.type
class UnitEdge:
    node: Unit
    cursor: str


@strawberry.type
class UnitConnection:
    edges: list[UnitEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def of(cls, page: Page[UnitRow]) -> UnitConnection:
        edges = [
            UnitEdge(node=Unit.of(r), cursor=c)
            for r, c in zip(page.items, page.cursors, strict=True)
        ]
        return cls(edges=edges, page_info=page_info(page), total_count=page.total_count or 0)


async def unit_field(info: Ctx, code: str) -> Unit:
    return Unit.of(await info.context.unit(code))


# -- the parts of a topic ----------------------------------------------------------------


@strawberry.type
class Viewer:
    user_id: str
    unit: Unit
    roles: list[Role]


@strawberry.type
class Transfer:
    row: strawberry.Private[TransferRow]

    @strawberry.field
    def kind(self) -> TransferKind:
        return domain.TransferKind(self.row.kind)

    @strawberry.field
    async def from_unit(self, info: Ctx) -> Unit:
        return await unit_field(info, self.row.from_unit)

    @strawberry.field
    async def to_unit(self, info: Ctx) -> Unit:
        return await unit_field(info, self.row.to_unit)

    @strawberry.field
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field
    def requested_at(self) -> datetime:
        return self.row.requested_at

    @strawberry.field
    def due(self) -> datetime | None:
        return self.row.due

    @strawberry.field(description="An escalation past the parent (needs a reason).")
    def skip_level(self) -> bool:
        return self.row.skip_level


@strawberry.type
class Hop:
    row: strawberry.Private[HopRow]
    until: strawberry.Private[datetime]

    @strawberry.field
    async def unit(self, info: Ctx) -> Unit:
        return await unit_field(info, self.row.unit)

    @strawberry.field
    def entered_at(self) -> datetime:
        return self.row.entered_at

    @strawberry.field
    def left_at(self) -> datetime | None:
        return self.row.left_at

    @strawberry.field
    def via(self) -> TransferKind | None:
        return None if self.row.via is None else domain.TransferKind(self.row.via)

    @strawberry.field
    def reason(self) -> str | None:
        return self.row.reason

    @strawberry.field(description="Days this unit held the topic (so far, if it still does).")
    def days(self) -> float:
        end = self.row.left_at or self.until
        return max(round((end - self.row.entered_at).total_seconds() / DAY_SECONDS, 2), 0.0)


@strawberry.type
class Task:
    row: strawberry.Private[TaskRow]
    now: strawberry.Private[datetime]

    @strawberry.field
    def task_id(self) -> str:
        return self.row.task_id

    @strawberry.field
    async def handler_unit(self, info: Ctx) -> Unit:
        return await unit_field(info, self.row.handler_unit)

    @strawberry.field
    def handler(self) -> str:
        return self.row.handler

    @strawberry.field
    def requirement(self) -> str:
        return self.row.requirement

    @strawberry.field
    def due(self) -> datetime:
        return self.row.due

    @strawberry.field
    def status(self) -> TaskStatus:
        return domain.TaskStatus(self.row.status)

    @strawberry.field
    def assigned_at(self) -> datetime:
        return self.row.assigned_at

    @strawberry.field
    def signed_at(self) -> datetime | None:
        return self.row.signed_at

    @strawberry.field
    def completed_at(self) -> datetime | None:
        return self.row.completed_at

    @strawberry.field
    def result(self) -> str | None:
        return self.row.result

    @strawberry.field
    def supervisions(self) -> int:
        return self.row.supervisions

    @strawberry.field
    def extensions(self) -> int:
        return self.row.extensions

    @strawberry.field
    def overdue(self) -> bool:
        return self.row.overdue(self.now)


@strawberry.type
class Participant:
    name: str
    kind: ParticipantKind
    member_id: str | None


@strawberry.type
class Meeting:
    row: strawberry.Private[MeetingRow]

    @strawberry.field
    def meeting_id(self) -> str:
        return self.row.meeting_id

    @strawberry.field
    def scheduled_at(self) -> datetime:
        return self.row.scheduled_at

    @strawberry.field
    def place(self) -> str:
        return self.row.place

    @strawberry.field
    def format(self) -> str:
        return self.row.format

    @strawberry.field
    def participants(self) -> list[Participant]:
        return [
            Participant(name=p.name, kind=domain.ParticipantKind(p.kind), member_id=p.member_id)
            for p in self.row.participants
        ]

    @strawberry.field
    def held_at(self) -> datetime | None:
        return self.row.held_at

    @strawberry.field
    def attendance(self) -> list[str]:
        return list(self.row.attendance)

    @strawberry.field
    def minutes(self) -> str | None:
        return self.row.minutes

    @strawberry.field
    def recommendations(self) -> list[str]:
        return list(self.row.recommendations)


@strawberry.type
class ReturnVisit:
    row: strawberry.Private[ReturnVisitRow]

    @strawberry.field
    def contacted(self) -> bool:
        return self.row.contacted

    @strawberry.field
    def solved(self) -> bool:
        return self.row.solved

    @strawberry.field
    def satisfaction(self) -> Satisfaction:
        return domain.Satisfaction(self.row.satisfaction)

    @strawberry.field
    def comment(self) -> str | None:
        return self.row.comment

    @strawberry.field
    def visited_at(self) -> datetime:
        return self.row.visited_at


# -- events --------------------------------------------------------------------------


@strawberry.type
class Actor:
    user_id: str
    role: Role
    unit_code: strawberry.Private[str]

    @strawberry.field
    async def unit(self, info: Ctx) -> Unit:
        return await unit_field(info, self.unit_code)


@strawberry.type
class Event:
    row: strawberry.Private[EventRow]

    @strawberry.field
    def position(self) -> int:
        return self.row.position

    @strawberry.field
    def version(self) -> int:
        return self.row.version

    @strawberry.field
    def type(self) -> str:
        return self.row.type

    @strawberry.field
    def occurred_at(self) -> datetime:
        return self.row.occurred_at

    @strawberry.field
    def actor(self) -> Actor:
        role = self.row.actor_role
        return Actor(
            user_id=self.row.actor_user,
            role=domain.Role(role) if role in domain.Role.__members__ else domain.Role.STAFF,
            unit_code=self.row.actor_unit,
        )

    @strawberry.field
    def reason(self) -> str | None:
        return self.row.reason

    @strawberry.field  # TopicSubmitted's `submitter`: see api.personal for who reads it
    async def data(self, info: Ctx) -> JSON:
        if self.row.type != "TopicSubmitted":
            return cast(JSON, self.row.data)
        submitter = await info.context.submitter(self.row.topic_id)
        return cast(JSON, {**self.row.data, "submitter": submitter})


@strawberry.type
class EventEdge:
    node: Event
    cursor: str


@strawberry.type
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def of(cls, page: Page[EventRow]) -> EventConnection:
        edges = [
            EventEdge(node=Event(row=r), cursor=c)
            for r, c in zip(page.items, page.cursors, strict=True)
        ]
        return cls(edges=edges, page_info=page_info(page), total_count=page.total_count or 0)


# -- the topic -------------------------------------------------------------------------


@strawberry.type
class Topic(Node):
    row: strawberry.Private[TopicRow]
    now: strawberry.Private[datetime]
    as_of_time: strawberry.Private[datetime | None] = None

    @classmethod
    def of(cls, row: TopicRow, now: datetime, as_of: datetime | None = None) -> Topic:
        return cls(
            id=strawberry.ID(global_id("Topic", row.topic_id)),
            row=row,
            now=as_of or now,
            as_of_time=as_of,
        )

    @strawberry.field(description="The aggregate's UUID.")
    def topic_id(self) -> str:
        return self.row.topic_id

    @strawberry.field
    def title(self) -> str:
        return self.row.title

    @strawberry.field
    def description(self) -> str:
        return self.row.description

    @strawberry.field
    def category(self) -> str:
        return self.row.category

    @strawberry.field
    def source(self) -> Source:
        return domain.Source(self.row.source)

    @strawberry.field
    def stage(self) -> Stage:
        return domain.Stage(self.row.stage)

    @strawberry.field
    async def location_unit(self, info: Ctx) -> Unit:
        return await unit_field(info, self.row.location)

    @strawberry.field
    async def owner(self, info: Ctx) -> Unit:
        return await unit_field(info, self.row.owner)

    @strawberry.field
    def pending_transfer(self) -> Transfer | None:
        return None if self.row.pending is None else Transfer(row=self.row.pending)

    @strawberry.field
    async def co_organizers(self, info: Ctx) -> list[Unit]:
        rows = await info.context.units.load_many(list(self.row.co_organizers))
        return [Unit.of(r) for r in rows if r is not None]

    @strawberry.field(description="Every unit that held it, in order.")
    def route(self) -> list[Hop]:
        until = self.row.closed_at or self.now
        return [Hop(row=h, until=until) for h in self.row.route]

    @strawberry.field(description="Whether it changed level on its way.")
    def cross_level(self) -> bool:
        return self.row.cross_level

    @strawberry.field
    def tasks(self) -> list[Task]:
        return [Task(row=t, now=self.now) for t in self.row.tasks]

    @strawberry.field
    def meetings(self) -> list[Meeting]:
        return [Meeting(row=m) for m in self.row.meetings]

    @strawberry.field
    def feedback(self) -> str | None:
        return self.row.feedback

    @strawberry.field
    def return_visits(self) -> list[ReturnVisit]:
        return [ReturnVisit(row=v) for v in self.row.return_visits]

    @strawberry.field(description="Returned transfers (ping-pong).")
    def returns(self) -> int:
        return self.row.returns

    @strawberry.field(description="Times reopened after an unsatisfied visit.")
    def reopened(self) -> int:
        return self.row.reopened

    @strawberry.field
    def merged_into(self) -> str | None:
        return self.row.merged_into

    @strawberry.field
    def overdue(self) -> bool:
        return self.row.overdue(self.now)

    @strawberry.field
    def version(self) -> int:
        return self.row.version

    @strawberry.field
    def submitted_at(self) -> datetime:
        return self.row.submitted_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field
    def closed_at(self) -> datetime | None:
        return self.row.closed_at

    @strawberry.field(description="Set when the topic was reconstructed for a past instant.")
    def as_of(self) -> datetime | None:
        return self.as_of_time

    @strawberry.field
    async def timeline(
        self, info: Ctx, first: int = 50, after: str | None = None
    ) -> EventConnection:
        viewer = info.context.viewer.unit
        topic_id, version = self.row.topic_id, self.row.version
        page = await info.context.db(
            lambda conn: queries.timeline_page(
                conn, viewer, topic_id, first=first, after=after, until_version=version
            )
        )
        return EventConnection.of(page)


@strawberry.type
class TopicEdge:
    node: Topic
    cursor: str


@strawberry.type
class TopicConnection:
    edges: list[TopicEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def of(cls, page: Page[TopicRow], now: datetime) -> TopicConnection:
        edges = [
            TopicEdge(node=Topic.of(r, now), cursor=c)
            for r, c in zip(page.items, page.cursors, strict=True)
        ]
        return cls(edges=edges, page_info=page_info(page), total_count=page.total_count or 0)


@strawberry.type
class InboxItem:
    row: strawberry.Private[InboxRow]
    now: strawberry.Private[datetime]

    @strawberry.field
    def topic(self) -> Topic:
        return Topic.of(self.row.topic, self.now)

    @strawberry.field(description="OWNED | TRANSFER_PENDING | TASK_TO_SIGN | TASK_TO_COMPLETE")
    def reason(self) -> str:
        return self.row.item

    @strawberry.field
    def task_id(self) -> str | None:
        return self.row.task_id or None

    @strawberry.field
    def due(self) -> datetime | None:
        return self.row.due

    @strawberry.field
    def since(self) -> datetime:
        return self.row.since

    @strawberry.field
    def overdue(self) -> bool:
        return self.row.overdue


@strawberry.type
class InboxEdge:
    node: InboxItem
    cursor: str


@strawberry.type
class InboxConnection:
    edges: list[InboxEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def of(cls, page: Page[InboxRow], now: datetime) -> InboxConnection:
        edges = [
            InboxEdge(node=InboxItem(row=r, now=now), cursor=c)
            for r, c in zip(page.items, page.cursors, strict=True)
        ]
        return cls(edges=edges, page_info=page_info(page), total_count=page.total_count or 0)


# -- statistics ----------------------------------------------------------------------


@strawberry.type
class Count:
    key: str
    count: int


@strawberry.type
class MonthStats:
    month: str
    submitted: int
    closed: int
    visits: int
    satisfaction_rate: float | None
    response_rate: float | None
    resolution_rate: float | None
    on_time_sign_rate: float | None = strawberry.field(description="及时签收率")
    on_time_completion_rate: float | None = strawberry.field(description="按时办结率")
    return_rate: float | None = strawberry.field(description="退单率")
    redo_rate: float | None = strawberry.field(description="重办率")


@strawberry.type
class Stats:
    row: strawberry.Private[StatsRow]

    @strawberry.field
    async def unit(self, info: Ctx) -> Unit:
        return await unit_field(info, self.row.unit)

    @strawberry.field
    def total(self) -> int:
        return self.row.total

    @strawberry.field
    def open(self) -> int:
        return self.row.open

    @strawberry.field
    def closed(self) -> int:
        return self.row.closed

    @strawberry.field
    def overdue(self) -> int:
        return self.row.overdue

    @strawberry.field
    def by_stage(self) -> list[Count]:
        return [Count(key=c.key, count=c.count) for c in self.row.by_stage]

    @strawberry.field
    def by_category(self) -> list[Count]:
        return [Count(key=c.key, count=c.count) for c in self.row.by_category]

    @strawberry.field
    def by_source(self) -> list[Count]:
        return [Count(key=c.key, count=c.count) for c in self.row.by_source]

    @strawberry.field
    def median_days_to_close(self) -> float | None:
        return self.row.median_days_to_close

    @strawberry.field(description="响应率 = contacted / visits")
    def response_rate(self) -> float | None:
        return self.row.rates.response_rate

    @strawberry.field(description="解决率 = solved / visits")
    def resolution_rate(self) -> float | None:
        return self.row.rates.resolution_rate

    @strawberry.field(description="满意率 = (satisfied + 0.9 × basically satisfied) / visits")
    def satisfaction_rate(self) -> float | None:
        return self.row.rates.satisfaction_rate

    @strawberry.field(description="及时签收率")
    def on_time_sign_rate(self) -> float | None:
        return self.row.rates.on_time_sign_rate

    @strawberry.field(description="按时办结率")
    def on_time_completion_rate(self) -> float | None:
        return self.row.rates.on_time_completion_rate

    @strawberry.field(description="退单率 = returned transfers / transfers")
    def return_rate(self) -> float | None:
        return self.row.rates.return_rate

    @strawberry.field(description="重办率 = reopened / closed")
    def redo_rate(self) -> float | None:
        return self.row.rates.redo_rate

    @strawberry.field(description="Valid return visits: the sample of the visit rates.")
    def visits(self) -> int:
        return self.row.visits

    @strawberry.field
    def transfers(self) -> int:
        return self.row.transfers

    @strawberry.field(description="Returned transfers (ping-pong).")
    def returns(self) -> int:
        return self.row.returns

    @strawberry.field(description="Whether the sample reaches the ranking minimum.")
    def ranked(self) -> bool:
        return self.row.ranked

    @strawberry.field(description="One per child unit.")
    def children(self) -> list[Stats]:
        return [Stats(row=c) for c in self.row.children]

    @strawberry.field(description="Children with enough visits, best 满意率 first.")
    def ranking(self) -> list[Stats]:
        return [Stats(row=c) for c in self.row.ranking]

    @strawberry.field
    def months(self) -> list[MonthStats]:
        return [
            MonthStats(
                month=m.month,
                submitted=m.submitted,
                closed=m.closed,
                visits=m.visits,
                satisfaction_rate=m.rates.satisfaction_rate,
                response_rate=m.rates.response_rate,
                resolution_rate=m.rates.resolution_rate,
                on_time_sign_rate=m.rates.on_time_sign_rate,
                on_time_completion_rate=m.rates.on_time_completion_rate,
                return_rate=m.rates.return_rate,
                redo_rate=m.rates.redo_rate,
            )
            for m in self.row.months
        ]


@strawberry.type
class TopicPayload:
    """The topic after the command and the store position it reached."""

    position: int
    created_id: str | None = strawberry.field(description="A new meetingId or taskId.")
    duplicate: bool = strawberry.field(
        description="A re-submission with a known externalRef: nothing was recorded."
    )
    topic_uuid: strawberry.Private[uuid.UUID]
    topic_version: strawberry.Private[int | None] = None

    @strawberry.field(
        description="Replayed from the event store: exactly as the command left it; "
        "null when the caller cannot see the topic (the same rule as `topic(id)`)."
    )
    async def topic(self, info: Ctx) -> Topic | None:
        # up to the command's own version: a later command must not show through
        row = await info.context.replayed_topic(self.topic_uuid, self.topic_version)
        return None if row is None else Topic.of(row, info.context.now)
