"""FastAPI dependencies: the process's `ApiState` and the caller's `Principal`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from api.auth import Principal
from api.state import ApiState


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
