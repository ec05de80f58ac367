"""The `plans` section of the contract: the annual consultation plan's types,
queries and mutations.

A first cut reads the plan from the event store (the aggregate itself, as the
command left it) rather than from a read model of its own. An item's DONE is
its completion, or for a meeting kind (domain.plan.MEETING_KINDS) the first held
deliberation of a linked topic (the linked meeting, when the link names one),
judged on the topic's events; overdue is derived at read time in China time.
Commands act for the token's first role the domain permits, as the topic
commands do.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Any

import strawberry
from anyio import to_thread

from api.graphql.types import Actor, Ctx, Node, Role, Topic, Unit, unit_field
from api.ids import global_id
from domain import plan as domain
from domain.application import CommandResult
from domain.errors import ForbiddenError, NotFoundError
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
    handle_plan,
    visible_plan,
)
from domain.topic import Topic as DomainTopic
from projections import queries

# The domain's enums are the contract's (same names), registered in place.
PlanKind = domain.PlanKind
PlanState = domain.PlanState
PlanItemState = domain.PlanItemState
for _enum in (PlanKind, PlanState, PlanItemState):
    strawberry.enum(_enum)
RETRIED_RULES = frozenset({"ROLE_NOT_PERMITTED", "PLAN_LEADER_REQUIRED"})


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


# -- building the answer from the aggregate ------------------------------------------------


def _held(
    topics: dict[str, DomainTopic | None], topic_id: str, meeting: str | None
) -> datetime | None:
    topic = topics.get(topic_id)
    if topic is None:
        return None
    held = [
        m.held_at
        for m in topic.meetings.values()
        if m.held_at is not None and (meeting is None or m.meeting_id == meeting)
    ]
    return min(held) if held else None


def plan_answer(ctx: Any, plan: domain.ConsultationPlan) -> ConsultationPlan:
    """The plan as the contract shows it (runs in a worker thread)."""
    app, now = ctx.state.runtime.app, ctx.now
    linked = {t for item in plan.items.values() for t, _ in item.links}
    topics: dict[str, DomainTopic | None] = {}
    for tid in linked:
        try:
            topics[tid] = app.get_topic(uuid.UUID(tid))
        except NotFoundError:
            topics[tid] = None
    adjustments: dict[str, list[PlanAdjustment]] = {}
    for event in app.events.get(plan.id):
        if isinstance(
            event,
            domain.ConsultationPlan.PlanItemAdjusted | domain.ConsultationPlan.PlanItemCancelled,
        ):
            change = getattr(event, "change", "cancelled")
            adjustments.setdefault(event.item_id, []).append(
                PlanAdjustment(
                    change=change,
                    reason=event.reason,
                    actor=Actor(
                        user_id=event.actor["user_id"],
                        role=Role(event.actor["role"]),
                        unit_code=event.actor["unit"],
                    ),
                    at=event.timestamp,
                )
            )
    items = []
    for item in plan.items.values():
        state, done_at = item.state, item.done_at
        if state == domain.PlanItemState.PLANNED and item.kind in domain.MEETING_KINDS:
            held = [h for t, m in item.links if (h := _held(topics, t, m)) is not None]
            if held:
                state, done_at = domain.PlanItemState.DONE, min(held)
        items.append(
            PlanItem(
                item_id=item.item_id,
                kind=item.kind,
                title=item.title,
                lead_leader=item.lead_leader,
                lead_committee=item.lead_committee,
                origin=item.origin,
                planned_for=item.planned_for,
                state=state,
                overdue=domain.is_item_overdue(item.planned_for, state, now),
                meeting_ids=[m for _, m in item.links if m is not None],
                done_at=done_at,
                adjustments=adjustments.get(item.item_id, []),
                topic_ids=list(dict.fromkeys(t for t, _ in item.links)),
            )
        )
    return ConsultationPlan(
        id=strawberry.ID(global_id("ConsultationPlan", str(plan.id))),
        plan_id=str(plan.id),
        year=plan.year,
        state=plan.state,
        approved_at=plan.approved_at,
        issued_by=list(plan.issued_by),
        items=items,
        unit_code=plan.unit,
    )


def _plan_of(ctx: Any, unit: str, year: int) -> ConsultationPlan | None:
    viewer = ctx.viewer
    try:
        plan = visible_plan(
            ctx.state.runtime.app, viewer.actor(), str(domain.plan_id_of(unit, year))
        )
    except NotFoundError:
        return None
    return plan_answer(ctx, plan)


@strawberry.type
class PlanQuery:
    @strawberry.field(description="The unit's plan for the year; null when none or not in sight.")
    async def consultation_plan(
        self, info: Ctx, unit: str, year: int, consistent_with: int | None = None
    ) -> ConsultationPlan | None:
        ctx = info.context
        await ctx.consistent(consistent_with)
        return await to_thread.run_sync(lambda: _plan_of(ctx, unit, year))

    @strawberry.field(description="The unit itself first, then one row per child unit.")
    async def plan_progress(self, info: Ctx, unit: str, year: int) -> list[PlanRollup]:
        ctx = info.context
        viewer = ctx.viewer.unit
        own = await ctx.db(lambda conn: queries.unit_in_sight(conn, viewer, unit))
        if own is None:
            raise NotFoundError("UNIT_NOT_FOUND", f"unit {unit!r} does not exist")
        children = await ctx.db(
            lambda conn: queries.units_page(conn, viewer, parent=unit, first=100)
        )
        rows = []
        for row in [own, *children.items]:
            plan = await to_thread.run_sync(partial(_plan_of, ctx, row.code, year))
            live = [i for i in (plan.items if plan else []) if i.state != "CANCELLED"]
            rows.append(
                PlanRollup(
                    unit=Unit.of(row),
                    plan=plan,
                    planned=len(live),
                    done=sum(1 for i in live if i.state == "DONE"),
                    overdue=sum(1 for i in live if i.overdue),
                )
            )
        return rows


async def _run(info: Ctx, command: AnyPlanCommand) -> PlanPayload:
    ctx = info.context
    principal, app = ctx.viewer, ctx.state.runtime.app

    def run() -> tuple[CommandResult, ConsultationPlan]:
        for i, role in enumerate(principal.roles):
            actor = principal.actor(role)
            try:
                result = handle_plan(app, actor, command)
            except ForbiddenError as err:
                if err.rule not in RETRIED_RULES or i == len(principal.roles) - 1:
                    raise
                continue
            saved: domain.ConsultationPlan = app.repository.get(
                result.topic_id, version=result.version
            )
            return result, plan_answer(ctx, saved)
        raise AssertionError("a principal always has a role")  # pragma: no cover

    result, plan = await to_thread.run_sync(run)
    return PlanPayload(plan=plan, position=result.position, created_id=result.created_id)


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
