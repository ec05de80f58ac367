"""The plans read model on real PostgreSQL: what it shows, the DONE of meeting kinds
whichever of the link and the held deliberation comes first, and incremental ==
rebuild."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain.plan_commands import (
    AddPlanItem,
    AdjustPlanItem,
    ApprovePlan,
    CancelPlanItem,
    CompletePlanItem,
    DraftPlan,
    LinkPlanItem,
    SubmitPlan,
    handle_plan,
)
from domain.topic_commands import DetermineTopic, RecordDeliberation, ScheduleDeliberation
from infra.bootstrap import Runtime
from projections.plans import queries as plan_queries
from tests.utils.factories import (
    COUNTY,
    FULL_PANEL,
    SIBLING_COUNTY,
    TOWNSHIP,
    leader,
    staff,
    submission,
)
from tests.utils.views import read_model_tables

YEAR = 2026
PLAN_TABLES = ("plans", "plan_items", "plan_links", "plan_held")


def _topic(runtime: Runtime, unit: str) -> uuid.UUID:
    app = runtime.app
    topic_id = app.submit_topic(staff(unit), **submission(location=unit)).topic_id
    app.handle(staff(unit), DetermineTopic(topic_id=topic_id, note="立题"))
    return topic_id


def _hold(runtime: Runtime, unit: str, topic_id: uuid.UUID) -> str:
    app = runtime.app
    meeting = app.handle(
        staff(unit),
        ScheduleDeliberation(
            topic_id=topic_id,
            scheduled_at=datetime.now(UTC) + timedelta(days=1),
            place="区政协会议室",
            format="双月协商座谈会",
            participants=FULL_PANEL,
        ),
    ).created_id
    assert meeting is not None
    app.handle(
        staff(unit),
        RecordDeliberation(
            topic_id=topic_id,
            meeting_id=meeting,
            attendance=[str(p["name"]) for p in FULL_PANEL],
            minutes="议定。",
            recommendations=["加快推进"],
        ),
    )
    return meeting


def test_the_plans_view_shows_the_year_and_a_rebuild_is_the_same(small_runtime: Runtime) -> None:
    app, rt = small_runtime.app, small_runtime
    plan = handle_plan(app, staff(COUNTY), DraftPlan(unit=COUNTY, year=YEAR)).created_id
    assert plan is not None
    for kind, title, period in [
        ("BIMONTHLY", "双月协商：加装电梯", "2026-05"),  # linked, then held
        ("SPECIAL", "专题协商：营商环境", "2026-Q2"),  # held, then linked to its meeting
        ("RESEARCH", "乡村振兴调研", "2026-02"),  # linked, held, but not a meeting kind
        ("SECTOR", "界别协商", "2026-11"),  # cancelled
        ("OTHER", "其他", "2026-03"),  # completed by hand
    ]:
        handle_plan(
            app,
            staff(COUNTY),
            AddPlanItem(
                plan_id=plan, kind=kind, title=title, planned_for=period, origin="党委点题"
            ),
        )
    handle_plan(app, staff(COUNTY), SubmitPlan(plan_id=plan))
    handle_plan(app, leader(COUNTY), ApprovePlan(plan_id=plan, issued_by=["县委办", "县政协办"]))
    first, second = _topic(rt, COUNTY), _topic(rt, COUNTY)
    handle_plan(app, staff(COUNTY), LinkPlanItem(plan_id=plan, item_id="I1", topic_id=str(first)))
    handle_plan(app, staff(COUNTY), LinkPlanItem(plan_id=plan, item_id="I3", topic_id=str(first)))
    _hold(rt, COUNTY, first)
    meeting = _hold(rt, COUNTY, second)
    handle_plan(
        app,
        staff(COUNTY),
        LinkPlanItem(plan_id=plan, item_id="I2", topic_id=str(second), meeting_id=meeting),
    )
    handle_plan(
        app,
        leader(COUNTY),
        AdjustPlanItem(plan_id=plan, item_id="I4", planned_for="2026-12", reason="报请同意"),
    )
    handle_plan(app, leader(COUNTY), CancelPlanItem(plan_id=plan, item_id="I4", reason="并入"))
    handle_plan(app, staff(COUNTY), CompletePlanItem(plan_id=plan, item_id="I5"))
    other = handle_plan(app, staff(SIBLING_COUNTY), DraftPlan(unit=SIBLING_COUNTY, year=YEAR))
    handle_plan(
        app,
        staff(SIBLING_COUNTY),
        AddPlanItem(
            plan_id=str(other.created_id), kind="SECTOR", title="界别协商", planned_for="2026-01"
        ),
    )

    runner = rt.projections
    runner.catch_up()
    now = datetime(2026, 7, 1, tzinfo=UTC)
    with rt.database.connect() as conn:
        shown = plan_queries.plan_of(conn, TOWNSHIP, COUNTY, YEAR, now)
        hidden = plan_queries.plan_of(conn, SIBLING_COUNTY, COUNTY, YEAR, now)
        counts = plan_queries.plan_counts(conn, [COUNTY, SIBLING_COUNTY, TOWNSHIP], YEAR, now)
    assert hidden is None
    assert shown is not None
    assert shown.state == "APPROVED"
    assert shown.issued_by == ("县委办", "县政协办")
    states = {i.item_id: (i.state, i.overdue, i.done_at is not None) for i in shown.items}
    assert states == {
        "I1": ("DONE", False, True),
        "I2": ("DONE", False, True),
        "I3": ("PLANNED", True, False),
        "I4": ("CANCELLED", False, False),
        "I5": ("DONE", False, True),
    }
    items = {i.item_id: i for i in shown.items}
    assert items["I1"].topic_ids == (str(first),)
    assert items["I2"].meeting_ids == (meeting,)
    assert [a.reason for a in items["I4"].adjustments] == ["报请同意", "并入"]
    assert items["I4"].planned_for == "2026-12"
    assert {u: (c.planned, c.done, c.overdue) for u, c in counts.items()} == {
        COUNTY: (4, 3, 1),
        SIBLING_COUNTY: (1, 0, 1),
    }

    incremental = {t: rows for t, rows in read_model_tables(rt).items() if t in PLAN_TABLES}
    assert all(incremental[t] for t in PLAN_TABLES)
    runner.rebuild("plans", lambda schema: rt.database.datastore(schema=schema))
    rebuilt = {t: rows for t, rows in read_model_tables(rt).items() if t in PLAN_TABLES}
    assert rebuilt == incremental
