"""The contract's mutations: one per command of the catalogue (domain.topic_commands),
generated from it, each returning the topic after the command and the store
position it reached (pass it as `consistentWith`). A mutation's input has the
command's fields (camelCase); `INPUTS` names its input type."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import strawberry

from api.commands import command_of
from api.graphql.types import Ctx, ParticipantKind, Satisfaction, Source, TopicPayload
from domain.topic_commands import COMMAND_TYPES, Command


@strawberry.input
class ParticipantInput:
    name: str
    kind: ParticipantKind
    member_id: str | None = None


@strawberry.input
class SubmitTopicInput:
    title: str
    description: str
    category: str
    source: Source
    location_unit: str
    submitter_name: str | None = None
    submitter_phone: str | None = None
    external_ref: str | None = None


@strawberry.input
class TopicNoteInput:
    topic_id: strawberry.ID
    note: str | None = None


@strawberry.input
class TopicReasonInput:
    topic_id: strawberry.ID
    reason: str


@strawberry.input
class MergeTopicInput:
    topic_id: strawberry.ID
    into_topic_id: strawberry.ID
    reason: str


@strawberry.input
class EscalateTopicInput:
    topic_id: strawberry.ID
    to_unit: str | None = strawberry.field(default=None, description="Defaults to the parent.")
    reason: str


@strawberry.input
class DelegateTopicInput:
    topic_id: strawberry.ID
    to_unit: str
    instructions: str
    due: datetime | None = None


@strawberry.input
class InviteCoOrganizerInput:
    topic_id: strawberry.ID
    unit: str
    note: str | None = None


@strawberry.input
class ResearchInput:
    topic_id: strawberry.ID
    text: str


@strawberry.input
class ScheduleDeliberationInput:
    topic_id: strawberry.ID
    scheduled_at: datetime
    place: str
    format: str
    participants: list[ParticipantInput]


@strawberry.input
class RecordDeliberationInput:
    topic_id: strawberry.ID
    meeting_id: str
    attendance: list[str]
    minutes: str
    recommendations: list[str]


@strawberry.input
class AssignTaskInput:
    topic_id: strawberry.ID
    handler_unit: str
    handler: str
    requirement: str
    due: datetime


@strawberry.input
class TaskInput:
    topic_id: strawberry.ID
    task_id: str


@strawberry.input
class TaskNoteInput:
    topic_id: strawberry.ID
    task_id: str
    note: str


@strawberry.input
class ExtendTaskDeadlineInput:
    topic_id: strawberry.ID
    task_id: str
    new_due: datetime
    reason: str


@strawberry.input
class CompleteTaskInput:
    topic_id: strawberry.ID
    task_id: str
    result: str


@strawberry.input
class LeaderInstructionInput:
    topic_id: strawberry.ID
    text: str


@strawberry.input
class AdoptionInput:
    topic_id: strawberry.ID
    body: str
    text: str


@strawberry.input
class FeedbackInput:
    topic_id: strawberry.ID
    reply: str
    channel: str | None = None


@strawberry.input
class ReturnVisitInput:
    topic_id: strawberry.ID
    contacted: bool
    solved: bool
    satisfaction: Satisfaction
    comment: str | None = None


@strawberry.input
class CloseTopicInput:
    topic_id: strawberry.ID
    summary: str


@strawberry.input
class CommentInput:
    topic_id: strawberry.ID
    text: str


# the input type of each command's mutation (several commands share one)
INPUTS: dict[str, type] = {
    "submitTopic": SubmitTopicInput,
    "determineTopic": TopicNoteInput,
    "declineTopic": TopicReasonInput,
    "mergeTopic": MergeTopicInput,
    "escalateTopic": EscalateTopicInput,
    "delegateTopic": DelegateTopicInput,
    "acceptTransfer": TopicNoteInput,
    "returnTransfer": TopicReasonInput,
    "cancelTransfer": TopicReasonInput,
    "takeOverTopic": TopicReasonInput,
    "inviteCoOrganizer": InviteCoOrganizerInput,
    "startResearch": ResearchInput,
    "reportResearch": ResearchInput,
    "scheduleDeliberation": ScheduleDeliberationInput,
    "recordDeliberation": RecordDeliberationInput,
    "assignTask": AssignTaskInput,
    "signTask": TaskInput,
    "reportTaskProgress": TaskNoteInput,
    "superviseTask": TaskNoteInput,
    "extendTaskDeadline": ExtendTaskDeadlineInput,
    "completeTask": CompleteTaskInput,
    "recordLeaderInstruction": LeaderInstructionInput,
    "recordAdoption": AdoptionInput,
    "giveFeedback": FeedbackInput,
    "recordReturnVisit": ReturnVisitInput,
    "reopenTopic": TopicReasonInput,
    "closeTopic": CloseTopicInput,
    "withdrawTopic": TopicReasonInput,
    "addComment": CommentInput,
}


def submission_of(input: SubmitTopicInput) -> Command:
    """The submission an input asks for (its fields differ from the command's)."""
    submitter = {
        k: v
        for k, v in (("name", input.submitter_name), ("phone", input.submitter_phone))
        if v is not None
    }
    arguments = {
        "title": input.title,
        "description": input.description,
        "category": input.category,
        "source": input.source,
        "location": input.location_unit,
        "submitter": submitter or None,
        "external_ref": input.external_ref,
    }
    return command_of("submitTopic", None, arguments)


def command_of_input(name: str, input: object) -> Command:
    """The command `name` an input asks for: the input's fields are the command's."""
    if isinstance(input, SubmitTopicInput):
        return submission_of(input)
    assert dataclasses.is_dataclass(input)  # strawberry inputs are dataclasses
    assert not isinstance(input, type)
    values = {f.name: getattr(input, f.name) for f in dataclasses.fields(input)}
    topic_id = str(values.pop("topic_id"))
    return command_of(name, topic_id, values)


async def _run(info: Ctx, command: Command) -> TopicPayload:
    result = await info.context.command(command)
    return TopicPayload(
        position=result.position,
        created_id=result.created_id,
        duplicate=result.duplicate,
        topic_uuid=result.topic_id,
        topic_version=result.version,
    )


def mutation(name: str, input_type: type) -> Any:
    """The mutation of command `name`: it builds the command from its input and runs it."""

    async def resolve(info: Ctx, input: Any) -> TopicPayload:
        return await _run(info, command_of_input(name, input))

    resolve.__annotations__ = {"info": Ctx, "input": input_type, "return": TopicPayload}
    resolve.__name__ = resolve.__qualname__ = name
    return strawberry.mutation(resolver=resolve, name=name)


# One mutation per command of the catalogue, in its order.
MUTATIONS = {kind.name: mutation(kind.name, INPUTS[kind.name]) for kind in COMMAND_TYPES}
Mutation = strawberry.type(
    type(
        "Mutation",
        (),
        {kind.name: mutation(kind.name, INPUTS[kind.name]) for kind in COMMAND_TYPES},
    )
)
