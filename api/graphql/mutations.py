"""The contract's mutations: one per command, each returning the topic after the
command and the store position it reached (pass it as `consistentWith`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from api.commands import parse_topic_id
from api.graphql.types import Ctx, ParticipantKind, Satisfaction, Source, TopicPayload


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


async def _run(info: Ctx, name: str, topic_id: Any, arguments: dict[str, Any]) -> TopicPayload:
    tid = None if topic_id is None else parse_topic_id(str(topic_id))
    result = await info.context.command(name, tid, arguments)
    return TopicPayload(
        position=result.position,
        created_id=result.created_id,
        duplicate=result.duplicate,
        topic_uuid=result.topic_id,
        topic_version=result.version,
    )


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def submit_topic(self, info: Ctx, input: SubmitTopicInput) -> TopicPayload:
        submitter = {
            k: v
            for k, v in (("name", input.submitter_name), ("phone", input.submitter_phone))
            if v is not None
        }
        arguments = {
            "title": input.title,
            "description": input.description,
            "category": input.category,
            "source": input.source.value,
            "location": input.location_unit,
            "submitter": submitter or None,
            "external_ref": input.external_ref,
        }
        return await _run(info, "submitTopic", None, arguments)

    @strawberry.mutation
    async def determine_topic(self, info: Ctx, input: TopicNoteInput) -> TopicPayload:
        return await _run(info, "determineTopic", input.topic_id, {"note": input.note})

    @strawberry.mutation
    async def decline_topic(self, info: Ctx, input: TopicReasonInput) -> TopicPayload:
        return await _run(info, "declineTopic", input.topic_id, {"reason": input.reason})

    @strawberry.mutation
    async def merge_topic(self, info: Ctx, input: MergeTopicInput) -> TopicPayload:
        into = parse_topic_id(str(input.into_topic_id), "intoTopicId")
        arguments = {"into": into, "reason": input.reason}
        return await _run(info, "mergeTopic", input.topic_id, arguments)

    @strawberry.mutation
    async def escalate_topic(self, info: Ctx, input: EscalateTopicInput) -> TopicPayload:
        arguments = {"to_unit": input.to_unit, "reason": input.reason}
        return await _run(info, "escalateTopic", input.topic_id, arguments)

    @strawberry.mutation
    async def delegate_topic(self, info: Ctx, input: DelegateTopicInput) -> TopicPayload:
        arguments = {"to_unit": input.to_unit, "instructions": input.instructions, "due": input.due}
        return await _run(info, "delegateTopic", input.topic_id, arguments)

    @strawberry.mutation
    async def accept_transfer(self, info: Ctx, input: TopicNoteInput) -> TopicPayload:
        return await _run(info, "acceptTransfer", input.topic_id, {"note": input.note})

    @strawberry.mutation
    async def return_transfer(self, info: Ctx, input: TopicReasonInput) -> TopicPayload:
        return await _run(info, "returnTransfer", input.topic_id, {"reason": input.reason})

    @strawberry.mutation
    async def cancel_transfer(self, info: Ctx, input: TopicReasonInput) -> TopicPayload:
        return await _run(info, "cancelTransfer", input.topic_id, {"reason": input.reason})

    @strawberry.mutation
    async def take_over_topic(self, info: Ctx, input: TopicReasonInput) -> TopicPayload:
        return await _run(info, "takeOverTopic", input.topic_id, {"reason": input.reason})

    @strawberry.mutation
    async def invite_co_organizer(self, info: Ctx, input: InviteCoOrganizerInput) -> TopicPayload:
        arguments = {"unit": input.unit, "note": input.note}
        return await _run(info, "inviteCoOrganizer", input.topic_id, arguments)

    @strawberry.mutation
    async def start_research(self, info: Ctx, input: ResearchInput) -> TopicPayload:
        return await _run(info, "startResearch", input.topic_id, {"text": input.text})

    @strawberry.mutation
    async def report_research(self, info: Ctx, input: ResearchInput) -> TopicPayload:
        return await _run(info, "reportResearch", input.topic_id, {"text": input.text})

    @strawberry.mutation
    async def schedule_deliberation(
        self, info: Ctx, input: ScheduleDeliberationInput
    ) -> TopicPayload:
        arguments = {
            "scheduled_at": input.scheduled_at,
            "place": input.place,
            "format": input.format,
            "participants": [
                {"name": p.name, "kind": p.kind.value, "member_id": p.member_id}
                for p in input.participants
            ],
        }
        return await _run(info, "scheduleDeliberation", input.topic_id, arguments)

    @strawberry.mutation
    async def record_deliberation(self, info: Ctx, input: RecordDeliberationInput) -> TopicPayload:
        arguments = {
            "meeting_id": input.meeting_id,
            "attendance": input.attendance,
            "minutes": input.minutes,
            "recommendations": input.recommendations,
        }
        return await _run(info, "recordDeliberation", input.topic_id, arguments)

    @strawberry.mutation
    async def assign_task(self, info: Ctx, input: AssignTaskInput) -> TopicPayload:
        arguments = {
            "handler_unit": input.handler_unit,
            "handler": input.handler,
            "requirement": input.requirement,
            "due": input.due,
        }
        return await _run(info, "assignTask", input.topic_id, arguments)

    @strawberry.mutation
    async def sign_task(self, info: Ctx, input: TaskInput) -> TopicPayload:
        return await _run(info, "signTask", input.topic_id, {"task_id": input.task_id})

    @strawberry.mutation
    async def report_task_progress(self, info: Ctx, input: TaskNoteInput) -> TopicPayload:
        arguments = {"task_id": input.task_id, "note": input.note}
        return await _run(info, "reportTaskProgress", input.topic_id, arguments)

    @strawberry.mutation
    async def supervise_task(self, info: Ctx, input: TaskNoteInput) -> TopicPayload:
        arguments = {"task_id": input.task_id, "note": input.note}
        return await _run(info, "superviseTask", input.topic_id, arguments)

    @strawberry.mutation
    async def extend_task_deadline(self, info: Ctx, input: ExtendTaskDeadlineInput) -> TopicPayload:
        arguments = {"task_id": input.task_id, "new_due": input.new_due, "reason": input.reason}
        return await _run(info, "extendTaskDeadline", input.topic_id, arguments)

    @strawberry.mutation
    async def complete_task(self, info: Ctx, input: CompleteTaskInput) -> TopicPayload:
        arguments = {"task_id": input.task_id, "result": input.result}
        return await _run(info, "completeTask", input.topic_id, arguments)

    @strawberry.mutation
    async def record_leader_instruction(
        self, info: Ctx, input: LeaderInstructionInput
    ) -> TopicPayload:
        return await _run(info, "recordLeaderInstruction", input.topic_id, {"text": input.text})

    @strawberry.mutation
    async def record_adoption(self, info: Ctx, input: AdoptionInput) -> TopicPayload:
        arguments = {"body": input.body, "text": input.text}
        return await _run(info, "recordAdoption", input.topic_id, arguments)

    @strawberry.mutation
    async def give_feedback(self, info: Ctx, input: FeedbackInput) -> TopicPayload:
        arguments = {"reply": input.reply, "channel": input.channel}
        return await _run(info, "giveFeedback", input.topic_id, arguments)

    @strawberry.mutation
    async def record_return_visit(self, info: Ctx, input: ReturnVisitInput) -> TopicPayload:
        arguments = {
            "contacted": input.contacted,
            "solved": input.solved,
            "satisfaction": input.satisfaction.value,
            "comment": input.comment,
        }
        return await _run(info, "recordReturnVisit", input.topic_id, arguments)

    @strawberry.mutation
    async def reopen_topic(self, info: Ctx, input: TopicReasonInput) -> TopicPayload:
        return await _run(info, "reopenTopic", input.topic_id, {"reason": input.reason})

    @strawberry.mutation
    async def close_topic(self, info: Ctx, input: CloseTopicInput) -> TopicPayload:
        return await _run(info, "closeTopic", input.topic_id, {"summary": input.summary})

    @strawberry.mutation
    async def withdraw_topic(self, info: Ctx, input: TopicReasonInput) -> TopicPayload:
        return await _run(info, "withdrawTopic", input.topic_id, {"reason": input.reason})

    @strawberry.mutation
    async def add_comment(self, info: Ctx, input: CommentInput) -> TopicPayload:
        return await _run(info, "addComment", input.topic_id, {"text": input.text})
