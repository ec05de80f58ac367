"""The REST commands, one table: path, contract command, body model, resource.

`rest_router()` registers one POST route per row of `ROUTES`. Each route
is a sync handler (FastAPI runs it in its threadpool) with a typed signature —
the row's body model, its path parameters, the bearer token, an optional
`Idempotency-Key` — so OpenAPI documents every body exactly.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from string import Formatter
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Request, Response

from api.auth import Principal
from api.commands import COMMAND_METHODS, parse_topic_id
from api.deps import CurrentPrincipal, StateDep
from api.rest import bodies as b
from api.rest.idempotency import (
    MAX_KEY_LENGTH,
    RETENTION,
    Answer,
    IdempotencyStore,
    Scope,
    fingerprint,
)
from api.rest.responses import REPLAYED_HEADER, CommandResponse, command_responses
from api.state import ApiState


@dataclass(frozen=True, slots=True)
class CommandRoute:
    path: str  # under /topics
    command: str  # the contract's mutation name
    body: type[b.Body]
    summary: str
    creates: bool = False  # 201 Created (200 when an externalRef finds the topic)


ROUTE = "POST /api/v1"  # the idempotency scope's route (the fingerprint holds the path)
EXTERNAL_REF = "external_ref"  # a body with it may find an existing topic instead


ROUTES: dict[str, list[CommandRoute]] = {
    "topics": [
        CommandRoute("", "submitTopic", b.SubmitTopicBody, "Submit a topic", creates=True),
        CommandRoute("/{topic_id}/determine", "determineTopic", b.NoteBody, "Determine (立题)"),
        CommandRoute("/{topic_id}/decline", "declineTopic", b.ReasonBody, "Decline"),
        CommandRoute("/{topic_id}/merge", "mergeTopic", b.MergeBody, "Merge into another topic"),
        CommandRoute(
            "/{topic_id}/reopen",
            "reopenTopic",
            b.ReasonBody,
            "Reopen after an unsatisfied return visit",
        ),
        CommandRoute("/{topic_id}/close", "closeTopic", b.CloseTopicBody, "Close"),
        CommandRoute("/{topic_id}/withdraw", "withdrawTopic", b.ReasonBody, "Withdraw"),
        CommandRoute("/{topic_id}/comments", "addComment", b.TextBody, "Comment"),
    ],
    "transfers": [
        CommandRoute("/{topic_id}/escalate", "escalateTopic", b.EscalateBody, "Escalate upward"),
        CommandRoute("/{topic_id}/delegate", "delegateTopic", b.DelegateBody, "Delegate downward"),
        CommandRoute(
            "/{topic_id}/transfer/accept",
            "acceptTransfer",
            b.NoteBody,
            "Accept the pending transfer",
        ),
        CommandRoute(
            "/{topic_id}/transfer/return",
            "returnTransfer",
            b.ReasonBody,
            "Return the pending transfer",
        ),
        CommandRoute(
            "/{topic_id}/transfer/cancel",
            "cancelTransfer",
            b.OptionalReasonBody,
            "Cancel the transfer this unit requested",
        ),
        CommandRoute("/{topic_id}/take-over", "takeOverTopic", b.ReasonBody, "Take over (提级)"),
        CommandRoute(
            "/{topic_id}/co-organizers",
            "inviteCoOrganizer",
            b.InviteCoOrganizerBody,
            "Invite a co-organiser (联动协商)",
        ),
    ],
    "research": [
        CommandRoute(
            "/{topic_id}/research/start", "startResearch", b.ResearchBody, "Start research"
        ),
        CommandRoute(
            "/{topic_id}/research/report", "reportResearch", b.ResearchBody, "Report research"
        ),
    ],
    "deliberations": [
        CommandRoute(
            "/{topic_id}/deliberations",
            "scheduleDeliberation",
            b.ScheduleDeliberationBody,
            "Schedule a deliberation (4+X)",
            creates=True,
        ),
        CommandRoute(
            "/{topic_id}/deliberations/{meeting_id}/record",
            "recordDeliberation",
            b.RecordDeliberationBody,
            "Record a deliberation as held",
        ),
    ],
    "tasks": [
        CommandRoute(
            "/{topic_id}/tasks", "assignTask", b.AssignTaskBody, "Assign a task", creates=True
        ),
        CommandRoute("/{topic_id}/tasks/{task_id}/sign", "signTask", b.TaskBody, "Sign a task"),
        CommandRoute(
            "/{topic_id}/tasks/{task_id}/progress",
            "reportTaskProgress",
            b.TaskNoteBody,
            "Report progress",
        ),
        CommandRoute(
            "/{topic_id}/tasks/{task_id}/supervise",
            "superviseTask",
            b.TaskNoteBody,
            "Supervise (督办)",
        ),
        CommandRoute(
            "/{topic_id}/tasks/{task_id}/extend",
            "extendTaskDeadline",
            b.ExtendTaskDeadlineBody,
            "Extend the deadline",
        ),
        CommandRoute(
            "/{topic_id}/tasks/{task_id}/complete",
            "completeTask",
            b.CompleteTaskBody,
            "Complete a task",
        ),
    ],
    "leadership": [
        CommandRoute(
            "/{topic_id}/leader-instructions",
            "recordLeaderInstruction",
            b.TextBody,
            "Record a leader's instruction (批示)",
        ),
        CommandRoute(
            "/{topic_id}/adoptions",
            "recordAdoption",
            b.AdoptionBody,
            "Record an adoption (成果采纳)",
        ),
    ],
    "feedback": [
        CommandRoute("/{topic_id}/feedback", "giveFeedback", b.FeedbackBody, "Give feedback"),
        CommandRoute(
            "/{topic_id}/return-visits",
            "recordReturnVisit",
            b.ReturnVisitBody,
            "Record a return visit",
        ),
    ],
}

PATH_PARAMETERS: dict[str, Any] = {
    "topic_id": Annotated[
        str, Path(max_length=b.MAX_ID, description="a topic UUID or its GraphQL Topic id")
    ],
    "meeting_id": Annotated[str, Path(max_length=b.MAX_NAME, description="e.g. M1")],
    "task_id": Annotated[str, Path(max_length=b.MAX_NAME, description="e.g. T1")],
}
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="a retry with the same key and request returns the first result "
        f"(for {RETENTION.total_seconds() / 3600:g} hours) instead of running the command again",
    ),
]


def rest_router() -> APIRouter:
    """Every command of `ROUTES`, one sub-router (and OpenAPI tag) per resource."""
    router = APIRouter()
    for resource, routes in ROUTES.items():
        router.include_router(command_router(resource, routes))
    return router


def command_router(resource: str, routes: list[CommandRoute]) -> APIRouter:
    router = APIRouter(prefix="/topics", tags=[resource])
    for route in routes:
        router.add_api_route(
            route.path,
            command_endpoint(route),
            methods=["POST"],
            status_code=201 if route.creates else 200,
            response_model=CommandResponse,
            responses=command_responses(
                created=route.creates, may_find=EXTERNAL_REF in route.body.model_fields
            ),
            summary=route.summary,
            operation_id=route.command,
        )
    return router


def command_endpoint(route: CommandRoute) -> Callable[..., CommandResponse]:
    """The handler of `route`, with the signature FastAPI reads its parameters from."""
    if route.command not in COMMAND_METHODS:
        raise ValueError(f"{route.command} is not a command of the contract")
    optional_body = b.all_optional(route.body)

    def endpoint(
        *,
        state: StateDep,
        principal: CurrentPrincipal,
        request: Request,
        response: Response,
        body: b.Body | None,
        idempotency_key: str | None,
        **path: str,
    ) -> CommandResponse:
        command = body if body is not None else route.body()
        answer = answer_command(route, state, principal, request, command, idempotency_key, path)
        response.status_code = answer.status
        if answer.replayed:
            response.headers[REPLAYED_HEADER] = "true"
        return CommandResponse.model_validate(answer.body)

    keyword = inspect.Parameter.KEYWORD_ONLY
    body_type: Any = route.body | None if optional_body else route.body
    parameters = [
        inspect.Parameter("state", keyword, annotation=StateDep),
        inspect.Parameter("principal", keyword, annotation=CurrentPrincipal),
        inspect.Parameter("request", keyword, annotation=Request),
        inspect.Parameter("response", keyword, annotation=Response),
        *(
            inspect.Parameter(name, keyword, annotation=PATH_PARAMETERS[name])
            for name in path_parameters(route.path)
        ),
        inspect.Parameter(
            "body",
            keyword,
            annotation=Annotated[body_type, Body()],
            default=None if optional_body else inspect.Parameter.empty,
        ),
        inspect.Parameter("idempotency_key", keyword, annotation=IdempotencyKey, default=None),
    ]
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=CommandResponse)  # type: ignore[attr-defined]
    endpoint.__name__ = endpoint.__qualname__ = COMMAND_METHODS[route.command]
    return endpoint


def path_parameters(path: str) -> list[str]:
    return [name for _, name, _, _ in Formatter().parse(path) if name]


def answer_command(
    route: CommandRoute,
    state: ApiState,
    principal: Principal,
    request: Request,
    command: b.Body,
    idempotency_key: str | None,
    path: dict[str, str],
) -> Answer:
    """Run the command, or replay the stored answer to an earlier request with the key."""
    topic_id = parse_topic_id(path.pop("topic_id")) if "topic_id" in path else None
    arguments = command.arguments() | path  # meeting_id, task_id

    def execute() -> Answer:
        result = state.commands.run(principal, route.command, topic_id, arguments)
        status = 201 if route.creates and not result.duplicate else 200
        return Answer(status, CommandResponse.of(result).model_dump(mode="json", by_alias=True))

    if idempotency_key is None:
        return execute()
    request_id = fingerprint(
        request.method, request.url.path, command.model_dump(mode="json", by_alias=True)
    )
    store = IdempotencyStore(state.reads)
    return store.once(Scope.of(principal, ROUTE), idempotency_key, request_id, execute)
