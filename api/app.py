"""The FastAPI application: GraphQL, REST commands, health and metrics.

`create_app(state)` wires one process's `ApiState` into the routes; `api.entry.server`
builds the state and runs uvicorn.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import (
    CONNECTION_ERRORS,
    HTTP_STATUS,
    PROBLEM_JSON,
    RETRY_AFTER,
    database_unreachable,
    error_problem,
    problem,
    unavailable_error,
)
from api.limits import BodySizeLimit
from api.rest.batch import MAX_BATCH_BYTES
from api.rest.batch import PATH as BATCH_PATH_UNDER_V1
from api.state import ApiState
from domain.errors import LinkageError

log = logging.getLogger("linkage.api")
MAX_BODY_BYTES = 1_000_000
BATCH_PATH = "/api/v1" + BATCH_PATH_UNDER_V1
DESCRIPTION = """\
五级联动协商 — the Linkage API.

* `POST /graphql` — the GraphQL contract county apps build on (GraphiQL in a browser).
* `/api/v1/...` — the same commands as REST, for integrations. Send
  `Authorization: Bearer <token>` (`linkage token issue`); an `Idempotency-Key`
  header makes a retried command return its first result without new events.
* Errors are `application/problem+json` with `code` and a stable `rule` name.
"""


def create_app(state: ApiState, *, close_state: bool = False) -> FastAPI:
    """The application over `state`; with `close_state` it closes it at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if close_state:
            state.close()

    app = FastAPI(
        title="Linkage",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # api.dev_pages serves /docs with no CDN; no /redoc
        redoc_url=None,
    )
    app.state.api = state
    app.add_middleware(
        BodySizeLimit, max_bytes=MAX_BODY_BYTES, per_path={BATCH_PATH: MAX_BATCH_BYTES}
    )
    _install_error_handlers(app)

    from api.console import mount_console
    from api.dev_pages import install_docs
    from api.graphql.router import graphql_router
    from api.ops import router as ops_router
    from api.rest import router as rest_router

    app.include_router(graphql_router(), prefix="/graphql")
    app.include_router(rest_router, prefix="/api/v1")
    app.include_router(ops_router)
    install_docs(app)
    mount_console(app)  # last: the console's `/` must not shadow the routes above
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LinkageError)
    async def refused(request: Request, exc: LinkageError) -> JSONResponse:
        return _problem_response(error_problem(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e), "message": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors)
        return _problem_response(problem("BAD_INPUT", "INVALID_REQUEST", detail, errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND"}.get(
            exc.status_code, "BAD_INPUT"
        )
        body = problem(code, f"HTTP_{exc.status_code}", str(exc.detail))
        body["status"] = exc.status_code
        return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM_JSON)

    @app.exception_handler(psycopg.DataError)
    @app.exception_handler(UnicodeEncodeError)
    async def unstorable(request: Request, exc: Exception) -> JSONResponse:
        return _problem_response(
            problem(
                "BAD_INPUT", "UNSTORABLE_CHARACTER", "a value holds NUL or an unpaired surrogate"
            )
        )

    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return _problem_response(error_problem(unavailable_error()))

    for connection_error in CONNECTION_ERRORS:
        app.add_exception_handler(connection_error, database_down)

    @app.exception_handler(PersistenceError)
    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        if database_unreachable(exc):  # wrapped by a library (e.g. a PersistenceError)
            return await database_down(request, exc)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _problem_response(
            problem("INTERNAL", "INTERNAL_ERROR", "an internal error occurred; it was logged")
        )


def _field(error: Any) -> str:
    """The field a validation error names ('body' for a body that is not JSON)."""
    if error.get("type") == "json_invalid":
        return "body"
    return ".".join(str(p) for p in error["loc"] if p != "body") or "body"


def _problem_response(body: dict[str, object]) -> JSONResponse:
    status = HTTP_STATUS.get(str(body["code"]), 400)
    headers = {"Retry-After": RETRY_AFTER} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="linkage"'}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)
