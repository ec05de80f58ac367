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

from domain.errors import LinkageError

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


class UnavailableError(LinkageError):
    """The database cannot be reached, or the read models lag beyond the wait."""

    code = "UNAVAILABLE"


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
