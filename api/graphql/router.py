"""POST /graphql (and GraphiQL on GET), with the read models' position in every
response's `extensions` and error codes on every error."""

from __future__ import annotations

import json
from typing import Any

from anyio import to_thread
from cross_web import HTTPException as GraphQLHTTPError
from fastapi import Request
from fastapi.responses import JSONResponse
from graphql import GraphQLError, OperationDefinitionNode, parse
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from api.graphql.context import get_context
from api.graphql.schema import MAX_TOKENS, build_schema, format_error
from api.state import ApiState


class LinkageGraphQLRouter(GraphQLRouter[Any, None]):
    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [format_error(e) for e in result.errors]
        state: ApiState = request.app.state.api
        response["extensions"] = await to_thread.run_sync(lambda: read_models(state))
        return response

    async def run(  # type: ignore[override]
        self, request: Request | WebSocket, context: Any = None, root_value: Any = None
    ) -> Response | WebSocket:
        if isinstance(request, Request) and request.method == "POST":
            refusal = await _unreadable(request)
            if refusal is not None:
                return await _refused(request, refusal, 400)
        try:
            return await super().run(request, context=context, root_value=root_value)
        except GraphQLHTTPError as exc:
            assert isinstance(request, Request)
            return await _refused(request, exc.reason, exc.status_code)


async def _unreadable(request: Request) -> str | None:
    """Why a POST body is not one GraphQL request (None when it is, or when it is
    not JSON at all: strawberry answers other content types itself)."""
    if "json" not in request.headers.get("content-type", ""):
        return None
    body = await request.body()  # cached: strawberry reads it again
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return "the body is not valid UTF-8 JSON"
    if not isinstance(payload, dict):
        return "the body must be a JSON object with a 'query' string"
    query, name = payload.get("query"), payload.get("operationName")
    if isinstance(query, str) and name is None:
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except (GraphQLError, RecursionError):
            return None  # strawberry reports the syntax error itself
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) > 1:
            return "the document holds several operations; name one with operationName"
    return None


async def _refused(request: Request, message: str, status: int) -> JSONResponse:
    state: ApiState = request.app.state.api
    extensions = await to_thread.run_sync(lambda: read_models(state))
    error = {
        "message": message,
        "extensions": {"code": "BAD_INPUT", "rule": "GRAPHQL_REQUEST_INVALID"},
    }
    return JSONResponse(
        {"data": None, "errors": [error], "extensions": extensions}, status_code=status
    )


def read_models(state: ApiState) -> dict[str, Any]:
    """Where the read models stand: their position, the store head and the lag."""
    with state.reads.connection() as conn:  # autocommit: one round trip
        position, head = state.runtime.projections.standing(conn)
    return {"readModels": {"position": position, "head": head, "lag": max(head - position, 0)}}


def graphql_router() -> LinkageGraphQLRouter:
    return LinkageGraphQLRouter(
        build_schema(),
        context_getter=get_context,
        graphql_ide="graphiql",
        allow_queries_via_get=False,
    )
