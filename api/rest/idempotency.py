"""`Idempotency-Key`: a retried command answers its first result instead of running again.

The first successful answer for (scope, key) is stored in PostgreSQL with a
fingerprint of the request (method, path, body). A key's `Scope` is the token's
user, unit and roles and the route (REST's `POST /api/v1`, GraphQL's `POST
/graphql`): the same user id in another unit, or with other roles, or the same key
on the other protocol, is another key and never gets this answer replayed. A retry
with the same key and the same request gets the stored answer back; the same key on
another request is refused (CONFLICT, IDEMPOTENCY_KEY_REUSED). Refusals are not
stored, so a retry re-validates. Concurrent requests with one key are serialised by a transaction-
scoped advisory lock held while the command runs: the second waits, then replays.

Keys live for `RETENTION`. The answer is stored after the command's events are
committed (they live in the event store's own transaction), so a process dying
between the two leaves the key unused: a retry then runs the command again and
the domain judges it afresh (most commands are refused the second time; a
submission is safe only with an `externalRef`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from api.auth import Principal
from domain.errors import ConflictError

RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 200

# Until keys were scoped they lived in `api_idempotency` keyed on the user alone; its
# answers (24 hours at most) are dropped with it rather than replayed to a wider scope.
DROP_UNSCOPED = "DROP TABLE IF EXISTS api_idempotency"
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS api_idempotency_scoped (
    scope text NOT NULL,
    key text NOT NULL,
    fingerprint text NOT NULL,
    status smallint NOT NULL,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
)
"""
# Two processes creating the table at once would collide on the catalog's unique index.
LOCK_CREATION = "SELECT pg_advisory_xact_lock(hashtextextended('api_idempotency', 0))"
LOCK_KEY = "SELECT pg_advisory_xact_lock(hashtextextended(%s || chr(31) || %s, 0))"
SELECT_ANSWER = """
SELECT fingerprint, status, body FROM api_idempotency_scoped
WHERE scope = %s AND key = %s AND created_at > now() - %s
"""
PURGE_EXPIRED = "DELETE FROM api_idempotency_scoped WHERE scope = %s AND created_at <= now() - %s"
INSERT_ANSWER = """
INSERT INTO api_idempotency_scoped (scope, key, fingerprint, status, body)
VALUES (%s, %s, %s, %s, %s)
"""

Pool = ConnectionPool[psycopg.Connection[Any]]
_ready: weakref.WeakSet[Pool] = weakref.WeakSet()
_ready_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose stored answers a key names: one user, in one unit, with one set of roles,
    on one route."""

    user: str
    unit: str
    roles: tuple[str, ...]  # sorted: the same roles in another order are the same caller
    route: str

    @classmethod
    def of(cls, principal: Principal, route: str) -> Scope:
        roles = tuple(sorted(role.value for role in principal.roles))
        return cls(principal.user_id, principal.unit, roles, route)

    def text(self) -> str:
        """The stored form (JSON: no two scopes read the same)."""
        return json.dumps([self.user, self.unit, list(self.roles), self.route])


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def fingerprint(method: str, path: str, body: dict[str, Any]) -> str:
    """The request's identity: the same command on the same path with the same body."""
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def once(self, scope: Scope, key: str, request: str, run: Callable[[], Answer]) -> Answer:
        """The stored answer for (scope, key), or `run()`'s, stored if it succeeds."""
        self._create_table()
        owner = scope.text()
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(LOCK_KEY, (owner, key))
            row = conn.execute(SELECT_ANSWER, (owner, key, RETENTION)).fetchone()
            if row is not None:
                stored, status, body = row
                if stored != request:
                    raise ConflictError(
                        "IDEMPOTENCY_KEY_REUSED",
                        f"Idempotency-Key {key!r} was already used for a different request; "
                        "use a new key for a new request",
                    )
                return Answer(status, body, replayed=True)
            answer = run()
            conn.execute(PURGE_EXPIRED, (owner, RETENTION))
            conn.execute(INSERT_ANSWER, (owner, key, request, answer.status, Jsonb(answer.body)))
            return answer

    def _create_table(self) -> None:
        with _ready_lock:
            if self.pool in _ready:
                return
            with self.pool.connection() as conn, conn.transaction():
                conn.execute(LOCK_CREATION)
                conn.execute(DROP_UNSCOPED)
                conn.execute(CREATE_TABLE)
            _ready.add(self.pool)
