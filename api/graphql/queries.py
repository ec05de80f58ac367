"""The contract's queries. Visibility is applied in the SQL of `projections.queries`
with the token's unit as the viewer; a topic outside it reads as missing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from api.commands import parse_topic_id
from api.graphql.plans import find_plan
from api.graphql.types import (
    Ctx,
    EventConnection,
    InboxConnection,
    Level,
    Node,
    Scope,
    Source,
    Stage,
    Stats,
    Topic,
    TopicConnection,
    Unit,
    UnitConnection,
    Viewer,
)
from api.ids import decode_global_id
from domain.clock import shown
from domain.errors import BadInputError
from domain.topic import check_items
from domain.units import Level as DomainLevel
from projections import queries

MAX_TEXT_FILTER = 200
MAX_STUCK_DAYS = 3650


@strawberry.input
class TopicFilter:
    scope: Scope | None = Scope.SUBTREE
    unit: str | None = strawberry.field(default=None, description="Defaults to the viewer's unit.")
    stage: list[Stage] | None = None
    category: str | None = None
    source: Source | None = None
    cross_level: bool | None = None
    overdue: bool | None = None
    text: str | None = None


@strawberry.type
class Query:
    @strawberry.field
    async def me(self, info: Ctx) -> Viewer:
        viewer = info.context.viewer
        unit = await info.context.unit(viewer.unit)
        return Viewer(user_id=viewer.user_id, unit=Unit.of(unit), roles=list(viewer.roles))

    @strawberry.field(description="A Topic or Unit by its global id (null if not in sight).")
    async def node(self, info: Ctx, id: strawberry.ID) -> Node | None:
        decoded = decode_global_id(str(id))
        if decoded is None:
            raise BadInputError("INVALID_ID", f"{str(id)!r} is not an id issued by this API")
        kind, key = decoded
        if kind == "Unit":
            return await find_unit(info, key)
        if kind == "ConsultationPlan":
            return await find_plan(info, key)
        return await find_topic(info, key)

    @strawberry.field(description="A unit in the viewer's subtree or above it.")
    async def unit(self, info: Ctx, code: str) -> Unit | None:
        return await find_unit(info, code)

    @strawberry.field(
        description="Children of `parent` (default the viewer's unit), or with `level` its "
        "descendants at that level."
    )
    async def units(
        self,
        info: Ctx,
        parent: str | None = None,
        level: Level | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> UnitConnection:
        viewer = info.context.viewer.unit
        depth = None if level is None else int(DomainLevel(level))
        page = await info.context.db(
            lambda conn: queries.units_page(
                conn, viewer, parent=parent, level=depth, first=first, after=after
            )
        )
        return UnitConnection.of(page)

    @strawberry.field(description="`id`: a global id or the topicId; null when not in sight.")
    async def topic(
        self,
        info: Ctx,
        id: strawberry.ID,
        as_of: datetime | None = None,
        consistent_with: int | None = None,
    ) -> Topic | None:
        return await find_topic(info, str(id), as_of, consistent_with)

    @strawberry.field
    async def topics(
        self,
        info: Ctx,
        filter: TopicFilter | None = None,
        first: int = 50,
        after: str | None = None,
        consistent_with: int | None = None,
    ) -> TopicConnection:
        ctx = info.context
        viewer = ctx.viewer.unit
        f = filter or TopicFilter()
        text = _bounded(f.text, "filter.text", MAX_TEXT_FILTER)
        await ctx.consistent(consistent_with)
        page = await ctx.db(
            lambda conn: queries.topics_page(
                conn,
                viewer,
                scope=(f.scope or Scope.SUBTREE).value,
                unit=f.unit,
                stages=[s.value for s in check_items(f.stage, "filter.stage")] if f.stage else None,
                category=_bounded(f.category, "filter.category", MAX_TEXT_FILTER),
                source=None if f.source is None else f.source.value,
                cross_level=f.cross_level,
                overdue=f.overdue,
                text=text,
                now=ctx.now,
                first=first,
                after=after,
            )
        )
        return TopicConnection.of(page, ctx.now)

    @strawberry.field(
        description="What the unit (default the viewer's) must act on, overdue first."
    )
    async def inbox(
        self,
        info: Ctx,
        unit: str | None = None,
        first: int = 50,
        after: str | None = None,
        consistent_with: int | None = None,
    ) -> InboxConnection:
        ctx = info.context
        viewer = ctx.viewer.unit
        await ctx.consistent(consistent_with)
        page = await ctx.db(
            lambda conn: queries.inbox_page(
                conn, viewer, unit=unit, now=ctx.now, first=first, after=after
            )
        )
        return InboxConnection.of(page, ctx.now)

    @strawberry.field(
        description="Topics in the unit's subtree that changed level; with `stuckDays`, only "
        "the open ones without any event for that many days."
    )
    async def cross_level_topics(
        self,
        info: Ctx,
        unit: str | None = None,
        first: int = 50,
        after: str | None = None,
        consistent_with: int | None = None,
        stuck_days: int | None = None,
    ) -> TopicConnection:
        ctx = info.context
        viewer = ctx.viewer.unit
        if stuck_days is not None and not 0 <= stuck_days <= MAX_STUCK_DAYS:
            raise BadInputError(
                "STUCK_DAYS_OUT_OF_RANGE",
                f"stuckDays is {stuck_days}; it must be 0 to {MAX_STUCK_DAYS}",
            )
        await ctx.consistent(consistent_with)
        page = await ctx.db(
            lambda conn: queries.cross_level_page(
                conn,
                viewer,
                unit=unit,
                stuck_days=stuck_days,
                now=ctx.now,
                first=first,
                after=after,
            )
        )
        return TopicConnection.of(page, ctx.now)

    @strawberry.field(
        description="Figures of the unit's subtree and of each child, over the months of "
        "[from, to] (China time)."
    )
    async def stats(
        self,
        info: Ctx,
        unit: str,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        consistent_with: int | None = None,
    ) -> Stats:
        ctx = info.context
        viewer = ctx.viewer.unit
        if from_ is not None and to is not None and from_ > to:
            raise BadInputError(
                "DATE_RANGE_INVERTED",
                f"from {shown(from_)} is after to {shown(to)}",
            )
        await ctx.consistent(consistent_with)
        row = await ctx.db(
            lambda conn: queries.stats(conn, viewer, unit, date_from=from_, date_to=to, now=ctx.now)
        )
        return Stats(row=row)

    @strawberry.field
    async def timeline(
        self,
        info: Ctx,
        topic_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
    ) -> EventConnection:
        ctx = info.context
        viewer = ctx.viewer.unit
        tid = str(parse_topic_id(str(topic_id), "topicId"))
        page = await ctx.db(
            lambda conn: queries.timeline_page(conn, viewer, tid, first=first, after=after)
        )
        return EventConnection.of(page)


async def find_unit(info: Ctx, code: str) -> Unit | None:
    viewer = info.context.viewer.unit
    row = await info.context.db(lambda conn: queries.unit_in_sight(conn, viewer, code))
    return None if row is None else Unit.of(row)


async def find_topic(
    info: Ctx, id: str, as_of: datetime | None = None, consistent_with: int | None = None
) -> Topic | None:
    """The topic if the viewer sees it (now); with `as_of`, as it stood then."""
    ctx = info.context
    viewer = ctx.viewer.unit
    topic_id = parse_topic_id(id, "id")
    await ctx.consistent(consistent_with)
    if as_of is not None:
        past = await ctx.topic_as_of(topic_id, as_of)
        return None if past is None else Topic.of(past, ctx.now, as_of=as_of)
    row = await ctx.db(lambda conn: queries.topic(conn, viewer, str(topic_id)))
    return None if row is None else Topic.of(row, ctx.now)


def _bounded(value: str | None, field: str, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise BadInputError(
            "TEXT_TOO_LONG", f"{field} has {len(value)} characters; at most {limit} are allowed"
        )
    return value
