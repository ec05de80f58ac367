"""How refusals cross the API boundary: codes, HTTP statuses, problem documents.

A `LinkageError` carries the contract's code and a stable rule name; REST renders
it as `application/problem+json` (RFC 9457) with the same code and rule, GraphQL
as an error whose `extensions` carry them. Two codes exist beyond the contract's
six, for failures of infrastructure rather than of the request: UNAVAILABLE (the
database is unreachable, or the read models did not reach `consistentWith` in
time: retry later) and INTERNAL (a bug; the details go to the log, never to the
client).
"""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing import persistence

from domain.errors import LinkageError
from infra.pools import DatabaseUnreachableError

HTTP_STATUS = {
    "BAD_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "RULE_VIOLATION": 422,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}
PROBLEM_JSON = "application/problem+json"
RETRY_AFTER = "1"  # seconds, on every 503
# what a lost or refused connection raises: the driver, the pool (PoolTimeout is an
# OperationalError), eventsourcing's wrappers of both, and infra.pools' fast failure
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
    DatabaseUnreachableError,
)
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"


class UnavailableError(LinkageError):
    """The database cannot be reached, or the read models lag beyond the wait."""

    code = "UNAVAILABLE"


def database_unreachable(exc: BaseException | None) -> bool:
    """Whether `exc` (or what it wraps) says the database cannot be reached just now."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, CONNECTION_ERRORS):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def unavailable_error() -> UnavailableError:
    """The refusal every protocol gives while the database cannot be reached."""
    return UnavailableError(
        DATABASE_UNAVAILABLE,
        f"the database cannot be reached just now; retry in {RETRY_AFTER} s "
        "(a command sent with an Idempotency-Key header is safe to retry)",
    )


def problem(code: str, rule: str, detail: str, **extra: Any) -> dict[str, Any]:
    status = HTTP_STATUS.get(code, 400)
    return {
        "type": f"https://linkage.example/problems/{rule.lower().replace('_', '-')}",
        "title": rule,
        "status": status,
        "detail": detail,
        "code": code,
        "rule": rule,
        **extra,
    }


def error_problem(err: LinkageError) -> dict[str, Any]:
    return problem(err.code, err.rule, err.message)
