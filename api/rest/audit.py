"""The auditors' reads over REST (issue 6): a topic's history (as of an instant) and
the streamed export of a unit's events.

Who may (`domain.access`, the one access policy): a token with the AUDITOR or the
LEADER role (leaders answer for their unit's record); anyone else is refused with
`FORBIDDEN / AUDIT_ROLE_REQUIRED`.
Scope: the token's subtree, as everywhere — a unit outside it reads as unknown
(`NOT_FOUND / UNIT_NOT_FOUND`), a topic out of sight as missing
(`NOT_FOUND / TOPIC_NOT_FOUND`). An export of a unit is the intersection of what
that unit sees and what the token sees (the same visibility as `topic(id)`): a
village's involvement in another area's topic does not show that topic to the
auditors and leaders above the village. The export streams (`StreamingResponse`, a page of
topics at a time, on a connection of its own): memory stays flat whatever the
window holds, and the read pool stays free for the API's other reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from api.commands import parse_topic_id
from api.deps import CurrentPrincipal, StateDep
from api.errors import PROBLEM_JSON
from api.rest.responses import PROBLEM_SCHEMA
from domain.access import may_audit_unit, require_audit_role
from domain.errors import NotFoundError
from infra.audit_format import check_format, chunked, formatted
from projections.audit import (
    EXPORT_COLUMNS,
    UnitNames,
    export_rows,
    export_window,
    topic_history,
    unit_path,
)

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
    for status, description in {
        400: "Invalid parameter: a time without offset, an inverted window, a bad format or id",
        401: "No bearer token, or an invalid or expired one",
        403: "The token has neither the AUDITOR nor the LEADER role (AUDIT_ROLE_REQUIRED)",
        404: "The unit or topic does not exist or is outside the token's sight",
        503: "The database cannot be reached; retry after the Retry-After seconds",
    }.items()
}

router = APIRouter(tags=["audit"])


@router.get(
    "/audit/export",
    summary="Export every event of the topics a unit sees that the token sees too (streamed)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "CSV (header first) or JSON lines, one event per row, unit names "
            "as they were at the time; personal data never included",
            "content": {"text/csv": {}, "application/x-ndjson": {}},
        },
        **PROBLEMS,
    },
)
def export(
    state: StateDep,
    principal: CurrentPrincipal,
    unit: Annotated[
        str | None, Query(max_length=12, description="default: the token's unit")
    ] = None,
    from_: Annotated[
        datetime | None, Query(alias="from", description="inclusive, with an offset")
    ] = None,
    to: Annotated[datetime | None, Query(description="exclusive, with an offset")] = None,
    format: Annotated[str, Query(description="csv or jsonl")] = "jsonl",
) -> StreamingResponse:
    require_audit_role(principal.roles)
    fmt = check_format(format)
    # the unit's topics that the token sees too (the token's unit is the viewer)
    window = export_window(unit or principal.unit, from_, to, viewer=principal.unit)
    with state.reads.connection() as conn:
        path = unit_path(conn, window.unit)
    if not may_audit_unit(principal.roles, principal.unit, path):  # out of reach: unknown
        raise NotFoundError("UNIT_NOT_FOUND", f"unit {window.unit!r} does not exist")
    app = state.runtime.app

    def body() -> Iterator[bytes]:
        # a connection of its own, not one of the read pool's: a province's export
        # runs for minutes and must not hold back the API's reads meanwhile
        with state.runtime.database.connect() as conn:
            names = UnitNames.load(conn, app)
            yield from chunked(formatted(export_rows(conn, window, names), fmt, EXPORT_COLUMNS))

    filename = f"linkage-{window.unit}.{fmt}"
    return StreamingResponse(
        body(),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/topics/{topic_id}/history",
    summary="A topic's decision history; with asOf, its state then and the history up to then",
    responses=PROBLEMS,
)
def history(
    state: StateDep,
    principal: CurrentPrincipal,
    topic_id: Annotated[str, Path(max_length=100, description="a topic UUID or Topic id")],
    as_of: Annotated[
        datetime | None, Query(alias="asOf", description="an instant with its offset")
    ] = None,
) -> dict[str, Any]:
    require_audit_role(principal.roles)
    tid = parse_topic_id(topic_id, "topic_id")
    with state.reads.connection() as conn:
        return topic_history(conn, state.runtime.app, tid, as_of, viewer=principal.unit).document()
