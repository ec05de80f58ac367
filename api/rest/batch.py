"""`POST /api/v1/topics:batch`: many submissions at once, for intake systems (12345).

Each item is a `SubmitTopicBody` answered on its own — created, a duplicate of
the topic its `externalRef` already names, or refused with the code, rule and
message a single submission would get — so one bad item never fails the others.
The accepted items are saved in one transaction through the event store's bulk
path. The request as a whole is refused only when it is not a batch at all (not
an object with 1 to `MAX_BATCH_ITEMS` objects), too large, or the token may not
submit topics.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal, cast

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from api.deps import CurrentPrincipal, StateDep
from api.metrics import COMMAND_SECONDS, COMMANDS_TOTAL
from api.rest.bodies import SubmitTopicBody
from api.rest.responses import command_responses
from domain.access import COMMAND_ROLES, acting_role, may_act
from domain.application import BatchResult, Outcome, Submission
from domain.errors import ForbiddenError

MAX_BATCH_ITEMS = 1000
MAX_BATCH_BYTES = 16_000_000  # the body limit of this route (others: api.app.MAX_BODY_BYTES)
PATH = "/topics:batch"
COMMAND = "submitTopics"
SINGLE = "submitTopic"  # the command each item is


class SubmitTopicsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description="the submissions, each a `SubmitTopicBody` object (title, description, "
        "category, source, locationUnit, optional submitterName, submitterPhone, "
        f"externalRef); 1 to {MAX_BATCH_ITEMS} per request. An item that is not a valid "
        "submission is answered with its error in `results`, not refused with the batch.",
    )


class ItemResult(BaseModel):
    """The answer to one item, at the item's index."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)

    index: int
    status: Literal["CREATED", "DUPLICATE", "ERROR"]
    topic_id: uuid.UUID | None = Field(
        description="the new topic, or for a DUPLICATE the topic its externalRef names"
    )
    code: str | None = Field(description="for an ERROR: BAD_INPUT, FORBIDDEN, NOT_FOUND, …")
    rule: str | None = Field(description="for an ERROR: the rule, e.g. UNIT_NOT_FOUND")
    message: str | None = Field(description="for an ERROR: what was wrong, naming the values")


class SubmitTopicsResponse(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)

    position: int = Field(
        description="the event-store position reached: pass it as GraphQL `consistentWith`"
    )
    created: int
    duplicates: int
    errors: int
    results: list[ItemResult]


def batch_router() -> APIRouter:
    router = APIRouter(tags=["topics"])
    responses = command_responses(created=False, may_find=False)
    responses[200] = {"model": SubmitTopicsResponse, "description": "Every item answered"}
    router.add_api_route(
        PATH,
        submit_topics,
        methods=["POST"],
        response_model=SubmitTopicsResponse,
        responses=responses,
        summary=f"Submit up to {MAX_BATCH_ITEMS} topics at once (intake)",
        operation_id=COMMAND,
    )
    return router


def submit_topics(
    state: StateDep, principal: CurrentPrincipal, body: SubmitTopicsBody
) -> SubmitTopicsResponse:
    # the batch acts in the role a single submission would (domain.access)
    if not may_act(principal.roles, SINGLE):
        names = ", ".join(sorted(r.value for r in COMMAND_ROLES[SINGLE]))
        raise ForbiddenError(
            "ROLE_NOT_PERMITTED",
            f"role {principal.roles[0].value} may not submit topics; allowed roles: {names}",
        )
    role = acting_role(principal.roles, SINGLE)
    started = time.perf_counter()
    parsed: dict[int, Submission] = {}
    invalid: dict[int, ItemResult] = {}
    for index, item in enumerate(body.items):
        try:
            parsed[index] = cast(Submission, SubmitTopicBody.model_validate(item).arguments())
        except ValidationError as err:
            invalid[index] = _invalid(index, err)
    indexes = sorted(parsed)
    if indexes:
        result = state.commands.app.submit_topics(
            principal.actor(role), [parsed[i] for i in indexes]
        )
    else:
        result = BatchResult([], state.commands.app.head_position())
    answered = {i: _answer(i, o) for i, o in zip(indexes, result.outcomes, strict=True)}
    results = [answered.get(i) or invalid[i] for i in range(len(body.items))]
    counts = {s: sum(r.status == s for r in results) for s in ("CREATED", "DUPLICATE", "ERROR")}
    for status, count in counts.items():
        COMMANDS_TOTAL.labels(COMMAND, "OK" if status != "ERROR" else "ITEM_ERROR").inc(count)
    COMMAND_SECONDS.labels(COMMAND).observe(time.perf_counter() - started)
    return SubmitTopicsResponse(
        position=result.position,
        created=counts["CREATED"],
        duplicates=counts["DUPLICATE"],
        errors=counts["ERROR"],
        results=results,
    )


def _answer(index: int, outcome: Outcome) -> ItemResult:
    if outcome.error is not None:
        err = outcome.error
        return ItemResult(
            index=index,
            status="ERROR",
            topic_id=None,
            code=err.code,
            rule=err.rule,
            message=err.message,
        )
    return ItemResult(
        index=index,
        status="DUPLICATE" if outcome.duplicate else "CREATED",
        topic_id=outcome.topic_id,
        code=None,
        rule=None,
        message=None,
    )


def _invalid(index: int, err: ValidationError) -> ItemResult:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg']}" for e in err.errors()
    )
    return ItemResult(
        index=index,
        status="ERROR",
        topic_id=None,
        code="BAD_INPUT",
        rule="INVALID_REQUEST",
        message=problems,
    )
