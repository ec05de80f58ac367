"""POST /graphql (and GraphiQL on GET), with the read models' position in every
response's `extensions` and error codes on every error."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from cross_web import HTTPException as GraphQLHTTPError
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from api.graphql.context import get_context
from api.graphql.schema import build_schema, format_error
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
        try:
            return await super().run(request, context=context, root_value=root_value)
        except GraphQLHTTPError as exc:
            return JSONResponse(
                {
                    "data": None,
                    "errors": [
                        {
                            "message": exc.reason,
                            "extensions": {"code": "BAD_INPUT", "rule": "GRAPHQL_REQUEST_INVALID"},
                        }
                    ],
                },
                status_code=exc.status_code,
            )


def read_models(state: ApiState) -> dict[str, Any]:
    """Where the read models stand: their position, the store head and the lag."""
    runner = state.runtime.projections
    position, head = runner.position(), runner.head()
    return {"readModels": {"position": position, "head": head, "lag": max(head - position, 0)}}


def graphql_router() -> LinkageGraphQLRouter:
    return LinkageGraphQLRouter(
        build_schema(),
        context_getter=get_context,
        graphql_ide="graphiql",
        allow_queries_via_get=False,
    )
