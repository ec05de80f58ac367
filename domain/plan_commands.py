"""The plan commands, as types, and the one entry point that runs them.

Each command is a frozen dataclass naming itself as the contract's mutation
(`name`) and calling one `ConsultationPlan` method (`apply_to`). `handle_plan`
loads the plan (one the actor's unit cannot see reads exactly as a missing one),
applies the command and saves with optimistic concurrency, as the topic commands
do: with `expected_version` a stale caller gets VERSION_CONFLICT, without it the
command is re-validated on the fresh plan and retried.

Who sees a plan: a unit sees the plans of its own unit, of its subtree (a city
reads each county's) and of its ancestors (a county reads the city's plan it
carries out); a sibling's plan reads as not found (PLAN_NOT_FOUND), exactly as a
missing one. Only the plan's own unit changes it.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.errors import BadInputError, ConflictError, NotFoundError
from domain.plan import ConsultationPlan, plan_id_of
from domain.topic import Actor, check_text
from domain.units import may_see_unit

if TYPE_CHECKING:
    from domain.application import CommandResult, LinkageApp


@dataclass(frozen=True, kw_only=True, slots=True)
class DraftPlan:
    name: ClassVar[str] = "draftPlan"
    unit: str
    year: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanCommand(ABC):
    """A command on an existing plan."""

    name: ClassVar[str]
    plan_id: str

    @abstractmethod
    def apply_to(self, plan: ConsultationPlan, ctx: PlanContext) -> str | None:
        """Call the plan's method; answers the id of what it created, if anything."""


@dataclass(slots=True)
class PlanContext:
    actor: Actor
    at: datetime | None
    check_link: Callable[[str, str | None], str]  # (topicId, meetingId) -> topic id


@dataclass(frozen=True, kw_only=True, slots=True)
class AddPlanItem(PlanCommand):
    name: ClassVar[str] = "addPlanItem"
    kind: str
    title: str
    planned_for: str
    lead_leader: str | None = None
    lead_committee: str | None = None
    origin: str | None = None

    def apply_to(self, plan: ConsultationPlan, ctx: PlanContext) -> str | None:
        return plan.add_item(
            ctx.actor,
            kind=self.kind,
            title=self.title,
            planned_for=self.planned_for,
            lead_leader=self.lead_leader,
            lead_committee=self.lead_committee,
            origin=self.origin,
            at=ctx.at,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class SubmitPlan(PlanCommand):
    name: ClassVar[str] = "submitPlan"

    def apply_to(self, plan: ConsultationPlan, ctx: PlanContext) -> str | None:
        plan.submit(ctx.actor, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovePlan(PlanCommand):
    name: ClassVar[str] = "approvePlan"
    issued_by: Sequence[str]

    def apply_to(self, plan: ConsultationPlan, ctx: PlanContext) -> str | None:
        plan.approve(ctx.actor, list(self.issued_by), ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class AdjustPlanItem(PlanCommand):
    name: ClassVar[str] = "adjustPlanItem"
    item_id: str
    reason: str
    title: str | None = None
    planned_for: str | None = None
    kind: str | None = None

    def apply_to(self, plan: ConsultationPlan, ctx: PlanContext) -> str | None:
        plan.adjust_item(
            ctx.actor,
            self.item_id,
            reason=self.reason,
            title=self.title,
            planned_for=self.planned_for,
            kind=self.kind,
            at=ctx.at,
        )
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkPlanItem(PlanCommand):
    name: ClassVar[str] = "linkPlanItem"
    item_id: str
    topic_id: str | None = None
    meeting_id: str | None = None

    def apply_to(self, plan: ConsultationPlan, ctx: PlanContext) -> str | None:
        if self.topic_id is None:
            rule = "PLAN_LINK_MEETING_NEEDS_TOPIC" if self.meeting_id else "PLAN_LINK_EMPTY"
            raise BadInputError(
                rule,
                "give the topicId that carries the item out (with meetingId: one of that "
                "topic's meetings, e.g. M1)",
            )
        topic = ctx.check_link(self.topic_id, self.meeting_id)
        plan.link_item(ctx.actor, self.item_id, topic, self.meeting_id, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class CompletePlanItem(PlanCommand):
    name: ClassVar[str] = "completePlanItem"
    item_id: str

    def apply_to(self, plan: ConsultationPlan, ctx: PlanContext) -> str | None:
        plan.complete_item(ctx.actor, self.item_id, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelPlanItem(PlanCommand):
    name: ClassVar[str] = "cancelPlanItem"
    item_id: str
    reason: str

    def apply_to(self, plan: ConsultationPlan, ctx: PlanContext) -> str | None:
        plan.cancel_item(ctx.actor, self.item_id, self.reason, ctx.at)
        return None


PLAN_COMMANDS: tuple[type[DraftPlan] | type[PlanCommand], ...] = (
    DraftPlan,
    AddPlanItem,
    SubmitPlan,
    ApprovePlan,
    AdjustPlanItem,
    LinkPlanItem,
    CompletePlanItem,
    CancelPlanItem,
)
AnyPlanCommand = DraftPlan | PlanCommand


# -- the entry point ---------------------------------------------------------------------


def plan_not_found(plan_id: object) -> NotFoundError:
    return NotFoundError("PLAN_NOT_FOUND", f"plan {plan_id} does not exist")


def parse_plan_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        raise plan_not_found(value) from None


def visible_plan(app: LinkageApp, actor: Actor, plan_id: str) -> ConsultationPlan:
    """The plan if the actor's unit sees it (its own, its subtree's, its ancestors');
    any other reads exactly as a missing one."""
    try:
        plan: object = app.repository.get(parse_plan_id(plan_id))
    except AggregateNotFoundError:
        raise plan_not_found(plan_id) from None
    if not isinstance(plan, ConsultationPlan) or not may_see_unit(app.units, actor.unit, plan.unit):
        raise plan_not_found(plan_id)
    return plan


def handle_plan(
    app: LinkageApp,
    actor: Actor,
    command: AnyPlanCommand,
    *,
    expected_version: int | None = None,
    at: datetime | None = None,
) -> CommandResult:
    """Run one plan command for `actor` (the one entry point of the plan commands)."""
    from domain.application import COMMAND_ATTEMPTS, CommandResult, retry_attempts

    if isinstance(command, DraftPlan):
        plan = ConsultationPlan.draft(
            actor=actor, units=app.units, unit=command.unit, year=command.year, at=at
        )
        try:
            recordings = app.save(plan)
        except IntegrityError:
            raise ConflictError(
                "PLAN_EXISTS",
                f"unit {plan.unit} already has a plan for {plan.year}; add items to it",
            ) from None
        return CommandResult(plan.id, plan.version, recordings[-1].notification.id, str(plan.id))

    def check_link(topic_id: str, meeting_id: str | None) -> str:
        try:
            tid = uuid.UUID(str(topic_id).strip())
        except ValueError:
            raise NotFoundError("TOPIC_NOT_FOUND", f"topic {topic_id} does not exist") from None
        topic = app.visible_topic(actor, tid)  # hidden reads exactly as missing
        if meeting_id is not None:
            meeting = check_text(meeting_id, "meetingId", limit=50)
            if meeting not in topic.meetings:
                raise NotFoundError(
                    "MEETING_NOT_FOUND", f"topic {topic.id} has no meeting {meeting_id!r}"
                )
        return str(topic.id)

    for _ in retry_attempts():
        plan = visible_plan(app, actor, command.plan_id)
        if expected_version is not None and plan.version != expected_version:
            raise _stale(plan, expected_version, plan.version)
        created = command.apply_to(plan, PlanContext(actor, at, check_link))
        try:
            recordings = app.save(plan)
        except IntegrityError:
            if expected_version is not None:
                raise _stale(plan, expected_version, None) from None
            continue
        return CommandResult(plan.id, plan.version, recordings[-1].notification.id, created)
    raise ConflictError(
        "CONCURRENT_UPDATE",
        f"plan {command.plan_id} kept changing under {COMMAND_ATTEMPTS} attempts; try again",
    )


def _stale(plan: ConsultationPlan, expected: int, actual: int | None) -> ConflictError:
    now = "has moved on" if actual is None else f"is at version {actual}"
    return ConflictError(
        "VERSION_CONFLICT", f"plan {plan.id} {now}; the command expected version {expected}"
    )


__all__ = ["PLAN_COMMANDS", "handle_plan", "plan_id_of", "visible_plan"]
