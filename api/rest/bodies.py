"""Request bodies of the REST commands: the GraphQL inputs' fields, as camelCase JSON.

Each body is strict about its shape (unknown fields, wrong JSON types, naive
datetimes and over-long values are refused with the field named) and gives the
fields of its command (`arguments`, by the command's field names). Length limits are the
domain's own, so REST and GraphQL accept the same commands; the domain checks
the rest (blank text, unknown units, the rules of the procedure). List caps
(`MAX_ITEMS`) are the domain's too and only documented here (`maxItems`): the
domain refuses a longer list (TOO_MANY_ITEMS) on every protocol alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
)
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from domain.topic import (
    MAX_ITEMS,
    MAX_SHORT,
    MAX_TEXT,
    MAX_TITLE,
    ParticipantKind,
    Satisfaction,
    Source,
)

MAX_NAME = 100  # the domain's limit on names, categories, formats, channels
MAX_CODE = 32  # unit codes are 2 to 12 digits; room for other schemes
MAX_ID = 200  # topic ids: a UUID or a GraphQL global id
# A list's cap, documented in OpenAPI; the domain enforces it (TOO_MANY_ITEMS).
CAPPED: JsonDict = {"maxItems": MAX_ITEMS}


def _storable(value: str) -> str:
    # A NUL makes the read models fail (PostgreSQL text cannot hold it) and a lone
    # surrogate the event store (it cannot be encoded as UTF-8); the domain lets
    # both through, so they are refused here, where the field can be named.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


Storable = AfterValidator(_storable)
Title = Annotated[str, Field(max_length=MAX_TITLE), Storable]
LongText = Annotated[str, Field(max_length=MAX_TEXT), Storable]
ShortText = Annotated[str, Field(max_length=MAX_SHORT), Storable]
Name = Annotated[str, Field(max_length=MAX_NAME), Storable]
UnitCode = Annotated[str, Field(max_length=MAX_CODE), Storable]
TopicRef = Annotated[str, Field(max_length=MAX_ID, description="a topic UUID or Topic global id")]


def _integral(value: object) -> object:
    # JSON Schema counts 3.0 as an integer; strings and booleans stay refused.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Version = Annotated[int, BeforeValidator(_integral), Field(strict=True, ge=1, le=2**31 - 1)]
# An instant with its UTC offset ("2026-03-02T09:30:00+08:00"); naive times are refused.
Moment = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class Body(BaseModel):
    """A command body: camelCase JSON, no unknown fields."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)

    def arguments(self) -> dict[str, Any]:
        """The command's fields (`api.commands.command_of`; the names match them)."""
        return self.model_dump()


class TopicBody(Body):
    """A command on an existing topic; `expectedVersion` makes it optimistic."""

    expected_version: Version | None = Field(
        default=None,
        description="refuse with CONFLICT (VERSION_CONFLICT) unless the topic is at this version",
    )

    def arguments(self) -> dict[str, Any]:
        return self.model_dump(exclude={"expected_version"})


class SubmitTopicBody(Body):
    title: Title
    description: LongText
    category: Name
    source: Source
    location_unit: UnitCode
    submitter_name: Name | None = None
    submitter_phone: Name | None = None
    external_ref: ShortText | None = Field(
        default=None, description="the intake system's id: re-submitting it returns the topic"
    )

    def arguments(self) -> dict[str, Any]:
        submitter = {
            key: value
            for key, value in (("name", self.submitter_name), ("phone", self.submitter_phone))
            if value is not None
        }
        return {
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "source": self.source.value,
            "location": self.location_unit,
            "submitter": submitter or None,
            "external_ref": self.external_ref,
        }


class NoteBody(TopicBody):
    note: LongText | None = None


class ReasonBody(TopicBody):
    reason: LongText


class OptionalReasonBody(TopicBody):
    reason: LongText | None = None


class MergeBody(TopicBody):
    into_topic_id: TopicRef
    reason: LongText


class EscalateBody(TopicBody):
    to_unit: UnitCode | None = Field(default=None, description="an ancestor; default the parent")
    reason: LongText = Field(description="required when the escalation skips a level")


class DelegateBody(TopicBody):
    to_unit: UnitCode
    instructions: LongText
    due: Moment | None = None


class InviteCoOrganizerBody(TopicBody):
    unit: UnitCode
    note: LongText | None = None


class ResearchBody(TopicBody):
    text: LongText


class Participant(Body):
    name: Name
    kind: ParticipantKind
    member_id: Name | None = None


class ScheduleDeliberationBody(TopicBody):
    scheduled_at: Moment
    place: ShortText
    format: Name
    participants: list[Participant] = Field(
        json_schema_extra=CAPPED,
        description="4+X: members, cadres, departments and the public must all sit",
    )


class RecordDeliberationBody(TopicBody):
    attendance: list[Name] = Field(json_schema_extra=CAPPED)
    minutes: LongText
    recommendations: list[LongText] = Field(json_schema_extra=CAPPED)


class AssignTaskBody(TopicBody):
    handler_unit: UnitCode
    handler: Title
    requirement: LongText
    due: Moment


class TaskBody(TopicBody):
    pass


class TaskNoteBody(TopicBody):
    note: LongText


class ExtendTaskDeadlineBody(TopicBody):
    new_due: Moment
    reason: LongText


class CompleteTaskBody(TopicBody):
    result: LongText


class TextBody(TopicBody):
    text: LongText


class AdoptionBody(TopicBody):
    body: ShortText = Field(description="the body that adopted the outcome")
    text: LongText


class FeedbackBody(TopicBody):
    reply: LongText
    channel: Name | None = None


class ReturnVisitBody(TopicBody):
    contacted: StrictBool
    solved: StrictBool
    satisfaction: Satisfaction
    comment: LongText | None = None


class CloseTopicBody(TopicBody):
    summary: LongText


def all_optional(body: type[Body]) -> bool:
    """Whether `{}` is a valid body (then the body itself may be left out)."""
    return not any(field.is_required() for field in body.model_fields.values())
