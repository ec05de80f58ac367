"""The `plans` section of the contract: the annual consultation plan's types,
queries and mutations.

Reads come from the plans read model (projections.plans): an item's DONE is its
completion, or for a meeting kind (domain.plan.MEETING_KINDS) the first held
deliberation of a linked topic (the linked meeting, when the link names one);
overdue is derived at read time in China time. A plan is in sight when its unit
is (the viewer's subtree and its ancestors); any other reads as none. Commands run
through api.commands.CommandService like the topic commands; the payload's plan is
the read model's once it has applied the command.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import strawberry

from api.graphql.types import Actor, Ctx, Node, Role, Topic, Unit, unit_field
from api.ids import global_id
from domain import plan as domain
from domain.errors import NotFoundError
from domain.plan_commands import (
    AddPlanItem,
    AdjustPlanItem,
    AnyPlanCommand,
    ApprovePlan,
    CancelPlanItem,
    CompletePlanItem,
    DraftPlan,
    LinkPlanItem,
    SubmitPlan,
)
from projections import queries
from projections.plans import queries as plan_queries

# The domain's enums are the contract's (same names), registered in place.
PlanKind = domain.PlanKind
PlanState = domain.PlanState
PlanItemState = domain.PlanItemState
for _enum in (PlanKind, PlanState, PlanItemState):
    strawberry.enum(_enum)


@strawberry.type
class PlanAdjustment:
    change: str
    reason: str
    actor: Actor
    at: datetime


@strawberry.type
class PlanProgress:
    kind: PlanKind
    planned: int
    done: int


@strawberry.type
class PlanItem:
    item_id: str
    kind: PlanKind
    title: str
    lead_leader: str | None
    lead_committee: str | None
    origin: str | None
    planned_for: str
    state: PlanItemState
    overdue: bool
    meeting_ids: list[str]
    done_at: datetime | None
    adjustments: list[PlanAdjustment]
    topic_ids: strawberry.Private[list[str]]

    @strawberry.field
    async def topics(self, info: Ctx) -> list[Topic]:
        ctx, viewer = info.context, info.context.viewer.unit
        found: list[Topic] = []
        for tid in self.topic_ids:  # bounded by MAX_LINKS
            row = await ctx.db(partial(_topic_row, viewer=viewer, topic_id=tid))
            if row is not None:
                found.append(Topic.of(row, ctx.now))
        return found


@strawberry.type
class ConsultationPlan(Node):
    plan_id: str
    year: int
    state: PlanState
    approved_at: datetime | None
    issued_by: list[str]
    items: list[PlanItem]
    unit_code: strawberry.Private[str]

    @strawberry.field
    async def unit(self, info: Ctx) -> Unit:
        return await unit_field(info, self.unit_code)

    @strawberry.field
    def progress(self) -> list[PlanProgress]:
        return [
            PlanProgress(
                kind=kind,
                planned=sum(1 for i in self.items if i.kind == kind and i.state != "CANCELLED"),
                done=sum(1 for i in self.items if i.kind == kind and i.state == "DONE"),
            )
            for kind in domain.PlanKind
            if any(i.kind == kind for i in self.items)
        ]


@strawberry.type
class PlanRollup:
    unit: Unit
    plan: ConsultationPlan | None
    planned: int
    done: int
    overdue: int


@strawberry.type
class PlanPayload:
    plan: ConsultationPlan
    position: int
    created_id: str | None


@strawberry.input
class DraftPlanInput:
    unit: str
    year: int


@strawberry.input
class PlanItemInput:
    plan_id: str
    kind: PlanKind
    title: str
    planned_for: str
    lead_leader: str | None = None
    lead_committee: str | None = None
    origin: str | None = None


@strawberry.input
class PlanRefInput:
    plan_id: str


@strawberry.input
class ApprovePlanInput:
    plan_id: str
    issued_by: list[str]


@strawberry.input
class AdjustPlanItemInput:
    plan_id: str
    item_id: str
    title: str | None = None
    planned_for: str | None = None
    kind: PlanKind | None = None
    reason: str


@strawberry.input
class LinkPlanItemInput:
    plan_id: str
    item_id: str
    topic_id: strawberry.ID | None = None
    meeting_id: str | None = None


@strawberry.input
class PlanItemRefInput:
    plan_id: str
    item_id: str


@strawberry.input
class PlanItemReasonInput:
    plan_id: str
    item_id: str
    reason: str


def _topic_row(conn: Any, *, viewer: str, topic_id: str) -> queries.TopicRow | None:
    return queries.topic(conn, viewer, topic_id)


# -- answers from the plans read model (projections.plans) -------------------------------


def plan_answer(row: plan_queries.PlanRow) -> ConsultationPlan:
    """The plan as the contract shows it."""
    items = [
        PlanItem(
            item_id=i.item_id,
            kind=domain.PlanKind(i.kind),
            title=i.title,
            lead_leader=i.lead_leader,
            lead_committee=i.lead_committee,
            origin=i.origin,
            planned_for=i.planned_for,
            state=domain.PlanItemState(i.state),
            overdue=i.overdue,
            meeting_ids=list(i.meeting_ids),
            done_at=i.done_at,
            adjustments=[
                PlanAdjustment(
                    change=a.change,
                    reason=a.reason,
                    actor=Actor(
                        user_id=a.actor.get("user_id", ""),
                        role=Role(a.actor.get("role", "STAFF")),
                        unit_code=a.actor.get("unit", ""),
                    ),
                    at=a.at,
                )
                for a in i.adjustments
            ],
            topic_ids=list(i.topic_ids),
        )
        for i in row.items
    ]
    return ConsultationPlan(
        id=strawberry.ID(global_id("ConsultationPlan", row.plan_id)),
        plan_id=row.plan_id,
        year=row.year,
        state=domain.PlanState(row.state),
        approved_at=row.approved_at,
        issued_by=list(row.issued_by),
        items=items,
        unit_code=row.unit,
    )


def _children(conn: Any, viewer: str, unit: str) -> list[queries.UnitRow]:
    """Every child unit in sight (a township may have more than a page of villages)."""
    found: list[queries.UnitRow] = []
    after = None
    while True:
        page = queries.units_page(conn, viewer, parent=unit, first=100, after=after)
        found.extend(page.items)
        if not page.has_next:
            return found
        after = page.end_cursor


async def _plan_of(ctx: Any, unit: str, year: int) -> ConsultationPlan | None:
    viewer, now = ctx.viewer.unit, ctx.now
    row = await ctx.db(lambda conn: plan_queries.plan_of(conn, viewer, unit, year, now))
    return None if row is None else plan_answer(row)


async def find_plan(info: Ctx, key: str) -> ConsultationPlan | None:
    """node(id) of a ConsultationPlan: the plan by its id, if in sight."""
    ctx = info.context
    viewer, now = ctx.viewer.unit, ctx.now
    row = await ctx.db(lambda conn: plan_queries.plan_by_id(conn, viewer, key, now))
    return None if row is None else plan_answer(row)


@strawberry.type
class PlanQuery:
    @strawberry.field(description="The unit's plan for the year; null when none or not in sight.")
    async def consultation_plan(
        self, info: Ctx, unit: str, year: int, consistent_with: int | None = None
    ) -> ConsultationPlan | None:
        ctx = info.context
        await ctx.consistent(consistent_with)
        return await _plan_of(ctx, unit, year)

    @strawberry.field(description="The unit itself first, then one row per child unit.")
    async def plan_progress(self, info: Ctx, unit: str, year: int) -> list[PlanRollup]:
        ctx = info.context
        viewer, now = ctx.viewer.unit, ctx.now
        own = await ctx.db(lambda conn: queries.unit_in_sight(conn, viewer, unit))
        if own is None:
            raise NotFoundError("UNIT_NOT_FOUND", f"unit {unit!r} does not exist")
        units = [own, *await ctx.db(lambda conn: _children(conn, viewer, unit))]
        counts = await ctx.db(
            lambda conn: plan_queries.plan_counts(conn, [u.code for u in units], year, now)
        )
        rows = []
        for row in units:
            count = counts.get(row.code)
            rows.append(
                PlanRollup(
                    unit=Unit.of(row),
                    plan=None if count is None else await _plan_of(ctx, row.code, year),
                    planned=0 if count is None else count.planned,
                    done=0 if count is None else count.done,
                    overdue=0 if count is None else count.overdue,
                )
            )
        return rows


async def _run(info: Ctx, command: AnyPlanCommand) -> PlanPayload:
    """Run a plan command through the one command path (api.commands.CommandService:
    the acting role, metrics), then answer with the plan as the read model has it
    once it has applied the command's position."""
    ctx = info.context
    result = await ctx.command(command)
    await ctx.consistent(result.position)
    viewer, now = ctx.viewer.unit, ctx.now
    row = await ctx.db(
        lambda conn: plan_queries.plan_by_id(conn, viewer, str(result.topic_id), now)
    )
    if row is None:  # pragma: no cover - the actor acted on it, so it is in sight
        raise NotFoundError("PLAN_NOT_FOUND", f"plan {result.topic_id} does not exist")
    return PlanPayload(
        plan=plan_answer(row), position=result.position, created_id=result.created_id
    )


def _kind(kind: Any) -> str | None:
    return None if kind is None else str(kind.value)


@strawberry.type
class PlanMutation:
    @strawberry.mutation
    async def draft_plan(self, info: Ctx, input: DraftPlanInput) -> PlanPayload:
        return await _run(info, DraftPlan(unit=input.unit, year=input.year))

    @strawberry.mutation
    async def add_plan_item(self, info: Ctx, input: PlanItemInput) -> PlanPayload:
        return await _run(
            info,
            AddPlanItem(
                plan_id=input.plan_id,
                kind=str(input.kind.value),
                title=input.title,
                planned_for=input.planned_for,
                lead_leader=input.lead_leader,
                lead_committee=input.lead_committee,
                origin=input.origin,
            ),
        )

    @strawberry.mutation
    async def submit_plan(self, info: Ctx, input: PlanRefInput) -> PlanPayload:
        return await _run(info, SubmitPlan(plan_id=input.plan_id))

    @strawberry.mutation
    async def approve_plan(self, info: Ctx, input: ApprovePlanInput) -> PlanPayload:
        return await _run(info, ApprovePlan(plan_id=input.plan_id, issued_by=input.issued_by))

    @strawberry.mutation
    async def adjust_plan_item(self, info: Ctx, input: AdjustPlanItemInput) -> PlanPayload:
        return await _run(
            info,
            AdjustPlanItem(
                plan_id=input.plan_id,
                item_id=input.item_id,
                reason=input.reason,
                title=input.title,
                planned_for=input.planned_for,
                kind=_kind(input.kind),
            ),
        )

    @strawberry.mutation
    async def link_plan_item(self, info: Ctx, input: LinkPlanItemInput) -> PlanPayload:
        topic = None if input.topic_id is None else str(input.topic_id)
        return await _run(
            info,
            LinkPlanItem(
                plan_id=input.plan_id,
                item_id=input.item_id,
                topic_id=topic,
                meeting_id=input.meeting_id,
            ),
        )

    @strawberry.mutation
    async def complete_plan_item(self, info: Ctx, input: PlanItemRefInput) -> PlanPayload:
        return await _run(info, CompletePlanItem(plan_id=input.plan_id, item_id=input.item_id))

    @strawberry.mutation
    async def cancel_plan_item(self, info: Ctx, input: PlanItemReasonInput) -> PlanPayload:
        return await _run(
            info, CancelPlanItem(plan_id=input.plan_id, item_id=input.item_id, reason=input.reason)
        )
