"""What one API process holds: the runtime, the token service, the read pool.

Built once per process (`ApiState.open`), closed on shutdown; request handlers
reach it through `api.deps`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from api.auth import TokenService
from api.commands import CommandService
from api.metrics import SQL_STATEMENTS
from infra.bootstrap import Runtime
from infra.pools import harden
from infra.secret import signing_secret

READ_POOL_SIZE = 8
CONSISTENCY_TIMEOUT = 5.0  # seconds a `consistentWith` read waits at most


class CountingCursor(psycopg.Cursor[Any]):
    """Counts the statements reads run (the DataLoader test and /metrics read it)."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        SQL_STATEMENTS.inc()
        return super().execute(*args, **kwargs)


@dataclass
class ApiState:
    runtime: Runtime
    tokens: TokenService
    commands: CommandService
    reads: ConnectionPool[psycopg.Connection[Any]]
    projecting: bool  # whether this process runs the projection runner itself
    consistency_timeout: float = CONSISTENCY_TIMEOUT
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def open(cls, runtime: Runtime, *, projecting: bool) -> ApiState:
        reads: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            runtime.database.conninfo,
            min_size=1,
            max_size=READ_POOL_SIZE,
            kwargs={"autocommit": True, "cursor_factory": CountingCursor},
            open=True,
            name="linkage-reads",
        )
        harden(reads)  # live connections only; fail fast in an outage (infra.pools)
        state = cls(
            runtime=runtime,
            # the units view itself, not the cached directory: a retirement counts at once
            tokens=TokenService(signing_secret(runtime.settings), runtime.units_view),
            commands=CommandService(runtime.app),
            reads=reads,
            projecting=projecting,
        )
        read_models = runtime.open_read_models()  # creates the read-model tables if missing
        if projecting:
            read_models.start()
        return state

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.projecting:
                self.runtime.projections.stop()
            self.reads.close()
