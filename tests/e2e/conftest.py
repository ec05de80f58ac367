"""A live API server over real HTTP, on the small Gansu slice of tests/utils."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from api.entry.server import RunningServer, running
from domain.topic import Role
from infra.bootstrap import Runtime


@dataclass
class Live:
    """A running server and tokens for it."""

    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, unit: str, *roles: Role | str, user: str | None = None) -> str:
        chosen = [Role(str(r).upper()) for r in roles] or [Role.STAFF]
        return self.server.state.tokens.issue(unit, chosen, user_id=user)

    def headers(self, unit: str, *roles: Role | str, user: str | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.token(unit, *roles, user=user)}


@pytest.fixture
def live(small_runtime: Runtime) -> Iterator[Live]:
    with running(small_runtime) as server:
        yield Live(server)
