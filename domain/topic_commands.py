"""The commands addressed to a topic, as types: one frozen dataclass per command.

Each command carries its arguments (`topic_id` first), names itself as the
contract does (`name`, the GraphQL mutation and REST operation id) and knows the
one `Topic` method it calls (`apply_to`). `LinkageApp.handle` loads the topic,
applies the command and saves, with optimistic concurrency; the protocols build
commands from their inputs (`api.commands.command_of`).

`TOPIC_COMMANDS` is the catalogue: GraphQL's mutations, REST's routes and the
tests are generated from it or checked against it. Adding a command: the
`Topic` method and its event (domain/topic.py), a class here, one line in
`TOPIC_COMMANDS`, and the views that react to the event (projections/).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from domain.errors import NotFoundError
from domain.topic import Actor, Topic
from domain.units import UnitDirectory


def _no_target(topic_id: uuid.UUID) -> Topic:
    raise NotFoundError("TOPIC_NOT_FOUND", f"topic {topic_id} does not exist")


@dataclass(slots=True)
class CommandContext:
    """What a command needs besides its own arguments: who acts, when, the units
    directory, and (for commands that touch a second topic) how to find it."""

    actor: Actor
    units: UnitDirectory
    at: datetime | None = None
    # the topic a command may merge into, as the actor may reach it
    merge_target: Callable[[uuid.UUID], Topic] = _no_target
    changed: list[Topic] = field(default_factory=list)  # other topics to save with it

    def also_changes(self, topic: Topic) -> None:
        """Save `topic` too, in the same transaction as the command's own topic."""
        self.changed.append(topic)


@dataclass(frozen=True, kw_only=True, slots=True)
class TopicCommand(ABC):
    """A command on an existing topic."""

    name: ClassVar[str]  # the contract's mutation name
    topic_id: uuid.UUID

    @abstractmethod
    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        """Call the topic's method (which checks every rule and records one event);
        answers the id of what it created (a meeting, a task), if anything."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SubmitTopic:
    """Submit a new topic (the one command without a topic yet)."""

    name: ClassVar[str] = "submitTopic"
    title: str
    description: str
    category: str
    source: str
    location: str
    submitter: dict[str, str] | None = None
    external_ref: str | None = None
    attachments: Sequence[str] | None = None
    topic_id: uuid.UUID | None = None  # for imports: the id to create it with


@dataclass(frozen=True, kw_only=True, slots=True)
class DetermineTopic(TopicCommand):
    """Determine the topic (立题)."""

    name: ClassVar[str] = "determineTopic"
    note: str | None = None

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.determine(ctx.actor, self.note, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class DeclineTopic(TopicCommand):
    """Decline the topic."""

    name: ClassVar[str] = "declineTopic"
    reason: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.decline(ctx.actor, self.reason, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class MergeTopic(TopicCommand):
    """Merge into another topic: TopicMerged here, TopicAbsorbed on the target,
    saved in one transaction."""

    name: ClassVar[str] = "mergeTopic"
    into_topic_id: uuid.UUID
    reason: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        target = ctx.merge_target(self.into_topic_id)  # fresh on every attempt
        ctx.also_changes(target)
        topic.merge_into(target, ctx.actor, ctx.units, self.reason, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class EscalateTopic(TopicCommand):
    """Escalate to an ancestor (default the parent)."""

    name: ClassVar[str] = "escalateTopic"
    to_unit: str | None = None
    reason: str = ""

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.escalate(ctx.actor, ctx.units, self.to_unit, self.reason, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class DelegateTopic(TopicCommand):
    """Delegate downward."""

    name: ClassVar[str] = "delegateTopic"
    to_unit: str
    instructions: str
    due: datetime | None = None

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.delegate(ctx.actor, ctx.units, self.to_unit, self.instructions, self.due, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class AcceptTransfer(TopicCommand):
    """Accept the pending transfer."""

    name: ClassVar[str] = "acceptTransfer"
    note: str | None = None

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.accept_transfer(ctx.actor, self.note, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReturnTransfer(TopicCommand):
    """Return the pending transfer."""

    name: ClassVar[str] = "returnTransfer"
    reason: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.return_transfer(ctx.actor, self.reason, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelTransfer(TopicCommand):
    """Cancel the transfer this unit requested."""

    name: ClassVar[str] = "cancelTransfer"
    reason: str | None = None

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.cancel_transfer(ctx.actor, self.reason, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class TakeOverTopic(TopicCommand):
    """Take the topic over (提级)."""

    name: ClassVar[str] = "takeOverTopic"
    reason: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.take_over(ctx.actor, ctx.units, self.reason, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class InviteCoOrganizer(TopicCommand):
    """Invite a co-organiser (联动协商)."""

    name: ClassVar[str] = "inviteCoOrganizer"
    unit: str
    note: str | None = None

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.invite_co_organizer(ctx.actor, ctx.units, self.unit, self.note, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class StartResearch(TopicCommand):
    """Start research."""

    name: ClassVar[str] = "startResearch"
    text: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.start_research(ctx.actor, self.text, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportResearch(TopicCommand):
    """Report research."""

    name: ClassVar[str] = "reportResearch"
    text: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.report_research(ctx.actor, self.text, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleDeliberation(TopicCommand):
    """Schedule a deliberation (4+X); answers the meeting's id."""

    name: ClassVar[str] = "scheduleDeliberation"
    scheduled_at: datetime
    place: str
    format: str
    participants: Sequence[dict[str, str | None]]

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        return topic.schedule_deliberation(
            ctx.actor, self.scheduled_at, self.place, self.format, list(self.participants), ctx.at
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordDeliberation(TopicCommand):
    """Record a deliberation as held."""

    name: ClassVar[str] = "recordDeliberation"
    meeting_id: str
    attendance: Sequence[str]
    minutes: str
    recommendations: Sequence[str]

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.record_deliberation(
            ctx.actor,
            self.meeting_id,
            list(self.attendance),
            self.minutes,
            list(self.recommendations),
            ctx.at,
        )
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class AssignTask(TopicCommand):
    """Assign a task; answers the task's id."""

    name: ClassVar[str] = "assignTask"
    handler_unit: str
    handler: str
    requirement: str
    due: datetime

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        return topic.assign_task(
            ctx.actor,
            ctx.units,
            self.handler_unit,
            self.handler,
            self.requirement,
            self.due,
            ctx.at,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class SignTask(TopicCommand):
    """Sign a task."""

    name: ClassVar[str] = "signTask"
    task_id: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.sign_task(ctx.actor, self.task_id, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportTaskProgress(TopicCommand):
    """Report a task's progress."""

    name: ClassVar[str] = "reportTaskProgress"
    task_id: str
    note: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.report_task_progress(ctx.actor, self.task_id, self.note, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class SuperviseTask(TopicCommand):
    """Supervise a task (督办)."""

    name: ClassVar[str] = "superviseTask"
    task_id: str
    note: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.supervise_task(ctx.actor, ctx.units, self.task_id, self.note, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class ExtendTaskDeadline(TopicCommand):
    """Extend a task's deadline."""

    name: ClassVar[str] = "extendTaskDeadline"
    task_id: str
    new_due: datetime
    reason: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.extend_task_deadline(ctx.actor, self.task_id, self.new_due, self.reason, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class CompleteTask(TopicCommand):
    """Complete a task."""

    name: ClassVar[str] = "completeTask"
    task_id: str
    result: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.complete_task(ctx.actor, self.task_id, self.result, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordLeaderInstruction(TopicCommand):
    """Record a leader's instruction (批示)."""

    name: ClassVar[str] = "recordLeaderInstruction"
    text: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.record_leader_instruction(ctx.actor, ctx.units, self.text, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordAdoption(TopicCommand):
    """Record an adoption (成果采纳)."""

    name: ClassVar[str] = "recordAdoption"
    body: str
    text: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.record_adoption(ctx.actor, ctx.units, self.body, self.text, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class GiveFeedback(TopicCommand):
    """Give feedback to the submitter."""

    name: ClassVar[str] = "giveFeedback"
    reply: str
    channel: str | None = None

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.give_feedback(ctx.actor, self.reply, self.channel, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordReturnVisit(TopicCommand):
    """Record a return visit."""

    name: ClassVar[str] = "recordReturnVisit"
    contacted: bool
    solved: bool
    satisfaction: str
    comment: str | None = None

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.record_return_visit(
            ctx.actor, self.contacted, self.solved, self.satisfaction, self.comment, ctx.at
        )
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReopenTopic(TopicCommand):
    """Reopen after an unsatisfied return visit."""

    name: ClassVar[str] = "reopenTopic"
    reason: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.reopen(ctx.actor, self.reason, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class CloseTopic(TopicCommand):
    """Close the topic."""

    name: ClassVar[str] = "closeTopic"
    summary: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.close(ctx.actor, self.summary, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class WithdrawTopic(TopicCommand):
    """Withdraw the topic."""

    name: ClassVar[str] = "withdrawTopic"
    reason: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.withdraw(ctx.actor, self.reason, ctx.at)
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class AddComment(TopicCommand):
    """Comment on the topic."""

    name: ClassVar[str] = "addComment"
    text: str

    def apply_to(self, topic: Topic, ctx: CommandContext) -> str | None:
        topic.add_comment(ctx.actor, ctx.units, self.text, ctx.at)
        return None


TOPIC_COMMANDS: tuple[type[TopicCommand], ...] = (
    DetermineTopic,
    DeclineTopic,
    MergeTopic,
    EscalateTopic,
    DelegateTopic,
    AcceptTransfer,
    ReturnTransfer,
    CancelTransfer,
    TakeOverTopic,
    InviteCoOrganizer,
    StartResearch,
    ReportResearch,
    ScheduleDeliberation,
    RecordDeliberation,
    AssignTask,
    SignTask,
    ReportTaskProgress,
    SuperviseTask,
    ExtendTaskDeadline,
    CompleteTask,
    RecordLeaderInstruction,
    RecordAdoption,
    GiveFeedback,
    RecordReturnVisit,
    ReopenTopic,
    CloseTopic,
    WithdrawTopic,
    AddComment,
)

Command = SubmitTopic | TopicCommand
COMMAND_TYPES: tuple[type[SubmitTopic] | type[TopicCommand], ...] = (SubmitTopic, *TOPIC_COMMANDS)
