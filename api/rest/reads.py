"""The reads an integration needs over REST (issue 21): a unit's inbox and a topic's
timeline, beside the commands.

The same queries and the same visibility as GraphQL's `inbox` and `timeline`
(`projections.topics.queries`, `projections.timeline.queries`): a unit outside the
token's sight is `NOT_FOUND / UNIT_NOT_FOUND`, a topic out of sight reads exactly as
a missing one, `404 TOPIC_NOT_FOUND`. Codes come with their Chinese names (`stageName`,
`reasonName`, `typeName`, `roleName`), times with their offset, pages by cursor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from api.commands import parse_topic_id
from api.deps import CurrentPrincipal, StateDep
from api.errors import PROBLEM_JSON, UnavailableError
from api.personal import open_submitter
from api.rest.responses import PROBLEM_SCHEMA
from api.state import ApiState
from domain import labels
from domain.access import may_read_personal_data, reads_personal_data
from domain.errors import BadInputError
from projections import queries
from projections.paging import MAX_FIRST
from projections.timeline.view import EventRow
from projections.topics.rows import InboxRow, TopicRow

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
    for status, description in {
        400: "Invalid parameter: a bad cursor, `first` out of 0–100, a bad topic id",
        401: "No bearer token, or an invalid or expired one",
        404: "The unit or topic does not exist or is outside the token's sight",
        503: "The database cannot be reached, or the read models are behind consistentWith",
    }.items()
}


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)


class UnitRef(Model):
    code: str
    name: str = Field(description="单位名称 / the unit's name")
    level: str = Field(description="PROVINCE … VILLAGE")
    level_name: str = Field(description="层级的中文名 / the level in Chinese")


class TopicSummary(Model):
    topic_id: str
    title: str
    category: str
    source: str
    stage: str
    stage_name: str = Field(description="阶段的中文名 / the stage in Chinese")
    owner: UnitRef = Field(description="当前承办单位 / the unit holding it now")
    location: UnitRef
    version: int
    overdue: bool
    submitted_at: datetime
    updated_at: datetime


class InboxItemOut(Model):
    topic: TopicSummary
    reason: str = Field(description="OWNED | TRANSFER_PENDING | TASK_TO_SIGN | TASK_TO_COMPLETE")
    reason_name: str = Field(description="待办原因的中文名 / the reason in Chinese")
    task_id: str | None
    due: datetime | None
    since: datetime
    overdue: bool


class Page(Model):
    total_count: int = Field(description="总数（不止本页）/ how many in all")
    has_next_page: bool
    end_cursor: str | None = Field(description="传给 after 取下一页 / pass as `after`")


class InboxPage(Page):
    items: list[InboxItemOut]


class ActorOut(Model):
    user_id: str
    unit: UnitRef
    role: str
    role_name: str = Field(description="角色的中文名 / the role in Chinese")


class EventOut(Model):
    position: int
    version: int
    type: str
    type_name: str = Field(description="事件的中文名 / the event in Chinese")
    occurred_at: datetime
    actor: ActorOut
    reason: str | None
    data: dict[str, Any] = Field(
        description="the event's fields as stored (snake_case); personal data only for "
        "the owner's staff and leaders, as in GraphQL"
    )


class TimelinePage(Page):
    events: list[EventOut]


First = Annotated[int, Query(ge=0, le=MAX_FIRST, description="本页最多几项 / at most (≤ 100)")]
After = Annotated[str | None, Query(max_length=500, description="上一页的 endCursor")]
ConsistentWith = Annotated[
    int | None,
    Query(
        alias="consistentWith",
        description="wait until the read models reach this position (a command's `position`)",
    ),
]

router = APIRouter(tags=["reads"])


@router.get(
    "/inbox",
    summary="A unit's inbox (待办): what it must act on, overdue first",
    response_model=InboxPage,
    responses=PROBLEMS,
)
def inbox(
    state: StateDep,
    principal: CurrentPrincipal,
    unit: Annotated[
        str | None, Query(max_length=12, description="default: the token's unit")
    ] = None,
    first: First = 50,
    after: After = None,
    consistent_with: ConsistentWith = None,
) -> InboxPage:
    _consistent(state, consistent_with)
    now = datetime.now(UTC)
    with state.reads.connection() as conn:
        page = queries.inbox_page(
            conn, principal.unit, unit=unit, now=now, first=first, after=after
        )
    return InboxPage(
        items=[_inbox_item(state, row, now) for row in page.items],
        total_count=page.total_count or 0,
        has_next_page=page.has_next,
        end_cursor=page.end_cursor,
    )


@router.get(
    "/topics/{topic_id}/timeline",
    summary="A topic's decision history (决策记录), in version order",
    response_model=TimelinePage,
    responses=PROBLEMS,
)
def timeline(
    state: StateDep,
    principal: CurrentPrincipal,
    topic_id: Annotated[str, Path(max_length=100, description="a topic UUID or Topic id")],
    first: First = 50,
    after: After = None,
    consistent_with: ConsistentWith = None,
) -> TimelinePage:
    tid = str(parse_topic_id(topic_id, "topic_id"))
    _consistent(state, consistent_with)
    with state.reads.connection() as conn:
        page = queries.timeline_page(conn, principal.unit, tid, first=first, after=after)
        owner = None
        if reads_personal_data(principal.roles) and any(
            r.type == "TopicSubmitted" for r in page.items
        ):
            row = queries.topic(conn, principal.unit, tid)
            owner = None if row is None else row.owner
    submitter = None
    if owner is not None and may_read_personal_data(principal.roles, principal.unit, owner):
        submitter = open_submitter(state.runtime, tid)
    return TimelinePage(
        events=[_event(state, row, submitter) for row in page.items],
        total_count=page.total_count or 0,
        has_next_page=page.has_next,
        end_cursor=page.end_cursor,
    )


def _consistent(state: ApiState, position: int | None) -> None:
    if position is None:
        return
    runner = state.runtime.projections
    head = runner.head()
    if position < 0 or position > head:
        raise BadInputError(
            "POSITION_OUT_OF_RANGE",
            f"consistentWith {position} is not a store position (the head is {head})",
        )
    try:
        runner.wait_for(position, state.consistency_timeout)
    except TimeoutError as exc:
        raise UnavailableError("READ_MODEL_BEHIND", f"{exc}; retry shortly") from None


def _unit(state: ApiState, code: str) -> UnitRef:
    unit = state.runtime.units.get(code)
    level = unit.level if unit else None
    return UnitRef(
        code=code,
        name=unit.name if unit else code,
        level=level.name if level else "",
        level_name=labels.LEVEL[level] if level else "",
    )


def _topic(state: ApiState, row: TopicRow, now: datetime) -> TopicSummary:
    return TopicSummary(
        topic_id=row.topic_id,
        title=row.title,
        category=row.category,
        source=row.source,
        stage=row.stage,
        stage_name=labels.label(row.stage),
        owner=_unit(state, row.owner),
        location=_unit(state, row.location),
        version=row.version,
        overdue=row.overdue(now),
        submitted_at=row.submitted_at,
        updated_at=row.updated_at,
    )


def _inbox_item(state: ApiState, row: InboxRow, now: datetime) -> InboxItemOut:
    return InboxItemOut(
        topic=_topic(state, row.topic, now),
        reason=row.item,
        reason_name=labels.INBOX_REASON.get(row.item, row.item),
        task_id=row.task_id or None,
        due=row.due,
        since=row.since,
        overdue=row.overdue,
    )


def _event(state: ApiState, row: EventRow, submitter: dict[str, Any] | None) -> EventOut:
    data = row.data
    if row.type == "TopicSubmitted":  # the sealed submitter, opened only for the owner
        data = {**data, "submitter": submitter}
    return EventOut(
        position=row.position,
        version=row.version,
        type=row.type,
        type_name=labels.EVENT.get(row.type, row.type),
        occurred_at=row.occurred_at,
        actor=ActorOut(
            user_id=row.actor_user,
            unit=_unit(state, row.actor_unit),
            role=row.actor_role,
            role_name=labels.label(row.actor_role),
        ),
        reason=row.reason,
        data=data,
    )
