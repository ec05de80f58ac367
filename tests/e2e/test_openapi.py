"""The REST operations keep their OpenAPI promises under generated input (schemathesis).

Every operation under /api/v1 gets valid and invalid requests with a valid token;
no answer may be a server error, and every answer must have a documented status,
media type, headers and body. Half the valid requests act on a freshly submitted
topic rather than a made-up id, so their bodies reach the domain's checks too.

One live server serves every operation: the operations come from the server's
own /openapi.json, so they are driven here (`APIOperation.as_strategy`) rather
than collected by `schemathesis.pytest.from_fixture`.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.rest.audit import router as audit_router
from api.rest.reads import router as reads_router
from api.rest.routes import ROUTES
from domain.topic import Actor, Role
from tests.e2e.conftest import Live
from tests.utils.factories import VILLAGE, submission

Operation = APIOperation[Any, Any, Any, Any]
EXAMPLES = 10  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def test_every_rest_command_answers_as_documented(live: Live) -> None:
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json").include(
        path_regex="^/api/v1/"
    )
    operations: list[Operation] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    commands = sum(len(routes) for routes in ROUTES.values())
    reads = len(audit_router.routes) + len(reads_router.routes)
    assert len(operations) == commands + 1 + reads  # 1: topics:batch

    with requests.Session() as session:
        for operation in operations:
            for mode in GenerationMode:
                answers_as_documented(live, session, operation, mode)


def answers_as_documented(
    live: Live, session: requests.Session, operation: Operation, mode: GenerationMode
) -> None:
    token = live.headers(VILLAGE, Role.STAFF)["Authorization"]

    @given(case=operation.as_strategy(mode, headers={"authorization": token}))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case[Operation]) -> None:
        topic_id = (case.path_parameters or {}).get("topic_id")
        if mode == GenerationMode.POSITIVE and topic_id is not None and len(topic_id) % 2 == 0:
            case.path_parameters["topic_id"] = str(fresh_topic(live))
        case.call_and_validate(session=session, checks=CHECKS)

    try:
        check()
    except Exception as failure:
        failure.add_note(f"operation: {operation.label} ({mode.value} examples)")
        raise


def fresh_topic(live: Live) -> uuid.UUID:
    actor = Actor("staff-fuzz", VILLAGE, Role.STAFF)
    return live.server.state.runtime.app.submit_topic(actor, **submission()).topic_id
