"""FastAPI dependencies: the process's `ApiState` and the caller's `Principal`."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import Depends, Header, Request

from api.auth import Principal, UnauthenticatedError
from api.errors import UnavailableError
from api.state import ApiState
from domain.errors import LinkageError


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


def get_principal(
    state: StateDep,
    authorization: Annotated[
        str | None, Header(description="Bearer token from `linkage token issue`")
    ] = None,
) -> Principal:
    return state.tokens.principal(authorization)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def request_principal(request: Request) -> Principal | LinkageError:
    """The caller of a request's token, or why there is none (UNAUTHENTICATED, or
    UNAVAILABLE when the token's unit cannot be looked up): verified once per request
    (GraphQL's context and its router both ask), in a worker thread since the unit is
    looked up in the database."""
    cached = getattr(request.state, "linkage_principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    state: ApiState = request.app.state.api
    header = request.headers.get("authorization")
    try:
        found: Principal | LinkageError = await to_thread.run_sync(state.tokens.principal, header)
    except (UnauthenticatedError, UnavailableError) as err:
        found = err
    request.state.linkage_principal = found
    return found
