"""The annual consultation plan as it is issued: GET /api/v1/plans/{unit}/{year}/export
as .xlsx or CSV (with a BOM), Chinese column names, one row per item. Same sight as
GraphQL's consultationPlan: a plan whose unit the token does not see reads as
missing (404 PLAN_NOT_FOUND)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.deps import CurrentPrincipal, StateDep
from api.errors import PROBLEM_JSON
from api.rest.responses import PROBLEM_SCHEMA
from domain.errors import BadInputError, NotFoundError
from domain.plan import PLAN_KIND_LABELS, PlanKind
from infra.audit_format import check_format
from infra.tables import Cell, csv_bytes, xlsx_bytes
from projections.plans import queries as plan_queries
from projections.plans.queries import PlanRow
from projections.units.queries import units_by_code

FORMATS = ("xlsx", "csv")
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
STATE_LABELS = {"PLANNED": "计划中", "DONE": "已完成", "CANCELLED": "已取消"}
PLAN_STATE_LABELS = {"DRAFT": "草稿", "SUBMITTED": "已报审", "APPROVED": "已批准"}
HEADER = (
    "序号",
    "协商形式",
    "议题名称",
    "计划时间",
    "牵头领导",
    "牵头专委会",
    "议题来源",
    "状态",
    "是否逾期",
    "完成时间（北京时间）",
    "关联议题",
    "调整记录",
)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
    for status, description in {
        400: "A bad format or year (INVALID_FORMAT, YEAR_OUT_OF_RANGE)",
        401: "No bearer token, or an invalid or expired one",
        404: "No plan of that unit and year, or not in the token's sight (PLAN_NOT_FOUND)",
        503: "The database cannot be reached; retry after the Retry-After seconds",
    }.items()
}

router = APIRouter(tags=["plans"])


def plan_table(plan: PlanRow) -> list[list[Cell]]:
    return [
        [
            n,
            PLAN_KIND_LABELS[PlanKind(item.kind)],
            item.title,
            item.planned_for,
            item.lead_leader,
            item.lead_committee,
            item.origin,
            STATE_LABELS.get(item.state, item.state),
            item.overdue,
            item.done_at,
            "；".join(item.topic_ids),
            "；".join(f"{a.change}（{a.reason}）" for a in item.adjustments),
        ]
        for n, item in enumerate(plan.items, start=1)
    ]


@router.get(
    "/plans/{unit}/{year}/export",
    summary="The unit's consultation plan for the year as .xlsx or CSV (UTF-8 with BOM)",
    response_class=Response,
    responses={
        200: {
            "description": "One row per item, Chinese column names, times in China time",
            "content": {MEDIA_TYPES["xlsx"]: {}, "text/csv": {}},
        },
        **PROBLEMS,
    },
)
def export_plan(
    state: StateDep,
    principal: CurrentPrincipal,
    unit: Annotated[str, Path(max_length=12, description="the committee unit's code")],
    year: Annotated[int, Path(description="the plan's year")],
    format: Annotated[str, Query(description="xlsx or csv")] = "xlsx",
) -> Response:
    fmt = str(check_format(format, FORMATS))
    if not 2000 <= year <= 2100:
        raise BadInputError("YEAR_OUT_OF_RANGE", f"year {year} is outside 2000–2100")
    now = datetime.now(UTC)
    with state.reads.connection() as conn:
        plan = plan_queries.plan_of(conn, principal.unit, unit, year, now)
        if plan is None:
            raise NotFoundError("PLAN_NOT_FOUND", f"unit {unit} has no plan for {year}")
        names = units_by_code(conn, [unit])
    name = names[unit].name if unit in names else unit
    rows = plan_table(plan)
    title = f"{name}{year}年度协商计划（{PLAN_STATE_LABELS.get(plan.state, plan.state)}）"
    if plan.issued_by:
        title += "　联合印发：" + "、".join(plan.issued_by)
    body = (
        xlsx_bytes(f"{year}年度协商计划", HEADER, rows, title)
        if fmt == "xlsx"
        else csv_bytes(HEADER, rows)
    )
    filename = f"plan-{unit}-{year}.{fmt}"
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
