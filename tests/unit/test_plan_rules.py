"""Every rule of the annual consultation plan, its allowed and its refused path.

All commands go through the one entry point (`handle_plan`) on the in-memory store.
A refusal names its rule and the values, and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from domain.application import CommandResult, LinkageApp
from domain.errors import (
    BadInputError,
    ConflictError,
    ForbiddenError,
    LinkageError,
    NotFoundError,
    RuleViolationError,
)
from domain.plan import (
    MEETING_KINDS,
    PLAN_KIND_LABELS,
    ConsultationPlan,
    PlanItemState,
    PlanKind,
    PlanState,
    is_item_overdue,
    parse_period,
    plan_id_of,
)
from domain.plan_commands import (
    PLAN_COMMANDS,
    AddPlanItem,
    AdjustPlanItem,
    AnyPlanCommand,
    ApprovePlan,
    CancelPlanItem,
    CompletePlanItem,
    DraftPlan,
    LinkPlanItem,
    SubmitPlan,
    handle_plan,
    visible_plan,
)
from domain.topic import Actor, Role
from tests.utils.factories import (
    CITY,
    COUNTY,
    PROVINCE,
    SIBLING_COUNTY,
    START,
    TOWNSHIP,
    VILLAGE,
    actor,
    in_memory_app,
    leader,
    staff,
    submission,
)

YEAR = 2026


def run(app: LinkageApp, by: Actor, command: AnyPlanCommand) -> CommandResult:
    return handle_plan(app, by, command)


def refuse(
    app: LinkageApp, error: type[LinkageError], rule: str, call: Callable[[], object], *names: str
) -> LinkageError:
    head = app.head_position()
    with pytest.raises(error) as info:
        call()
    err = info.value
    assert type(err) is error, f"{type(err).__name__}: {err}"
    assert err.rule == rule, str(err)
    for name in names:
        assert name in err.message, f"{name!r} is not named in {err.message!r}"
    assert app.head_position() == head, "a refused command recorded an event"
    return err


def drafted(app: LinkageApp, unit: str = COUNTY, *, items: int = 1) -> str:
    plan_id = run(app, staff(unit), DraftPlan(unit=unit, year=YEAR)).created_id
    assert plan_id is not None
    for n in range(items):
        run(
            app,
            staff(unit),
            AddPlanItem(
                plan_id=plan_id, kind="BIMONTHLY", title=f"双月协商 {n + 1}", planned_for="2026-05"
            ),
        )
    return plan_id


def approved(app: LinkageApp, unit: str = COUNTY) -> str:
    plan_id = drafted(app, unit)
    run(app, staff(unit), SubmitPlan(plan_id=plan_id))
    run(
        app,
        leader(unit),
        ApprovePlan(plan_id=plan_id, issued_by=["县委办", "县政府办", "县政协办"]),
    )
    return plan_id


def plan(app: LinkageApp, plan_id: str) -> ConsultationPlan:
    return visible_plan(app, leader(PROVINCE), plan_id)


@pytest.fixture
def app() -> LinkageApp:
    return in_memory_app()


# -- the vocabulary ------------------------------------------------------------------------


def test_every_kind_has_a_chinese_label_and_the_commands_name_the_contract_mutations() -> None:
    assert set(PLAN_KIND_LABELS) == set(PlanKind)
    assert PLAN_KIND_LABELS[PlanKind.BIMONTHLY] == "双月协商"
    assert set(PlanKind) > MEETING_KINDS
    assert [c.name for c in PLAN_COMMANDS] == [
        "draftPlan",
        "addPlanItem",
        "submitPlan",
        "approvePlan",
        "adjustPlanItem",
        "linkPlanItem",
        "completePlanItem",
        "cancelPlanItem",
    ]


@pytest.mark.parametrize("text", ["2026-05", "2026-Q2", "2026-12", "2026-Q4", "2026-01"])
def test_a_month_or_a_quarter_is_a_period(text: str) -> None:
    assert parse_period(text).text == text


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "2026-00", "2026-Q0", "2026/05", "", "May"])
def test_a_malformed_period_is_refused(text: str) -> None:
    with pytest.raises(BadInputError) as info:
        parse_period(text)
    assert info.value.rule == "PERIOD_INVALID"
    assert repr(text) in info.value.message


def test_overdue_is_the_period_over_in_china_time_and_not_done() -> None:
    # May 2026 ends at 2026-06-01 00:00 China time = 2026-05-31 16:00 UTC.
    assert not is_item_overdue("2026-05", "PLANNED", datetime(2026, 5, 31, 15, 59, tzinfo=UTC))
    assert is_item_overdue("2026-05", "PLANNED", datetime(2026, 5, 31, 16, 0, tzinfo=UTC))
    assert not is_item_overdue("2026-05", "DONE", datetime(2026, 7, 1, tzinfo=UTC))
    assert not is_item_overdue("2026-05", "CANCELLED", datetime(2026, 7, 1, tzinfo=UTC))
    assert is_item_overdue("2026-Q1", "PLANNED", datetime(2026, 3, 31, 16, 0, tzinfo=UTC))
    assert not is_item_overdue("2026-Q4", "PLANNED", datetime(2026, 12, 31, 15, 0, tzinfo=UTC))


# -- draft ---------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", [PROVINCE, CITY, COUNTY, TOWNSHIP])
def test_staff_draft_the_plan_of_their_unit_with_a_deterministic_id(
    app: LinkageApp, unit: str
) -> None:
    result = run(app, staff(unit), DraftPlan(unit=unit, year=YEAR))
    assert result.topic_id == plan_id_of(unit, YEAR)
    assert result.created_id == str(result.topic_id)
    assert plan(app, str(result.topic_id)).state == PlanState.DRAFT


def test_a_second_plan_for_the_same_unit_and_year_is_refused(app: LinkageApp) -> None:
    drafted(app)
    refuse(
        app,
        ConflictError,
        "PLAN_EXISTS",
        lambda: run(app, staff(COUNTY), DraftPlan(unit=COUNTY, year=YEAR)),
        COUNTY,
        str(YEAR),
    )
    run(app, staff(COUNTY), DraftPlan(unit=COUNTY, year=YEAR + 1))  # another year is fine


def test_a_plan_is_drafted_by_staff_of_its_own_unit_only(app: LinkageApp) -> None:
    refuse(
        app,
        ForbiddenError,
        "PLAN_NOT_OWN_UNIT",
        lambda: run(app, staff(CITY), DraftPlan(unit=COUNTY, year=YEAR)),
        COUNTY,
        CITY,
    )
    refuse(
        app,
        ForbiddenError,
        "ROLE_NOT_PERMITTED",
        lambda: run(app, actor(COUNTY, Role.HANDLER), DraftPlan(unit=COUNTY, year=YEAR)),
        "HANDLER",
    )


def test_a_village_drafts_no_plan_and_the_year_must_be_plausible(app: LinkageApp) -> None:
    refuse(
        app,
        RuleViolationError,
        "PLAN_UNIT_LEVEL",
        lambda: run(app, staff(VILLAGE), DraftPlan(unit=VILLAGE, year=YEAR)),
        VILLAGE,
    )
    refuse(
        app,
        BadInputError,
        "PLAN_YEAR_INVALID",
        lambda: run(app, staff(COUNTY), DraftPlan(unit=COUNTY, year=1900)),
        "1900",
    )
    refuse(
        app,
        NotFoundError,
        "UNIT_NOT_FOUND",
        lambda: run(app, staff("629999"), DraftPlan(unit="629999", year=YEAR)),
        "629999",
    )


# -- items ---------------------------------------------------------------------------------


def test_items_are_added_with_their_kind_period_and_leads(app: LinkageApp) -> None:
    plan_id = drafted(app, items=0)
    result = run(
        app,
        staff(COUNTY),
        AddPlanItem(
            plan_id=plan_id,
            kind="SPECIAL",
            title="优化营商环境专题协商",
            planned_for="2026-Q2",
            lead_leader="王副主席",
            lead_committee="经济委",
            origin="党委点题",
        ),
    )
    assert result.created_id == "I1"
    item = plan(app, plan_id).items["I1"]
    assert (item.kind, item.planned_for, item.lead_committee) == (
        PlanKind.SPECIAL,
        "2026-Q2",
        "经济委",
    )


def test_an_item_outside_the_plans_year_is_refused(app: LinkageApp) -> None:
    plan_id = drafted(app, items=0)
    refuse(
        app,
        BadInputError,
        "PLAN_ITEM_OUTSIDE_YEAR",
        lambda: run(
            app,
            staff(COUNTY),
            AddPlanItem(plan_id=plan_id, kind="SPECIAL", title="t", planned_for="2027-01"),
        ),
        "2027-01",
        "2026",
    )


@pytest.mark.parametrize("period", ["2026-13", "2026-Q5"])
def test_an_item_with_a_malformed_period_is_refused(app: LinkageApp, period: str) -> None:
    plan_id = drafted(app, items=0)
    refuse(
        app,
        BadInputError,
        "PERIOD_INVALID",
        lambda: run(
            app,
            staff(COUNTY),
            AddPlanItem(plan_id=plan_id, kind="SPECIAL", title="t", planned_for=period),
        ),
        period,
    )


def test_an_unknown_kind_is_refused(app: LinkageApp) -> None:
    plan_id = drafted(app, items=0)
    refuse(
        app,
        BadInputError,
        "PLAN_KIND_UNKNOWN",
        lambda: run(
            app,
            staff(COUNTY),
            AddPlanItem(plan_id=plan_id, kind="PICNIC", title="t", planned_for="2026-05"),
        ),
        "PICNIC",
    )


def test_items_are_added_only_by_the_plans_unit(app: LinkageApp) -> None:
    plan_id = drafted(app, items=0)
    refuse(
        app,
        ForbiddenError,
        "PLAN_NOT_OWN_UNIT",
        lambda: run(
            app,
            staff(CITY),
            AddPlanItem(plan_id=plan_id, kind="SPECIAL", title="t", planned_for="2026-05"),
        ),
        COUNTY,
        CITY,
    )


def test_an_approved_plan_takes_no_new_items(app: LinkageApp) -> None:
    plan_id = approved(app)
    refuse(
        app,
        RuleViolationError,
        "PLAN_ALREADY_APPROVED",
        lambda: run(
            app,
            staff(COUNTY),
            AddPlanItem(plan_id=plan_id, kind="SPECIAL", title="t", planned_for="2026-05"),
        ),
        COUNTY,
        "2026",
    )


# -- submit / approve -----------------------------------------------------------------------


def test_a_leader_approves_a_submitted_plan_as_jointly_issued(app: LinkageApp) -> None:
    plan_id = approved(app)
    p = plan(app, plan_id)
    assert p.state == PlanState.APPROVED
    assert p.issued_by == ["县委办", "县政府办", "县政协办"]
    assert p.approved_at is not None


def test_an_empty_plan_is_neither_submitted_nor_approved(app: LinkageApp) -> None:
    plan_id = drafted(app, items=0)
    refuse(
        app,
        RuleViolationError,
        "PLAN_EMPTY",
        lambda: run(app, staff(COUNTY), SubmitPlan(plan_id=plan_id)),
        COUNTY,
        "2026",
    )
    # every item cancelled counts as empty too
    run(
        app,
        staff(COUNTY),
        AddPlanItem(plan_id=plan_id, kind="SPECIAL", title="t", planned_for="2026-05"),
    )
    run(app, staff(COUNTY), SubmitPlan(plan_id=plan_id))
    run(app, staff(COUNTY), CancelPlanItem(plan_id=plan_id, item_id="I1", reason=""))
    refuse(
        app,
        RuleViolationError,
        "PLAN_EMPTY",
        lambda: run(app, leader(COUNTY), ApprovePlan(plan_id=plan_id, issued_by=["县委办"])),
        COUNTY,
    )


def test_approval_needs_a_leader_of_the_unit_a_submitted_plan_and_issuers(app: LinkageApp) -> None:
    plan_id = drafted(app)
    refuse(
        app,
        RuleViolationError,
        "PLAN_NOT_SUBMITTED",
        lambda: run(app, leader(COUNTY), ApprovePlan(plan_id=plan_id, issued_by=["县委办"])),
        "DRAFT",
    )
    run(app, staff(COUNTY), SubmitPlan(plan_id=plan_id))
    refuse(
        app,
        RuleViolationError,
        "PLAN_NOT_DRAFT",
        lambda: run(app, staff(COUNTY), SubmitPlan(plan_id=plan_id)),
        "SUBMITTED",
    )
    refuse(
        app,
        ForbiddenError,
        "ROLE_NOT_PERMITTED",
        lambda: run(app, staff(COUNTY), ApprovePlan(plan_id=plan_id, issued_by=["县委办"])),
        "STAFF",
    )
    refuse(
        app,
        ForbiddenError,
        "PLAN_NOT_OWN_UNIT",
        lambda: run(app, leader(CITY), ApprovePlan(plan_id=plan_id, issued_by=["县委办"])),
        CITY,
    )
    refuse(
        app,
        BadInputError,
        "PLAN_ISSUED_BY_REQUIRED",
        lambda: run(app, leader(COUNTY), ApprovePlan(plan_id=plan_id, issued_by=[])),
        "0",
    )
    run(app, leader(COUNTY), ApprovePlan(plan_id=plan_id, issued_by=["县委办"]))


# -- adjust / cancel ------------------------------------------------------------------------


def test_before_approval_staff_change_items_freely(app: LinkageApp) -> None:
    plan_id = drafted(app, items=2)
    run(
        app,
        staff(COUNTY),
        AdjustPlanItem(plan_id=plan_id, item_id="I1", reason="", planned_for="2026-07"),
    )
    run(app, staff(COUNTY), CancelPlanItem(plan_id=plan_id, item_id="I2", reason=""))
    p = plan(app, plan_id)
    assert p.items["I1"].planned_for == "2026-07"
    assert p.items["I2"].state == PlanItemState.CANCELLED


def test_after_approval_a_leader_adjusts_with_a_reason(app: LinkageApp) -> None:
    plan_id = approved(app)
    run(
        app,
        leader(COUNTY),
        AdjustPlanItem(
            plan_id=plan_id,
            item_id="I1",
            reason="报请县委同意后调整",
            planned_for="2026-09",
            kind="SPECIAL",
        ),
    )
    item = plan(app, plan_id).items["I1"]
    assert (item.planned_for, item.kind, item.adjustments) == ("2026-09", PlanKind.SPECIAL, 1)


def test_after_approval_adjusting_without_a_reason_is_refused(app: LinkageApp) -> None:
    plan_id = approved(app)
    refuse(
        app,
        BadInputError,
        "PLAN_REASON_REQUIRED",
        lambda: run(
            app,
            leader(COUNTY),
            AdjustPlanItem(plan_id=plan_id, item_id="I1", reason="  ", planned_for="2026-09"),
        ),
        "I1",
    )
    refuse(
        app,
        BadInputError,
        "PLAN_REASON_REQUIRED",
        lambda: run(app, leader(COUNTY), CancelPlanItem(plan_id=plan_id, item_id="I1", reason="")),
        "I1",
    )


def test_after_approval_a_non_leader_neither_adjusts_nor_cancels(app: LinkageApp) -> None:
    plan_id = approved(app)
    refuse(
        app,
        ForbiddenError,
        "PLAN_LEADER_REQUIRED",
        lambda: run(
            app,
            staff(COUNTY),
            AdjustPlanItem(plan_id=plan_id, item_id="I1", reason="r", planned_for="2026-09"),
        ),
        "STAFF",
        "I1",
    )
    refuse(
        app,
        ForbiddenError,
        "PLAN_LEADER_REQUIRED",
        lambda: run(app, staff(COUNTY), CancelPlanItem(plan_id=plan_id, item_id="I1", reason="r")),
        "STAFF",
    )
    run(app, leader(COUNTY), CancelPlanItem(plan_id=plan_id, item_id="I1", reason="任务调整"))
    assert plan(app, plan_id).items["I1"].state == PlanItemState.CANCELLED


def test_an_adjustment_that_changes_nothing_and_an_unknown_item_are_refused(
    app: LinkageApp,
) -> None:
    plan_id = drafted(app)
    refuse(
        app,
        BadInputError,
        "PLAN_ADJUSTMENT_EMPTY",
        lambda: run(
            app,
            staff(COUNTY),
            AdjustPlanItem(plan_id=plan_id, item_id="I1", reason="", planned_for="2026-05"),
        ),
        "I1",
    )
    refuse(
        app,
        NotFoundError,
        "PLAN_ITEM_NOT_FOUND",
        lambda: run(
            app, staff(COUNTY), AdjustPlanItem(plan_id=plan_id, item_id="I9", reason="", title="x")
        ),
        "I9",
    )


# -- carried out ----------------------------------------------------------------------------


def test_completing_an_item_and_not_a_cancelled_one(app: LinkageApp) -> None:
    plan_id = drafted(app, items=2)
    run(app, staff(COUNTY), CompletePlanItem(plan_id=plan_id, item_id="I1"))
    assert plan(app, plan_id).items["I1"].state == PlanItemState.DONE
    refuse(
        app,
        RuleViolationError,
        "PLAN_ITEM_DONE",
        lambda: run(app, staff(COUNTY), CompletePlanItem(plan_id=plan_id, item_id="I1")),
        "I1",
    )
    run(app, staff(COUNTY), CancelPlanItem(plan_id=plan_id, item_id="I2", reason=""))
    refuse(
        app,
        RuleViolationError,
        "PLAN_ITEM_CANCELLED",
        lambda: run(app, staff(COUNTY), CompletePlanItem(plan_id=plan_id, item_id="I2")),
        "I2",
    )


def test_linking_a_topic_the_unit_sees(app: LinkageApp) -> None:
    plan_id = drafted(app)
    topic = app.submit_topic(staff(VILLAGE), **submission(), at=START).topic_id
    run(app, staff(COUNTY), LinkPlanItem(plan_id=plan_id, item_id="I1", topic_id=str(topic)))
    assert plan(app, plan_id).items["I1"].links == [(str(topic), None)]
    refuse(
        app,
        RuleViolationError,
        "PLAN_ITEM_ALREADY_LINKED",
        lambda: run(
            app, staff(COUNTY), LinkPlanItem(plan_id=plan_id, item_id="I1", topic_id=str(topic))
        ),
        str(topic),
    )
    refuse(
        app,
        NotFoundError,
        "MEETING_NOT_FOUND",
        lambda: run(
            app,
            staff(COUNTY),
            LinkPlanItem(plan_id=plan_id, item_id="I1", topic_id=str(topic), meeting_id="M7"),
        ),
        "M7",
    )


def test_a_topic_outside_the_subtree_is_refused_exactly_as_a_missing_one(app: LinkageApp) -> None:
    plan_id = drafted(app, SIBLING_COUNTY)
    topic = app.submit_topic(staff(VILLAGE), **submission(), at=START).topic_id
    hidden = refuse(
        app,
        NotFoundError,
        "TOPIC_NOT_FOUND",
        lambda: run(
            app,
            staff(SIBLING_COUNTY),
            LinkPlanItem(plan_id=plan_id, item_id="I1", topic_id=str(topic)),
        ),
        str(topic),
    )
    missing = "00000000-0000-4000-8000-000000000000"
    absent = refuse(
        app,
        NotFoundError,
        "TOPIC_NOT_FOUND",
        lambda: run(
            app,
            staff(SIBLING_COUNTY),
            LinkPlanItem(plan_id=plan_id, item_id="I1", topic_id=missing),
        ),
        missing,
    )
    assert hidden.message.replace(str(topic), "X") == absent.message.replace(missing, "X")
    refuse(
        app,
        BadInputError,
        "PLAN_LINK_EMPTY",
        lambda: run(app, staff(SIBLING_COUNTY), LinkPlanItem(plan_id=plan_id, item_id="I1")),
    )


def test_a_siblings_plan_reads_as_missing_and_ancestors_and_subtree_see_it(app: LinkageApp) -> None:
    plan_id = drafted(app)
    for unit in (COUNTY, CITY, PROVINCE, TOWNSHIP):
        assert visible_plan(app, staff(unit), plan_id).unit == COUNTY
    refuse(
        app,
        NotFoundError,
        "PLAN_NOT_FOUND",
        lambda: visible_plan(app, staff(SIBLING_COUNTY), plan_id),
        plan_id,
    )
    refuse(
        app,
        NotFoundError,
        "PLAN_NOT_FOUND",
        lambda: run(app, staff(SIBLING_COUNTY), SubmitPlan(plan_id=plan_id)),
        plan_id,
    )
    refuse(
        app,
        NotFoundError,
        "PLAN_NOT_FOUND",
        lambda: run(app, staff(COUNTY), SubmitPlan(plan_id="not-a-plan")),
        "not-a-plan",
    )


def test_a_stale_expected_version_is_a_conflict(app: LinkageApp) -> None:
    plan_id = drafted(app)
    refuse(
        app,
        ConflictError,
        "VERSION_CONFLICT",
        lambda: handle_plan(app, staff(COUNTY), SubmitPlan(plan_id=plan_id), expected_version=1),
        "version 1",
    )
    handle_plan(app, staff(COUNTY), SubmitPlan(plan_id=plan_id), expected_version=2)
