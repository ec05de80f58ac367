"""The per-request GraphQL context: the caller, one `now`, DataLoaders, DB access.

Built fresh for every request (DataLoaders are never shared between requests).
Database work runs in worker threads, each statement on a pooled connection, so
the event loop never blocks on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from anyio import to_thread
from eventsourcing.domain import Aggregate
from fastapi import Request
from psycopg import Connection
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from api.auth import Principal, UnauthenticatedError
from api.deps import request_principal
from api.errors import UnavailableError
from api.personal import open_submitter
from api.state import ApiState
from domain.access import may_read_personal_data, may_read_topic, reads_personal_data
from domain.application import CommandResult
from domain.errors import BadInputError, LinkageError, NotFoundError
from domain.plan_commands import AnyPlanCommand
from domain.topic_commands import Command
from projections import queries
from projections.audit import events_as_of, replayed_topic
from projections.queries import TopicRow, UnitRow

T = TypeVar("T")


class Context(BaseContext):
    def __init__(
        self,
        state: ApiState,
        request: Request,
        principal: Principal | None,
        auth_error: LinkageError | None,
    ) -> None:
        super().__init__()
        self.state = state
        self.request = request
        self.principal = principal
        self.auth_error = auth_error
        self.now = datetime.now(UTC)  # one instant for the whole request
        self.units: DataLoader[str, UnitRow | None] = DataLoader(load_fn=self._load_units)
        self._submitters: dict[str, dict[str, Any] | None] = {}

    # -- who asks ----------------------------------------------------------------------

    @property
    def viewer(self) -> Principal:
        """The caller; UNAUTHENTICATED for a missing, invalid or expired token (or
        UNAVAILABLE when the token's unit could not be looked up)."""
        if self.principal is None:
            raise self.auth_error or UnauthenticatedError(
                "TOKEN_MISSING", "send a bearer token: Authorization: Bearer <token>"
            )
        return self.principal

    # -- database ----------------------------------------------------------------------

    async def db(self, fn: Callable[[Connection[Any]], T]) -> T:
        """Run `fn` with a pooled connection in a worker thread."""

        def run() -> T:
            with self.state.reads.connection() as conn:
                return fn(conn)

        return await to_thread.run_sync(run)

    async def _load_units(self, codes: list[str]) -> Sequence[UnitRow | None]:
        found = await self.db(lambda conn: queries.units_by_code(conn, codes))
        return [found.get(code) for code in codes]

    async def unit(self, code: str) -> UnitRow:
        """A unit a visible topic or the hierarchy names (it always exists)."""
        row = await self.units.load(code)
        if row is None:  # an unknown code stands alone, as the read models treat it
            return UnitRow(code, code, 0, None, (code,), False)
        return row

    # -- personal data ---------------------------------------------------------------------

    async def submitter(self, topic_id: str) -> dict[str, Any] | None:
        """The topic's submitter as the viewer may see them (domain.access), once per request."""
        if topic_id not in self._submitters:
            self._submitters[topic_id] = await self._submitter(topic_id)
        return self._submitters[topic_id]

    async def _submitter(self, topic_id: str) -> dict[str, Any] | None:
        viewer, runtime = self.viewer, self.state.runtime
        if not reads_personal_data(viewer.roles):
            return None
        row = await self.db(lambda conn: queries.topic(conn, viewer.unit, topic_id))
        if row is None or not may_read_personal_data(viewer.roles, viewer.unit, row.owner):
            return None
        return await to_thread.run_sync(lambda: open_submitter(runtime, topic_id))

    # -- read your writes --------------------------------------------------------------

    async def consistent(self, position: int | None) -> None:
        """Wait until the read models have processed `position` (bounded)."""
        if position is None:
            return
        runner = self.state.runtime.projections
        head = await to_thread.run_sync(runner.head)
        if position < 0 or position > head:
            raise BadInputError(
                "POSITION_OUT_OF_RANGE",
                f"consistentWith {position} is not a store position (the head is {head})",
            )
        timeout = self.state.consistency_timeout
        try:
            await to_thread.run_sync(lambda: runner.wait_for(position, timeout))
        except TimeoutError as exc:
            raise UnavailableError("READ_MODEL_BEHIND", f"{exc}; retry shortly") from None

    async def replayed_topic(
        self, topic_id: uuid.UUID, version: int | None = None
    ) -> TopicRow | None:
        """The topic replayed from the event store by the read model's own code; with
        `version`, as it stood at that version (as a command left it, whatever
        commands came after). None when the viewer cannot see the topic now: the same
        rule as `topic(id)`, judged on the store (the read models may lag a command)."""
        app, viewer = self.state.runtime.app, self.viewer.unit

        def replayed() -> TopicRow | None:
            try:
                if not may_read_topic(viewer, app.get_topic(topic_id), app.units):
                    return None
            except NotFoundError:
                return None
            events = app.events.get(topic_id, lte=version)
            return replayed_topic(cast(Iterable[Aggregate.Event], events), app.units)

        return await to_thread.run_sync(replayed)

    async def topic_as_of(self, topic_id: uuid.UUID, at: datetime) -> TopicRow | None:
        """The topic as it stood at `at` if the viewer sees it (now); None otherwise or
        before it existed. One worker thread and one connection: the visibility check,
        then the time → version index and the events up to then in one statement."""
        app, viewer = self.state.runtime.app, self.viewer.unit

        def as_of(conn: Connection[Any]) -> TopicRow | None:
            if queries.topic(conn, viewer, str(topic_id)) is None:
                return None
            return replayed_topic(events_as_of(conn, app, topic_id, at), app.units)

        return await self.db(as_of)

    # -- commands ----------------------------------------------------------------------

    async def command(self, command: Command | AnyPlanCommand) -> CommandResult:
        viewer = self.viewer
        return await to_thread.run_sync(lambda: self.state.commands.run(viewer, command))


async def get_context(request: Request) -> Context:
    state: ApiState = request.app.state.api
    found = await request_principal(request)
    if isinstance(found, LinkageError):
        return Context(state=state, request=request, principal=None, auth_error=found)
    return Context(state=state, request=request, principal=found, auth_error=None)
