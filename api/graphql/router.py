"""POST /graphql (and GraphiQL on GET, vendored: api.dev_pages), with the read
models' position in every authenticated response's `extensions` and error codes
on every error.

* `extensions.readModels` is answered only to a valid token: it is the store's
  global head, nothing for an anonymous caller. When it cannot be read (the
  database went away after a command committed) an answer that holds data still
  goes out, with `readModels: null` and a note (`readModelsUnavailable`): the
  command's result is never replaced by a 503, and an answer whose errors say
  UNAVAILABLE (the database is down) keeps them.
* A mutation sent with an `Idempotency-Key` header runs once: a retry with the
  same key and the same request (query, variables, operation name) gets the first
  answer back (`Idempotent-Replayed: true`); the same key on another request is
  refused (409, CONFLICT / IDEMPOTENCY_KEY_REUSED). The store is REST's
  (api.rest.idempotency), scoped to the token's user, unit and roles and to this
  route. Only an answer that holds data is stored, so a refusal is re-judged.
* An answer larger than `MAX_RESPONSE_BYTES` is refused (BAD_INPUT /
  RESPONSE_TOO_LARGE) rather than sent; a mutation's answer always goes out.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from anyio import from_thread, to_thread
from cross_web import HTTPException as GraphQLHTTPError
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse
from graphql import (
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
)
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from api.auth import Principal
from api.deps import request_principal
from api.dev_pages import graphiql_page
from api.errors import HTTP_STATUS, RETRY_AFTER, database_unreachable, unavailable_error
from api.graphql.context import get_context
from api.graphql.schema import MAX_TOKENS, build_schema, format_error
from api.rest.idempotency import MAX_KEY_LENGTH, Answer, IdempotencyStore, Scope, fingerprint
from api.rest.responses import REPLAYED_HEADER
from api.state import ApiState
from domain.errors import ConflictError

log = logging.getLogger("linkage.graphql")

MAX_RESPONSE_BYTES = 8_000_000
CACHED_READINGS = 1000  # documents whose operation is remembered (clients repeat theirs)
CACHED_QUERY_CHARS = 20_000  # larger documents are not remembered


def loads(body: bytes | str) -> Any:
    """JSON as `json.loads` reads it, by orjson where it can (4× faster); what orjson
    refuses and `json` takes (an unpaired surrogate escape, a huge integer) or refuses
    otherwise goes to `json`, so every answer and refusal stays as it was."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


ROUTE = "POST /graphql"  # the idempotency scope's route


class LinkageGraphQLRouter(GraphQLRouter[Any, None]):
    def decode_json(self, data: str | bytes) -> object:
        return loads(data)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return graphiql_page(request)  # strawberry's page, with no CDN (api.dev_pages)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [format_error(e) for e in result.errors]
        extensions = await _extensions(request, answered=_answered(result.data))
        if extensions is not None:
            response["extensions"] = extensions
        return response

    async def run(  # type: ignore[override]
        self, request: Request | WebSocket, context: Any = None, root_value: Any = None
    ) -> Response | WebSocket:
        if not isinstance(request, Request) or request.method != "POST":
            return await self._answer(request, context, root_value)
        reading = await _read(request)
        if reading.refusal is not None:
            return await _refused(request, reading.refusal, 400)
        if reading.operation is OperationType.MUTATION:
            key = request.headers.get("idempotency-key")
            if key is not None and reading.payload is not None:
                return await self._once(request, key, reading.payload, context, root_value)
            return await self._answer(request, context, root_value)
        answer = await self._answer(request, context, root_value)
        size = len(getattr(answer, "body", b""))
        if size > MAX_RESPONSE_BYTES:
            message = (
                f"the answer has {size:,} bytes; the limit is {MAX_RESPONSE_BYTES:,}: "
                "ask for smaller pages or fewer fields"
            )
            return await _refused(request, message, 400, rule="RESPONSE_TOO_LARGE")
        return answer

    async def _answer(
        self, request: Request | WebSocket, context: Any, root_value: Any
    ) -> Response | WebSocket:
        try:
            return await super().run(request, context=context, root_value=root_value)
        except GraphQLHTTPError as exc:
            assert isinstance(request, Request)
            return await _refused(request, exc.reason, exc.status_code)

    async def _once(
        self,
        request: Request,
        key: str,
        payload: dict[str, Any],
        context: Any,
        root_value: Any,
    ) -> Response | WebSocket:
        """The mutation run at most once for (caller, key): see the module doc."""
        principal = await _principal(request)
        if principal is None:  # UNAUTHENTICATED, as without the key
            return await self._answer(request, context, root_value)
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            message = (
                f"Idempotency-Key has {len(key)} characters; it must have 1 to {MAX_KEY_LENGTH}"
            )
            return await _refused(request, message, 400, rule="IDEMPOTENCY_KEY_INVALID")
        state: ApiState = request.app.state.api
        identity = {k: payload.get(k) for k in ("query", "variables", "operationName")}
        request_id = fingerprint("POST", "/graphql", identity)

        def run() -> Answer:
            response = from_thread.run(self._answer, request, context, root_value)
            assert isinstance(response, Response)
            body = json.loads(bytes(response.body))
            if response.status_code != 200 or not _answered(body.get("data")):
                raise _NotStoredError(response)  # nothing ran: a retry is judged afresh
            body.pop("extensions", None)  # answered afresh on a replay
            return Answer(response.status_code, body)

        store = IdempotencyStore(state.reads)
        try:
            answer = await to_thread.run_sync(
                lambda: store.once(Scope.of(principal, ROUTE), key, request_id, run)
            )
        except _NotStoredError as exc:
            return exc.response
        except ConflictError as exc:
            return await _refused(
                request, exc.message, HTTP_STATUS[exc.code], code=exc.code, rule=exc.rule
            )
        except Exception as exc:  # the key's store is in the database too
            if not database_unreachable(exc):
                raise
            down = unavailable_error()
            log.warning("database unavailable for an idempotent mutation: %s", exc)
            refusal = await _refused(request, down.message, 200, code=down.code, rule=down.rule)
            refusal.headers["Retry-After"] = RETRY_AFTER
            return refusal
        return await self._respond(request, answer, replayed=answer.replayed)

    async def _respond(self, request: Request, answer: Answer, *, replayed: bool) -> Response:
        body = dict(answer.body)
        extensions = await _extensions(request, answered=True)
        if extensions is not None:
            body["extensions"] = extensions
        headers = {REPLAYED_HEADER: "true"} if replayed else None
        return JSONResponse(body, status_code=answer.status, headers=headers)


class _NotStoredError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("not stored")
        self.response = response


@dataclass(frozen=True, slots=True)
class _Reading:
    refusal: str | None = None  # why the body is not one GraphQL request
    operation: OperationType | None = None  # the operation that would run, if known
    payload: dict[str, Any] | None = None


async def _read(request: Request) -> _Reading:
    """The POST body as one GraphQL request: a refusal when it is not one, else the
    operation it would run (None when it is not JSON at all: strawberry answers other
    content types itself, or when strawberry reports its syntax error)."""
    if "json" not in request.headers.get("content-type", ""):
        return _Reading()
    body = await request.body()  # cached: strawberry reads it again
    try:
        payload = loads(body)
    except (ValueError, RecursionError):
        return _Reading("the body is not valid UTF-8 JSON")
    if not isinstance(payload, dict):
        return _Reading("the body must be a JSON object with a 'query' string")
    query, name = payload.get("query"), payload.get("operationName")
    if not isinstance(query, str) or not (name is None or isinstance(name, str)):
        return _Reading(payload=payload)
    refusal, operation = _operation_of(query, name)
    return _Reading(refusal, operation, payload)


def _operation_of(query: str, name: str | None) -> tuple[str | None, OperationType | None]:
    """The operation a document would run: a refusal, or the operation (None when
    strawberry will report the syntax error). Documents up to CACHED_QUERY_CHARS are
    parsed once per (document, name); a larger one every time (no cache to fill)."""
    if len(query) <= CACHED_QUERY_CHARS:
        return _cached_operation_of(query, name)
    return _parsed_operation_of(query, name)


def _parsed_operation_of(query: str, name: str | None) -> tuple[str | None, OperationType | None]:
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except (GraphQLError, RecursionError):
        return None, None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None and len(operations) > 1:
        return "the document holds several operations; name one with operationName", None
    operation = get_operation_ast(document, name)
    return None, None if operation is None else operation.operation


_cached_operation_of = functools.lru_cache(maxsize=CACHED_READINGS)(_parsed_operation_of)


async def _principal(request: Request) -> Principal | None:
    """The caller of a valid token, or None."""
    found = await request_principal(request)
    return found if isinstance(found, Principal) else None


def _answered(data: object) -> bool:
    """Whether an answer holds data (a mutation answered is a command committed)."""
    return isinstance(data, dict) and any(value is not None for value in data.values())


async def _extensions(request: Request, *, answered: bool) -> dict[str, Any] | None:
    """The read models' standing for a valid token (None for anyone else). If the
    database cannot be reached, the answer (its data, or its errors, which then say
    UNAVAILABLE) still goes out with `readModels: null` and a note."""
    if await _principal(request) is None:
        return None
    state: ApiState = request.app.state.api
    try:
        return await to_thread.run_sync(lambda: read_models(state))
    except Exception as exc:
        if not (answered or database_unreachable(exc)):
            raise
        log.warning("the read models' standing could not be read for an answer: %r", exc)
        return {
            "readModels": None,
            "readModelsUnavailable": "the read models' position could not be read (the "
            "database cannot be reached); the answer itself stands",
        }


async def _refused(
    request: Request,
    message: str,
    status: int,
    *,
    code: str = "BAD_INPUT",
    rule: str = "GRAPHQL_REQUEST_INVALID",
) -> JSONResponse:
    body: dict[str, Any] = {
        "data": None,
        "errors": [{"message": message, "extensions": {"code": code, "rule": rule}}],
    }
    extensions = await _extensions(request, answered=False)
    if extensions is not None:
        body["extensions"] = extensions
    return JSONResponse(body, status_code=status)


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
