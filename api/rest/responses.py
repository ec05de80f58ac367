"""What the REST commands answer: the command result, and problems documented in OpenAPI."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from api.errors import PROBLEM_JSON
from domain.application import CommandResult

REPLAYED_HEADER = "Idempotent-Replayed"


class CommandResponse(BaseModel):
    """The topic the command acted on and the event-store position it reached."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)

    topic_id: uuid.UUID
    version: int = Field(description="the topic's version after the command")
    position: int = Field(
        description="the event-store position reached: pass it as GraphQL `consistentWith`"
    )
    created_id: str | None = Field(description="the new meetingId or taskId, if any")
    duplicate: bool = Field(description="true when an externalRef re-submission found the topic")

    @classmethod
    def of(cls, result: CommandResult) -> CommandResponse:
        return cls(
            topic_id=result.topic_id,
            version=result.version,
            position=result.position,
            created_id=result.created_id,
            duplicate=result.duplicate,
        )


# An RFC 9457 problem document (api.errors.problem); `code` and `rule` are the
# contract's. Inline rather than a $ref: FastAPI registers components only for
# models it documents as application/json, and these answers are problem+json.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "rule"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "rule": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_PROBLEM_STATUSES = {
    400: "Invalid request: the body, a header or a path parameter (`code` BAD_INPUT)",
    401: "No bearer token, or an invalid or expired one",
    403: "The token's role or unit may not run this command",
    404: "The topic, unit, task or meeting does not exist or is not visible to the token",
    409: "The topic moved on (VERSION_CONFLICT, CONCURRENT_UPDATE) or the "
    "Idempotency-Key was used for another request (IDEMPOTENCY_KEY_REUSED)",
    413: "The request body is larger than the server accepts",
    422: "The command breaks a rule of the procedure (`code` RULE_VIOLATION)",
    503: "The database cannot be reached; retry after the Retry-After seconds",
}


def command_responses(*, created: bool, may_find: bool) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` of a command route: its successes and every problem."""
    replayed = {
        REPLAYED_HEADER: {
            "description": "`true` when this is the stored answer to an earlier request "
            "with the same Idempotency-Key",
            "schema": {"type": "string", "enum": ["true"]},
        }
    }
    success = {"model": CommandResponse, "headers": replayed}
    documented: dict[int | str, dict[str, Any]] = {}
    if created:
        documented[201] = success | {"description": "Done: the topic, meeting or task is new"}
    if not created or may_find:
        documented[200] = success | {
            "description": "An externalRef re-submission: the existing topic (`duplicate`)"
            if created
            else "Done"
        }
    for status, description in _PROBLEM_STATUSES.items():
        documented[status] = {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
    return documented
