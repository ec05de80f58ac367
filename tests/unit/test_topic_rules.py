"""Every rule of the topic (DESIGN §4), its allowed and its refused path.

All commands go through the application layer (`LinkageApp` on the in-memory
store). A refusal must name its rule and the values involved, and record nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.application import CommandResult, LinkageApp
from domain.clock import shown
from domain.errors import (
    BadInputError,
    ConflictError,
    ForbiddenError,
    LinkageError,
    NotFoundError,
    RuleViolationError,
)
from domain.topic import Actor, Role, Stage, TaskStatus, TransferKind, external_ref_id
from domain.topic_commands import (
    AcceptTransfer,
    AddComment,
    AssignTask,
    CancelTransfer,
    CloseTopic,
    CompleteTask,
    DeclineTopic,
    DelegateTopic,
    DetermineTopic,
    EscalateTopic,
    ExtendTaskDeadline,
    GiveFeedback,
    InviteCoOrganizer,
    MergeTopic,
    RecordAdoption,
    RecordDeliberation,
    RecordLeaderInstruction,
    RecordReturnVisit,
    ReopenTopic,
    ReportResearch,
    ReportTaskProgress,
    ReturnTransfer,
    ScheduleDeliberation,
    SignTask,
    StartResearch,
    SuperviseTask,
    TakeOverTopic,
    WithdrawTopic,
)
from domain.units import Level, UnitRecord
from tests.utils.factories import (
    CITY,
    COUNTY,
    COUSIN_VILLAGE,
    FAR_VILLAGE,
    FULL_PANEL,
    OTHER_CITY,
    PROVINCE,
    SIBLING_COUNTY,
    SIBLING_TOWNSHIP,
    SIBLING_VILLAGE,
    START,
    TOWNSHIP,
    VILLAGE,
    actor,
    handler,
    in_memory_app,
    later,
    leader,
    small_directory,
    staff,
    submission,
)

OWNER = staff(VILLAGE)
HANDLER_UNIT = TOWNSHIP
TASK_DUE = later(60)
UNKNOWN_UNIT = "620102001999"
RETIRED_VILLAGE = "620102001099"
BEIJING = timezone(timedelta(hours=8))

# -- helpers ---------------------------------------------------------------------------


def refuse(
    app: LinkageApp,
    topics: uuid.UUID | Sequence[uuid.UUID] | None,
    error: type[LinkageError],
    rule: str,
    call: Callable[[], object],
    *names: str,
) -> LinkageError:
    """Run a command that must be refused: right error, rule, names; nothing recorded."""
    ids = [] if topics is None else [topics] if isinstance(topics, uuid.UUID) else list(topics)
    versions = {t: app.get_topic(t).version for t in ids}
    head = app.head_position()
    with pytest.raises(error) as info:
        call()
    err = info.value
    assert type(err) is error, f"{type(err).__name__}: {err}"
    assert err.rule == rule, str(err)
    for name in names:
        assert name in err.message, f"{name!r} is not named in {err.message!r}"
    assert app.head_position() == head, "a refused command recorded an event"
    assert {t: app.get_topic(t).version for t in ids} == versions
    return err


def submit(app: LinkageApp, by: Actor = OWNER, *, day: float = 0, **overrides: object) -> uuid.UUID:
    values = dict(submission(**overrides))
    return app.submit_topic(by, **values, at=later(day)).topic_id


def township_topic(app: LinkageApp, *, day: float = 0, **overrides: object) -> uuid.UUID:
    """A TOWNSHIP topic the village sees, as a merge target must be: TOWNSHIP delegated
    it to VILLAGE, which returned it (ended involvement reads). Two events after the
    submission, within the submission's day."""
    tid = submit(app, staff(TOWNSHIP), location=TOWNSHIP, day=day, **overrides)
    app.handle(
        staff(TOWNSHIP),
        DelegateTopic(topic_id=tid, to_unit=VILLAGE, instructions="请社区核实"),
        at=later(day + 0.1),
    )
    app.handle(OWNER, ReturnTransfer(topic_id=tid, reason="需街道统筹"), at=later(day + 0.2))
    return tid


def _determine(app: LinkageApp, tid: uuid.UUID) -> None:
    app.handle(OWNER, DetermineTopic(topic_id=tid, note="党组织同意列为议题"), at=later(1))


def _deliberate(app: LinkageApp, tid: uuid.UUID) -> None:
    app.handle(
        OWNER,
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=later(3),
            place="社区协商议事室",
            format="OFFLINE",
            participants=FULL_PANEL,
        ),
        at=later(2),
    )
    app.handle(
        OWNER,
        RecordDeliberation(
            topic_id=tid,
            meeting_id="M1",
            attendance=["王委员", "李书记", "水务局张科长", "居民代表赵大妈"],
            minutes="与会各方同意加装二次供水加压泵。",
            recommendations=["加装加压泵", "错峰用水提示"],
        ),
        at=later(3),
    )


def _assign(app: LinkageApp, tid: uuid.UUID) -> None:
    result = app.handle(
        OWNER,
        AssignTask(
            topic_id=tid,
            handler_unit=HANDLER_UNIT,
            handler="街道城建办",
            requirement="两周内完成加压泵安装",
            due=TASK_DUE,
        ),
        at=later(4),
    )
    assert result.created_id == "T1"


def _sign(app: LinkageApp, tid: uuid.UUID) -> None:
    app.handle(handler(HANDLER_UNIT), SignTask(topic_id=tid, task_id="T1"), at=later(5))


def _complete(app: LinkageApp, tid: uuid.UUID) -> None:
    app.handle(
        handler(HANDLER_UNIT),
        CompleteTask(topic_id=tid, task_id="T1", result="加压泵已安装并调试完毕"),
        at=later(6),
    )


def _feedback(app: LinkageApp, tid: uuid.UUID) -> None:
    app.handle(
        OWNER,
        GiveFeedback(
            topic_id=tid, reply="加压泵已投入使用，高峰时段水压恢复正常。", channel="公示栏"
        ),
        at=later(7),
    )


def _visit(app: LinkageApp, tid: uuid.UUID) -> None:
    app.handle(
        OWNER,
        RecordReturnVisit(
            topic_id=tid, contacted=True, solved=True, satisfaction="SATISFIED", comment="住户满意"
        ),
        at=later(8),
    )


def _close(app: LinkageApp, tid: uuid.UUID) -> None:
    app.handle(OWNER, CloseTopic(topic_id=tid, summary="问题已解决，群众满意。"), at=later(9))


STEPS: dict[str, Callable[[LinkageApp, uuid.UUID], None]] = {
    "determined": _determine,
    "deliberated": _deliberate,
    "handling": _assign,
    "signed": _sign,
    "completed": _complete,
    "feedback": _feedback,
    "visited": _visit,
    "closed": _close,
}
DAY = 20  # commands under test happen after every helper step


def topic_at(app: LinkageApp, step: str | None = None, **overrides: object) -> uuid.UUID:
    """A village topic driven through the six steps up to `step` (None: just submitted)."""
    tid = submit(app, **overrides)
    if step is None:
        return tid
    for name, run in STEPS.items():
        run(app, tid)
        if name == step:
            return tid
    raise AssertionError(f"unknown step {step}")


def retired_app() -> LinkageApp:
    units = small_directory()
    units.apply(
        [UnitRecord(RETIRED_VILLAGE, "已撤并社区", Level.VILLAGE, TOWNSHIP)],
        retired=[RETIRED_VILLAGE],
    )
    return in_memory_app(units)


@pytest.fixture
def app() -> LinkageApp:
    return in_memory_app()


# -- submit ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.STAFF, Role.LEADER, Role.MEMBER, Role.INTAKE])
def test_staff_leaders_members_and_intake_may_submit(app: LinkageApp, role: Role) -> None:
    result = app.submit_topic(actor(VILLAGE, role), **submission(), at=START)
    topic = app.get_topic(result.topic_id)
    assert (topic.stage, topic.owner, topic.location) == (Stage.COLLECTED, VILLAGE, VILLAGE)
    assert (result.version, result.duplicate) == (1, False)


@pytest.mark.parametrize("role", [Role.HANDLER, Role.AUDITOR])
def test_handlers_and_auditors_may_not_submit(app: LinkageApp, role: Role) -> None:
    refuse(
        app,
        None,
        ForbiddenError,
        "ROLE_NOT_PERMITTED",
        lambda: submit(app, actor(VILLAGE, role)),
        role.value,
        "submit",
    )


def test_a_unit_may_submit_for_a_place_in_its_subtree(app: LinkageApp) -> None:
    tid = submit(app, staff(COUNTY), location=VILLAGE)
    assert app.get_topic(tid).owner == VILLAGE
    assert app.get_topic(tid).submitted_by["unit"] == COUNTY


def test_a_location_outside_the_own_subtree_reads_as_an_unknown_unit(app: LinkageApp) -> None:
    outside = refuse(
        app,
        None,
        NotFoundError,
        "UNIT_NOT_FOUND",
        lambda: submit(app, staff(SIBLING_VILLAGE), location=VILLAGE),
        VILLAGE,
    )
    unknown = refuse(
        app,
        None,
        NotFoundError,
        "UNIT_NOT_FOUND",
        lambda: submit(app, staff(SIBLING_VILLAGE), location=UNKNOWN_UNIT),
    )
    assert outside.message.replace(VILLAGE, UNKNOWN_UNIT) == unknown.message
    assert small_directory().get(VILLAGE).name not in outside.message


def test_an_unknown_location_is_not_found(app: LinkageApp) -> None:
    refuse(
        app,
        None,
        NotFoundError,
        "UNIT_NOT_FOUND",
        lambda: submit(app, staff(TOWNSHIP), location=UNKNOWN_UNIT),
        UNKNOWN_UNIT,
    )


def test_a_retired_location_is_refused() -> None:
    app = retired_app()
    refuse(
        app,
        None,
        RuleViolationError,
        "UNIT_RETIRED",
        lambda: submit(app, staff(TOWNSHIP), location=RETIRED_VILLAGE),
        RETIRED_VILLAGE,
        "已撤并社区",
    )


def test_a_blank_title_is_bad_input(app: LinkageApp) -> None:
    refuse(app, None, BadInputError, "FIELD_REQUIRED", lambda: submit(app, title="   "), "title")


def test_a_title_over_200_characters_is_bad_input(app: LinkageApp) -> None:
    refuse(
        app,
        None,
        BadInputError,
        "FIELD_TOO_LONG",
        lambda: submit(app, title="水" * 201),
        "title",
        "201",
        "200",
    )


def test_an_unknown_source_channel_is_bad_input(app: LinkageApp) -> None:
    refuse(
        app,
        None,
        BadInputError,
        "INVALID_VALUE",
        lambda: submit(app, source="FAX"),
        "FAX",
        "HOTLINE_12345",
    )


def test_resubmitting_an_external_ref_returns_the_same_topic_without_a_new_event(
    app: LinkageApp,
) -> None:
    first = app.submit_topic(
        staff(COUNTY, "hotline"), **submission(external_ref="12345-20260302-0001"), at=START
    )
    assert first.topic_id == external_ref_id("12345-20260302-0001", COUNTY)
    head = app.head_position()
    again = app.submit_topic(
        staff(COUNTY, "hotline"), **submission(external_ref=" 12345-20260302-0001 "), at=later(1)
    )
    assert again.topic_id == first.topic_id
    assert again.duplicate is True
    assert again.version == 1
    assert app.head_position() == head
    assert len(app.history(first.topic_id)) == 1


def test_a_resubmission_that_would_be_refused_is_refused_not_answered_as_duplicate(
    app: LinkageApp,
) -> None:
    tid = app.submit_topic(
        actor(COUNTY, Role.INTAKE), **submission(external_ref="12345-0002"), at=START
    ).topic_id
    refuse(
        app,
        tid,
        ForbiddenError,
        "ROLE_NOT_PERMITTED",
        lambda: app.submit_topic(
            actor(COUNTY, Role.AUDITOR), **submission(external_ref="12345-0002"), at=later(1)
        ),
        "AUDITOR",
    )
    refuse(
        app,
        tid,
        NotFoundError,
        "UNIT_NOT_FOUND",
        lambda: app.submit_topic(
            staff(FAR_VILLAGE), **submission(external_ref="12345-0002"), at=later(1)
        ),
    )


def test_chinese_text_is_kept_exactly(app: LinkageApp) -> None:
    title = "村口道路积水严重，雨天“无法通行”——请求协调排水改造"
    tid = submit(app, title=title, category="市政设施", description="雨季积水深达30厘米。")
    app.handle(
        OWNER, EscalateTopic(topic_id=tid, reason="涉及跨社区排水管网，社区无力解决"), at=later(1)
    )
    topic = app.get_topic(tid)
    assert topic.title == title
    assert topic.category == "市政设施"
    assert topic.pending is not None
    assert topic.pending.reason == "涉及跨社区排水管网，社区无力解决"
    history = app.history(tid)
    assert history[0].data["title"] == title
    assert history[1].reason == "涉及跨社区排水管网，社区无力解决"


# -- determine / decline ---------------------------------------------------------------


def test_the_owner_determines_a_collected_topic(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(leader(VILLAGE), DetermineTopic(topic_id=tid, note="支部会议通过"), at=later(DAY))
    assert app.get_topic(tid).stage == Stage.DETERMINED


def test_only_the_owner_determines(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_OWNER",
        lambda: app.handle(staff(TOWNSHIP), DetermineTopic(topic_id=tid), at=later(DAY)),
        VILLAGE,
        TOWNSHIP,
    )


def test_a_handler_role_may_not_determine(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        ForbiddenError,
        "ROLE_NOT_PERMITTED",
        lambda: app.handle(handler(VILLAGE), DetermineTopic(topic_id=tid), at=later(DAY)),
        "HANDLER",
    )


def test_determining_is_only_for_collected_topics(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(OWNER, DetermineTopic(topic_id=tid), at=later(DAY)),
        "DETERMINED",
        "COLLECTED",
    )


def test_the_owner_declines_a_collected_topic_with_a_reason(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(
        OWNER, DeclineTopic(topic_id=tid, reason="属于物业合同纠纷，不属于协商范围"), at=later(DAY)
    )
    topic = app.get_topic(tid)
    assert topic.stage == Stage.DECLINED
    assert topic.closed_at == later(DAY)
    assert app.history(tid)[-1].reason == "属于物业合同纠纷，不属于协商范围"


def test_declining_needs_a_reason(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        BadInputError,
        "FIELD_REQUIRED",
        lambda: app.handle(OWNER, DeclineTopic(topic_id=tid, reason=" "), at=later(DAY)),
        "reason",
    )


def test_declining_is_only_for_collected_topics(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(OWNER, DeclineTopic(topic_id=tid, reason="重复"), at=later(DAY)),
        "DETERMINED",
    )


def test_only_the_owner_declines(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_OWNER",
        lambda: app.handle(
            staff(TOWNSHIP), DeclineTopic(topic_id=tid, reason="重复"), at=later(DAY)
        ),
        TOWNSHIP,
    )


def test_a_pending_transfer_blocks_declining(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    refuse(
        app,
        tid,
        RuleViolationError,
        "TRANSFER_PENDING",
        lambda: app.handle(OWNER, DeclineTopic(topic_id=tid, reason="不予受理"), at=later(DAY + 1)),
        VILLAGE,
        TOWNSHIP,
    )


# -- merge -----------------------------------------------------------------------------


def test_a_topic_merges_into_a_topic_of_an_ancestor_and_both_are_saved(app: LinkageApp) -> None:
    source = topic_at(app)
    target = township_topic(app, title="街道片区供水改造")
    result = app.handle(
        OWNER,
        MergeTopic(topic_id=source, into_topic_id=target, reason="同属片区供水问题，合并办理"),
        at=later(DAY),
    )
    merged, absorbing = app.get_topic(source), app.get_topic(target)
    assert (merged.stage, merged.merged_into) == (Stage.MERGED, str(target))
    assert merged.closed_at == later(DAY)
    assert absorbing.absorbed == [str(source)]
    assert absorbing.stage == Stage.COLLECTED
    assert (merged.version, absorbing.version) == (2, 4)  # submitted, delegated, returned
    assert result.version == 2
    absorbed = app.history(target)[-1]
    assert absorbed.type == "TopicAbsorbed"
    assert absorbed.data["merged"] == str(source)
    assert absorbed.reason == "同属片区供水问题，合并办理"
    assert absorbed.actor["unit"] == VILLAGE
    assert app.history(source)[-1].type == "TopicMerged"


def test_a_topic_merges_into_a_topic_of_its_own_unit_while_researching(app: LinkageApp) -> None:
    source = topic_at(app, "determined")
    app.handle(OWNER, StartResearch(topic_id=source, text="走访6号楼住户"), at=later(DAY))
    target = submit(app, day=DAY + 1, title="6号楼水压问题（二）")
    app.handle(
        OWNER,
        MergeTopic(topic_id=source, into_topic_id=target, reason="重复议题"),
        at=later(DAY + 2),
    )
    assert app.get_topic(source).stage == Stage.MERGED


def test_merging_is_refused_from_deliberation_on(app: LinkageApp) -> None:
    source = topic_at(app, "deliberated")
    target = submit(app, day=DAY)
    refuse(
        app,
        [source, target],
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(
            OWNER,
            MergeTopic(topic_id=source, into_topic_id=target, reason="合并"),
            at=later(DAY + 1),
        ),
        "DELIBERATION",
        "COLLECTED, DETERMINED, RESEARCH",
    )


def test_a_topic_cannot_merge_into_itself(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        RuleViolationError,
        "MERGE_INTO_ITSELF",
        lambda: app.handle(
            OWNER, MergeTopic(topic_id=tid, into_topic_id=tid, reason="合并"), at=later(DAY)
        ),
        str(tid),
    )


def test_a_topic_cannot_merge_into_a_closed_target(app: LinkageApp) -> None:
    source = topic_at(app)
    target = submit(app, day=1)
    app.handle(OWNER, DeclineTopic(topic_id=target, reason="不予受理"), at=later(2))
    refuse(
        app,
        [source, target],
        RuleViolationError,
        "MERGE_TARGET_CLOSED",
        lambda: app.handle(
            OWNER, MergeTopic(topic_id=source, into_topic_id=target, reason="合并"), at=later(DAY)
        ),
        str(target),
        "DECLINED",
    )


@pytest.mark.parametrize("target_owner", [SIBLING_VILLAGE, COUSIN_VILLAGE])
def test_a_merge_target_out_of_reach_and_sight_is_not_found(
    app: LinkageApp, target_owner: str
) -> None:
    source = topic_at(app)
    target = submit(app, staff(target_owner), location=target_owner)
    refuse(
        app,
        [source, target],
        NotFoundError,
        "TOPIC_NOT_FOUND",
        lambda: app.handle(
            OWNER, MergeTopic(topic_id=source, into_topic_id=target, reason="合并"), at=later(DAY)
        ),
        str(target),
    )


def test_a_topic_cannot_merge_down_into_a_descendant_topic(app: LinkageApp) -> None:
    source = submit(app, staff(TOWNSHIP), location=TOWNSHIP)
    target = topic_at(app)
    refuse(
        app,
        [source, target],
        RuleViolationError,
        "MERGE_TARGET_OUT_OF_REACH",
        lambda: app.handle(
            staff(TOWNSHIP),
            MergeTopic(topic_id=source, into_topic_id=target, reason="合并"),
            at=later(DAY),
        ),
        TOWNSHIP,
        VILLAGE,
    )


def test_only_the_owner_merges(app: LinkageApp) -> None:
    source = topic_at(app)
    target = submit(app, staff(TOWNSHIP), location=TOWNSHIP)
    refuse(
        app,
        [source, target],
        ForbiddenError,
        "NOT_OWNER",
        lambda: app.handle(
            staff(TOWNSHIP),
            MergeTopic(topic_id=source, into_topic_id=target, reason="合并"),
            at=later(DAY),
        ),
        VILLAGE,
        TOWNSHIP,
    )


def test_merging_into_an_unknown_topic_is_not_found(app: LinkageApp) -> None:
    source = topic_at(app)
    missing = uuid.uuid4()
    refuse(
        app,
        source,
        NotFoundError,
        "TOPIC_NOT_FOUND",
        lambda: app.handle(
            OWNER, MergeTopic(topic_id=source, into_topic_id=missing, reason="合并"), at=later(DAY)
        ),
        str(missing),
    )


def test_merging_needs_a_reason(app: LinkageApp) -> None:
    source = topic_at(app)
    target = township_topic(app)
    refuse(
        app,
        [source, target],
        BadInputError,
        "FIELD_REQUIRED",
        lambda: app.handle(
            OWNER, MergeTopic(topic_id=source, into_topic_id=target, reason=""), at=later(DAY)
        ),
        "reason",
    )


# -- escalate --------------------------------------------------------------------------


def test_escalation_defaults_to_the_parent(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    pending = app.get_topic(tid).pending
    assert pending is not None
    assert (pending.kind, pending.from_unit, pending.to_unit) == (
        TransferKind.ESCALATION,
        VILLAGE,
        TOWNSHIP,
    )
    assert pending.skip_level is False
    assert app.get_topic(tid).owner == VILLAGE  # ownership moves only on acceptance
    entry = app.history(tid)[-1]
    assert (entry.type, entry.data["skip_level"]) == ("EscalationRequested", False)


def test_escalation_goes_only_to_an_ancestor(app: LinkageApp) -> None:
    tid = topic_at(app)
    for target in (SIBLING_VILLAGE, COUSIN_VILLAGE, SIBLING_TOWNSHIP, SIBLING_COUNTY, OTHER_CITY):
        err = refuse(
            app,
            tid,
            RuleViolationError,
            "ESCALATION_TARGET_NOT_ANCESTOR",
            lambda target=target: app.handle(
                OWNER, EscalateTopic(topic_id=tid, to_unit=target, reason="上交"), at=later(DAY)
            ),
            target,
            VILLAGE,
        )
        assert err.message == (
            f"escalation goes upward only: {target} is not an ancestor of {VILLAGE}"
        )


def test_escalation_to_the_owner_itself_is_refused(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        RuleViolationError,
        "ESCALATION_TARGET_NOT_ANCESTOR",
        lambda: app.handle(
            OWNER, EscalateTopic(topic_id=tid, to_unit=VILLAGE, reason="上交"), at=later(DAY)
        ),
        VILLAGE,
    )


def test_skipping_a_level_needs_a_reason(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        RuleViolationError,
        "ESCALATION_SKIP_NEEDS_REASON",
        lambda: app.handle(
            OWNER, EscalateTopic(topic_id=tid, to_unit=COUNTY, reason="  "), at=later(DAY)
        ),
        VILLAGE,
        COUNTY,
    )


def test_skipping_a_level_with_a_reason_is_recorded_as_skip_level(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(
        OWNER,
        EscalateTopic(topic_id=tid, to_unit=CITY, reason="涉及全市管网改造，街道和区级均无权限"),
        at=later(DAY),
    )
    pending = app.get_topic(tid).pending
    assert pending is not None
    assert (pending.to_unit, pending.skip_level) == (CITY, True)
    entry = app.history(tid)[-1]
    assert entry.data["skip_level"] is True
    assert entry.reason == "涉及全市管网改造，街道和区级均无权限"


def test_the_province_cannot_escalate(app: LinkageApp) -> None:
    tid = submit(app, staff(PROVINCE), location=PROVINCE)
    refuse(
        app,
        tid,
        RuleViolationError,
        "ESCALATION_NO_PARENT",
        lambda: app.handle(staff(PROVINCE), EscalateTopic(topic_id=tid), at=later(DAY)),
        PROVINCE,
        "甘肃省",
    )


def test_escalation_to_an_unknown_unit_is_not_found(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        NotFoundError,
        "UNIT_NOT_FOUND",
        lambda: app.handle(
            OWNER, EscalateTopic(topic_id=tid, to_unit="6299", reason="上交"), at=later(DAY)
        ),
        "6299",
    )


def test_escalation_to_a_retired_unit_is_refused() -> None:
    units = small_directory()
    units.apply([], retired=[TOWNSHIP])
    app = in_memory_app(units)
    tid = topic_at(app)
    refuse(
        app,
        tid,
        RuleViolationError,
        "UNIT_RETIRED",
        lambda: app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY)),
        TOWNSHIP,
    )


def test_escalation_is_allowed_while_handling(app: LinkageApp) -> None:
    tid = topic_at(app, "signed")
    app.handle(OWNER, EscalateTopic(topic_id=tid, reason="资金缺口需区里协调"), at=later(DAY))
    assert app.get_topic(tid).pending is not None


def test_escalation_is_refused_in_feedback(app: LinkageApp) -> None:
    tid = topic_at(app, "feedback")
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY)),
        "FEEDBACK",
    )


def test_only_the_owner_escalates(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_OWNER",
        lambda: app.handle(staff(TOWNSHIP), EscalateTopic(topic_id=tid), at=later(DAY)),
        VILLAGE,
        TOWNSHIP,
    )


# -- delegate --------------------------------------------------------------------------


def test_delegation_goes_to_a_descendant_with_instructions_and_due(app: LinkageApp) -> None:
    tid = submit(app, staff(COUNTY), location=COUNTY)
    app.handle(
        staff(COUNTY),
        DelegateTopic(
            topic_id=tid,
            to_unit=VILLAGE,
            instructions="请社区牵头组织小微协商",
            due=later(DAY + 15),
        ),
        at=later(DAY),
    )
    pending = app.get_topic(tid).pending
    assert pending is not None
    assert (pending.kind, pending.from_unit, pending.to_unit) == (
        TransferKind.DELEGATION,
        COUNTY,
        VILLAGE,
    )
    assert pending.due == later(DAY + 15)
    assert app.history(tid)[-1].reason == "请社区牵头组织小微协商"


@pytest.mark.parametrize("target", [COUNTY, SIBLING_COUNTY, CITY, FAR_VILLAGE])
def test_delegation_goes_only_to_a_descendant(app: LinkageApp, target: str) -> None:
    tid = submit(app, staff(COUNTY), location=COUNTY)
    refuse(
        app,
        tid,
        RuleViolationError,
        "DELEGATION_TARGET_NOT_DESCENDANT",
        lambda: app.handle(
            staff(COUNTY),
            DelegateTopic(topic_id=tid, to_unit=target, instructions="下放"),
            at=later(DAY),
        ),
        target,
        COUNTY,
    )


@pytest.mark.parametrize("offset", [0, -1])
def test_a_delegation_due_must_be_in_the_future(app: LinkageApp, offset: float) -> None:
    tid = submit(app, staff(COUNTY), location=COUNTY)
    due = later(DAY + offset)
    refuse(
        app,
        tid,
        BadInputError,
        "DUE_NOT_IN_FUTURE",
        lambda: app.handle(
            staff(COUNTY),
            DelegateTopic(topic_id=tid, to_unit=TOWNSHIP, instructions="下放", due=due),
            at=later(DAY),
        ),
        shown(due),
    )


def test_delegation_needs_instructions(app: LinkageApp) -> None:
    tid = submit(app, staff(COUNTY), location=COUNTY)
    refuse(
        app,
        tid,
        BadInputError,
        "FIELD_REQUIRED",
        lambda: app.handle(
            staff(COUNTY),
            DelegateTopic(topic_id=tid, to_unit=TOWNSHIP, instructions=""),
            at=later(DAY),
        ),
        "instructions",
    )


def test_delegation_to_an_unknown_unit_is_not_found(app: LinkageApp) -> None:
    tid = submit(app, staff(COUNTY), location=COUNTY)
    refuse(
        app,
        tid,
        NotFoundError,
        "UNIT_NOT_FOUND",
        lambda: app.handle(
            staff(COUNTY),
            DelegateTopic(topic_id=tid, to_unit=UNKNOWN_UNIT, instructions="下放"),
            at=later(DAY),
        ),
        UNKNOWN_UNIT,
    )


def test_delegation_is_refused_in_feedback(app: LinkageApp) -> None:
    tid = topic_at(app, "feedback")
    app.handle(
        leader(COUNTY), TakeOverTopic(topic_id=tid, reason="区级接手答复"), at=later(DAY - 1)
    )
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(
            staff(COUNTY),
            DelegateTopic(topic_id=tid, to_unit=TOWNSHIP, instructions="下放"),
            at=later(DAY),
        ),
        "FEEDBACK",
    )


# -- accept / return / cancel ----------------------------------------------------------


def test_the_target_accepts_and_the_route_records_the_hop(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid, reason="社区无力协调"), at=later(DAY))
    app.handle(staff(TOWNSHIP), AcceptTransfer(topic_id=tid, note="街道接收"), at=later(DAY + 1))
    app.handle(
        staff(TOWNSHIP),
        EscalateTopic(topic_id=tid, to_unit=CITY, reason="跨区协调"),
        at=later(DAY + 2),
    )
    app.handle(leader(CITY), AcceptTransfer(topic_id=tid), at=later(DAY + 3))
    app.handle(
        staff(CITY),
        DelegateTopic(topic_id=tid, to_unit=COUNTY, instructions="请城关区牵头"),
        at=later(DAY + 4),
    )
    app.handle(staff(COUNTY), AcceptTransfer(topic_id=tid), at=later(DAY + 5))
    topic = app.get_topic(tid)
    assert topic.owner == COUNTY
    assert topic.pending is None
    route = [(h.unit, h.via, h.reason, h.entered_at, h.left_at) for h in topic.route]
    assert route == [
        (VILLAGE, None, None, later(0), later(DAY + 1)),
        (TOWNSHIP, TransferKind.ESCALATION, "社区无力协调", later(DAY + 1), later(DAY + 3)),
        (CITY, TransferKind.ESCALATION, "跨区协调", later(DAY + 3), later(DAY + 5)),
        (COUNTY, TransferKind.DELEGATION, "请城关区牵头", later(DAY + 5), None),
    ]
    accepted = app.history(tid)[-1]
    assert accepted.type == "TransferAccepted"
    assert (accepted.data["from_unit"], accepted.data["to_unit"]) == (CITY, COUNTY)
    assert accepted.data["kind"] == "DELEGATION"


def test_only_the_target_accepts(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    for who in (OWNER, staff(COUNTY), staff(PROVINCE)):
        refuse(
            app,
            tid,
            ForbiddenError,
            "NOT_TRANSFER_TARGET",
            lambda who=who: app.handle(who, AcceptTransfer(topic_id=tid), at=later(DAY + 1)),
            TOWNSHIP,
            who.unit,
        )


def test_a_handler_of_the_target_may_not_accept(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    refuse(
        app,
        tid,
        ForbiddenError,
        "ROLE_NOT_PERMITTED",
        lambda: app.handle(handler(TOWNSHIP), AcceptTransfer(topic_id=tid), at=later(DAY + 1)),
        "HANDLER",
    )


@pytest.mark.parametrize("command", ["accept", "return", "cancel"])
def test_there_must_be_a_pending_transfer_to_decide(app: LinkageApp, command: str) -> None:
    tid = topic_at(app)
    calls = {
        "accept": lambda: app.handle(staff(TOWNSHIP), AcceptTransfer(topic_id=tid), at=later(DAY)),
        "return": lambda: app.handle(
            staff(TOWNSHIP), ReturnTransfer(topic_id=tid, reason="退回"), at=later(DAY)
        ),
        "cancel": lambda: app.handle(OWNER, CancelTransfer(topic_id=tid), at=later(DAY)),
    }
    refuse(app, tid, RuleViolationError, "NO_PENDING_TRANSFER", calls[command], str(tid))


def test_the_target_returns_a_transfer_and_returns_are_counted(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    app.handle(
        staff(TOWNSHIP),
        ReturnTransfer(topic_id=tid, reason="属社区自治范围，请社区自行协商"),
        at=later(DAY + 1),
    )
    topic = app.get_topic(tid)
    assert (topic.owner, topic.pending, topic.returns) == (VILLAGE, None, 1)
    app.handle(
        OWNER, EscalateTopic(topic_id=tid, reason="再次上交：社区确无能力"), at=later(DAY + 2)
    )
    app.handle(
        staff(TOWNSHIP), ReturnTransfer(topic_id=tid, reason="仍请社区办理"), at=later(DAY + 3)
    )
    topic = app.get_topic(tid)
    assert topic.returns == 2
    assert [h.unit for h in topic.route] == [VILLAGE]
    returned = app.history(tid)[-1]
    assert (returned.type, returned.reason) == ("TransferReturned", "仍请社区办理")


def test_only_the_target_returns(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_TRANSFER_TARGET",
        lambda: app.handle(
            staff(COUNTY), ReturnTransfer(topic_id=tid, reason="退回"), at=later(DAY + 1)
        ),
        TOWNSHIP,
        COUNTY,
    )


def test_returning_needs_a_reason(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    refuse(
        app,
        tid,
        BadInputError,
        "FIELD_REQUIRED",
        lambda: app.handle(
            staff(TOWNSHIP), ReturnTransfer(topic_id=tid, reason=""), at=later(DAY + 1)
        ),
        "reason",
    )


def test_the_requester_cancels_a_pending_transfer(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    app.handle(
        leader(VILLAGE),
        CancelTransfer(topic_id=tid, reason="社区已自行协调解决"),
        at=later(DAY + 1),
    )
    topic = app.get_topic(tid)
    assert (topic.pending, topic.owner, topic.returns) == (None, VILLAGE, 0)
    assert app.history(tid)[-1].type == "TransferCancelled"


def test_only_the_requester_cancels(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_TRANSFER_REQUESTER",
        lambda: app.handle(staff(TOWNSHIP), CancelTransfer(topic_id=tid), at=later(DAY + 1)),
        VILLAGE,
        TOWNSHIP,
    )


# -- a pending transfer blocks other moves ---------------------------------------------


def test_a_pending_transfer_blocks_a_second_escalation(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    refuse(
        app,
        tid,
        RuleViolationError,
        "TRANSFER_PENDING",
        lambda: app.handle(
            OWNER, EscalateTopic(topic_id=tid, to_unit=COUNTY, reason="越级"), at=later(DAY + 1)
        ),
        "escalation",
        VILLAGE,
        TOWNSHIP,
    )


@pytest.mark.parametrize("command", ["escalate", "delegate", "merge", "withdraw"])
def test_a_pending_delegation_blocks_other_moves(app: LinkageApp, command: str) -> None:
    county = staff(COUNTY)
    tid = submit(app, county, location=COUNTY)
    other = submit(app, county, location=COUNTY, day=1)
    app.handle(
        county,
        DelegateTopic(topic_id=tid, to_unit=TOWNSHIP, instructions="请街道办理"),
        at=later(DAY),
    )
    calls = {
        "escalate": lambda: app.handle(county, EscalateTopic(topic_id=tid), at=later(DAY + 1)),
        "delegate": lambda: app.handle(
            county,
            DelegateTopic(topic_id=tid, to_unit=VILLAGE, instructions="改派"),
            at=later(DAY + 1),
        ),
        "merge": lambda: app.handle(
            county, MergeTopic(topic_id=tid, into_topic_id=other, reason="合并"), at=later(DAY + 1)
        ),
        "withdraw": lambda: app.handle(
            county, WithdrawTopic(topic_id=tid, reason="撤回"), at=later(DAY + 1)
        ),
    }
    refuse(
        app,
        [tid, other],
        RuleViolationError,
        "TRANSFER_PENDING",
        calls[command],
        "delegation",
        COUNTY,
        TOWNSHIP,
    )


def test_moves_are_possible_again_once_the_transfer_is_decided(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    app.handle(OWNER, CancelTransfer(topic_id=tid), at=later(DAY + 1))
    app.handle(
        OWNER, EscalateTopic(topic_id=tid, to_unit=COUNTY, reason="街道无权限"), at=later(DAY + 2)
    )
    assert app.get_topic(tid).pending is not None


# -- take over (提级) -------------------------------------------------------------------


@pytest.mark.parametrize("unit", [TOWNSHIP, COUNTY, CITY, PROVINCE])
def test_a_leader_of_any_ancestor_takes_the_topic_over(app: LinkageApp, unit: str) -> None:
    tid = topic_at(app, "signed")
    app.handle(
        leader(unit), TakeOverTopic(topic_id=tid, reason="群众反映强烈，提级办理"), at=later(DAY)
    )
    topic = app.get_topic(tid)
    assert topic.owner == unit
    assert topic.stage == Stage.HANDLING
    hop = topic.route[-1]
    assert (hop.unit, hop.via, hop.reason) == (
        unit,
        TransferKind.TAKEOVER,
        "群众反映强烈，提级办理",
    )
    assert topic.route[0].left_at == later(DAY)
    entry = app.history(tid)[-1]
    assert (entry.type, entry.data["from_unit"], entry.data["to_unit"]) == (
        "TopicTakenOver",
        VILLAGE,
        unit,
    )


def test_only_a_leader_takes_over(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        ForbiddenError,
        "ROLE_NOT_PERMITTED",
        lambda: app.handle(
            staff(COUNTY), TakeOverTopic(topic_id=tid, reason="提级"), at=later(DAY)
        ),
        "STAFF",
        "LEADER",
    )


@pytest.mark.parametrize("unit", [VILLAGE, SIBLING_VILLAGE])
def test_only_an_ancestor_takes_over(app: LinkageApp, unit: str) -> None:
    tid = topic_at(app)
    app.handle(
        OWNER, InviteCoOrganizer(topic_id=tid, unit=SIBLING_VILLAGE), at=later(1)
    )  # sees it, not above it
    refuse(
        app,
        tid,
        ForbiddenError,
        "TAKEOVER_NOT_ANCESTOR",
        lambda: app.handle(leader(unit), TakeOverTopic(topic_id=tid, reason="提级"), at=later(DAY)),
        unit,
        VILLAGE,
    )


def test_taking_over_lapses_a_pending_transfer(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(DAY))
    app.handle(
        leader(COUNTY), TakeOverTopic(topic_id=tid, reason="区级直接督办"), at=later(DAY + 1)
    )
    topic = app.get_topic(tid)
    assert (topic.owner, topic.pending) == (COUNTY, None)
    assert [(h.unit, h.via) for h in topic.route] == [
        (VILLAGE, None),
        (COUNTY, TransferKind.TAKEOVER),
    ]
    refuse(
        app,
        tid,
        RuleViolationError,
        "NO_PENDING_TRANSFER",
        lambda: app.handle(staff(TOWNSHIP), AcceptTransfer(topic_id=tid), at=later(DAY + 2)),
    )


def test_taking_over_needs_a_reason(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        BadInputError,
        "FIELD_REQUIRED",
        lambda: app.handle(leader(COUNTY), TakeOverTopic(topic_id=tid, reason=""), at=later(DAY)),
        "reason",
    )


# -- co-organisers (联动协商) -------------------------------------------------------------


def test_the_owner_invites_a_co_organiser(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    app.handle(
        OWNER,
        InviteCoOrganizer(topic_id=tid, unit=SIBLING_VILLAGE, note="相邻社区共用管网"),
        at=later(DAY),
    )
    assert app.get_topic(tid).co_organizers == [SIBLING_VILLAGE]


def test_only_the_owner_invites(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_OWNER",
        lambda: app.handle(
            staff(TOWNSHIP), InviteCoOrganizer(topic_id=tid, unit=SIBLING_VILLAGE), at=later(DAY)
        ),
        VILLAGE,
        TOWNSHIP,
    )


@pytest.mark.parametrize("unit", [SIBLING_VILLAGE, VILLAGE])
def test_a_unit_already_taking_part_is_not_invited_again(app: LinkageApp, unit: str) -> None:
    tid = topic_at(app, "determined")
    app.handle(OWNER, InviteCoOrganizer(topic_id=tid, unit=SIBLING_VILLAGE), at=later(DAY))
    refuse(
        app,
        tid,
        RuleViolationError,
        "ALREADY_CO_ORGANIZER",
        lambda: app.handle(OWNER, InviteCoOrganizer(topic_id=tid, unit=unit), at=later(DAY + 1)),
        unit,
        str(tid),
    )


def test_inviting_an_unknown_unit_is_not_found(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        NotFoundError,
        "UNIT_NOT_FOUND",
        lambda: app.handle(
            OWNER, InviteCoOrganizer(topic_id=tid, unit=UNKNOWN_UNIT), at=later(DAY)
        ),
        UNKNOWN_UNIT,
    )


def test_a_co_organiser_schedules_and_records_a_deliberation(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    app.handle(OWNER, InviteCoOrganizer(topic_id=tid, unit=SIBLING_VILLAGE), at=later(DAY))
    partner = staff(SIBLING_VILLAGE)
    scheduled = app.handle(
        partner,
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=later(DAY + 3),
            place="张家园社区议事厅",
            format="OFFLINE",
            participants=FULL_PANEL,
        ),
        at=later(DAY + 1),
    )
    assert scheduled.created_id == "M1"
    app.handle(
        partner,
        RecordDeliberation(
            topic_id=tid,
            meeting_id="M1",
            attendance=["王委员"],
            minutes="两社区共同出资改造",
            recommendations=["共同出资"],
        ),
        at=later(DAY + 3),
    )
    topic = app.get_topic(tid)
    assert topic.stage == Stage.DELIBERATION
    assert topic.meetings["M1"].held_at == later(DAY + 3)
    assert [e.actor["unit"] for e in app.history(tid)[-2:]] == [SIBLING_VILLAGE] * 2
    # ...but a co-organiser does not own: it may not assign tasks
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_OWNER",
        lambda: app.handle(
            partner,
            AssignTask(
                topic_id=tid,
                handler_unit=TOWNSHIP,
                handler="城建办",
                requirement="改造",
                due=TASK_DUE,
            ),
            at=later(30),
        ),
        SIBLING_VILLAGE,
    )


def test_a_unit_that_is_neither_owner_nor_co_organiser_may_not_schedule(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_OWNER_OR_CO_ORGANIZER",
        lambda: app.handle(
            staff(TOWNSHIP),
            ScheduleDeliberation(
                topic_id=tid,
                scheduled_at=later(DAY + 3),
                place="议事厅",
                format="OFFLINE",
                participants=FULL_PANEL,
            ),
            at=later(DAY),
        ),
        VILLAGE,
        TOWNSHIP,
    )


# -- research (议前调研) -------------------------------------------------------------------


def test_research_starts_on_a_determined_topic_and_is_reported(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    app.handle(OWNER, StartResearch(topic_id=tid, text="入户走访6号楼住户32户"), at=later(DAY))
    assert app.get_topic(tid).stage == Stage.RESEARCH
    app.handle(OWNER, ReportResearch(topic_id=tid, text="高峰时段水压仅0.1MPa"), at=later(DAY + 1))
    topic = app.get_topic(tid)
    assert topic.research_started
    assert topic.research_reports == ["高峰时段水压仅0.1MPa"]
    app.handle(
        OWNER,
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=later(DAY + 5),
            place="议事厅",
            format="ONLINE",
            participants=FULL_PANEL,
        ),
        at=later(DAY + 2),
    )
    assert app.get_topic(tid).stage == Stage.DELIBERATION


@pytest.mark.parametrize("step", [None, "deliberated"])
def test_research_starts_only_on_a_determined_topic(app: LinkageApp, step: str | None) -> None:
    tid = topic_at(app, step)
    stage = app.get_topic(tid).stage
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(OWNER, StartResearch(topic_id=tid, text="调研"), at=later(DAY)),
        stage.value,
        "DETERMINED",
    )


def test_research_is_reported_only_while_researching(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(OWNER, ReportResearch(topic_id=tid, text="报告"), at=later(DAY)),
        "DETERMINED",
        "RESEARCH",
    )


def test_scheduling_while_research_is_unreported_is_refused(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    app.handle(OWNER, StartResearch(topic_id=tid, text="调研"), at=later(DAY))
    refuse(
        app,
        tid,
        RuleViolationError,
        "RESEARCH_NOT_REPORTED",
        lambda: app.handle(
            OWNER,
            ScheduleDeliberation(
                topic_id=tid,
                scheduled_at=later(DAY + 5),
                place="议事厅",
                format="OFFLINE",
                participants=FULL_PANEL,
            ),
            at=later(DAY + 1),
        ),
        "research",
    )


def test_research_may_be_skipped(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    app.handle(
        OWNER,
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=later(DAY + 1),
            place="议事厅",
            format="OFFLINE",
            participants=FULL_PANEL,
        ),
        at=later(DAY),
    )
    assert app.get_topic(tid).stage == Stage.DELIBERATION
    assert not app.get_topic(tid).research_started


# -- deliberation (4+X) ----------------------------------------------------------------


def test_a_deliberation_without_stakeholders_is_allowed(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    four = [p for p in FULL_PANEL if p["kind"] != "STAKEHOLDER"]
    app.handle(
        OWNER,
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=later(DAY + 1),
            place="议事厅",
            format="OFFLINE",
            participants=four,
        ),
        at=later(DAY),
    )
    meeting = app.get_topic(tid).meetings["M1"]
    assert [p["kind"] for p in meeting.participants] == ["MEMBER", "CADRE", "DEPARTMENT", "PUBLIC"]


def test_a_deliberation_names_the_missing_kinds_of_4_plus_x(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    panel = [p for p in FULL_PANEL if p["kind"] not in ("PUBLIC", "DEPARTMENT")]
    err = refuse(
        app,
        tid,
        RuleViolationError,
        "DELIBERATION_NEEDS_4_PLUS_X",
        lambda: app.handle(
            OWNER,
            ScheduleDeliberation(
                topic_id=tid,
                scheduled_at=later(DAY + 1),
                place="议事厅",
                format="OFFLINE",
                participants=panel,
            ),
            at=later(DAY),
        ),
        "missing: DEPARTMENT, PUBLIC",
    )
    assert "MEMBER" not in err.message.split("missing:")[1]


def test_an_unknown_participant_kind_is_bad_input(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    panel = [*FULL_PANEL, {"name": "记者", "kind": "PRESS", "member_id": None}]
    refuse(
        app,
        tid,
        BadInputError,
        "INVALID_VALUE",
        lambda: app.handle(
            OWNER,
            ScheduleDeliberation(
                topic_id=tid,
                scheduled_at=later(DAY + 1),
                place="议事厅",
                format="OFFLINE",
                participants=panel,
            ),
            at=later(DAY),
        ),
        "PRESS",
    )


def test_a_deliberation_is_scheduled_only_after_determination(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(
            OWNER,
            ScheduleDeliberation(
                topic_id=tid,
                scheduled_at=later(DAY + 1),
                place="议事厅",
                format="OFFLINE",
                participants=FULL_PANEL,
            ),
            at=later(DAY),
        ),
        "COLLECTED",
    )


def test_recording_an_unknown_meeting_is_not_found(app: LinkageApp) -> None:
    tid = topic_at(app, "deliberated")
    refuse(
        app,
        tid,
        NotFoundError,
        "MEETING_NOT_FOUND",
        lambda: app.handle(
            OWNER,
            RecordDeliberation(
                topic_id=tid,
                meeting_id="M7",
                attendance=["王委员"],
                minutes="纪要",
                recommendations=[],
            ),
            at=later(DAY),
        ),
        "M7",
    )


def test_a_meeting_is_held_only_once(app: LinkageApp) -> None:
    tid = topic_at(app, "deliberated")
    refuse(
        app,
        tid,
        RuleViolationError,
        "MEETING_ALREADY_HELD",
        lambda: app.handle(
            OWNER,
            RecordDeliberation(
                topic_id=tid,
                meeting_id="M1",
                attendance=["王委员"],
                minutes="纪要",
                recommendations=[],
            ),
            at=later(DAY),
        ),
        "M1",
    )


def test_a_second_meeting_may_be_scheduled_and_held(app: LinkageApp) -> None:
    tid = topic_at(app, "deliberated")
    result = app.handle(
        OWNER,
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=later(DAY + 2),
            place="线上",
            format="ONLINE",
            participants=FULL_PANEL,
        ),
        at=later(DAY),
    )
    assert result.created_id == "M2"
    app.handle(
        OWNER,
        RecordDeliberation(
            topic_id=tid,
            meeting_id="M2",
            attendance=["王委员"],
            minutes="补充协商",
            recommendations=["补充"],
        ),
        at=later(DAY + 2),
    )
    assert app.get_topic(tid).meetings["M2"].recommendations == ["补充"]


def test_a_held_meeting_needs_attendance(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    app.handle(
        OWNER,
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=later(DAY + 1),
            place="议事厅",
            format="OFFLINE",
            participants=FULL_PANEL,
        ),
        at=later(DAY),
    )
    refuse(
        app,
        tid,
        BadInputError,
        "FIELD_REQUIRED",
        lambda: app.handle(
            OWNER,
            RecordDeliberation(
                topic_id=tid, meeting_id="M1", attendance=[], minutes="纪要", recommendations=[]
            ),
            at=later(DAY + 1),
        ),
        "attendance",
    )


# -- tasks -----------------------------------------------------------------------------


def test_a_task_is_assigned_after_a_held_deliberation(app: LinkageApp) -> None:
    tid = topic_at(app, "handling")
    topic = app.get_topic(tid)
    assert topic.stage == Stage.HANDLING
    task = topic.tasks["T1"]
    assert (task.handler_unit, task.status, task.due) == (
        HANDLER_UNIT,
        TaskStatus.ASSIGNED,
        TASK_DUE,
    )
    second = app.handle(
        OWNER,
        AssignTask(
            topic_id=tid,
            handler_unit=COUNTY,
            handler="区水务局",
            requirement="核定补贴",
            due=later(90),
        ),
        at=later(DAY),
    )
    assert second.created_id == "T2"


def test_a_task_is_not_assigned_before_a_deliberation_is_held(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    app.handle(
        OWNER,
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=later(DAY + 5),
            place="议事厅",
            format="OFFLINE",
            participants=FULL_PANEL,
        ),
        at=later(DAY),
    )
    refuse(
        app,
        tid,
        RuleViolationError,
        "TASK_BEFORE_DELIBERATION",
        lambda: app.handle(
            OWNER,
            AssignTask(
                topic_id=tid,
                handler_unit=TOWNSHIP,
                handler="城建办",
                requirement="安装",
                due=TASK_DUE,
            ),
            at=later(DAY + 1),
        ),
        "held",
    )


def test_a_task_is_not_assigned_on_a_determined_topic(app: LinkageApp) -> None:
    tid = topic_at(app, "determined")
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(
            OWNER,
            AssignTask(
                topic_id=tid,
                handler_unit=TOWNSHIP,
                handler="城建办",
                requirement="安装",
                due=TASK_DUE,
            ),
            at=later(DAY),
        ),
        "DETERMINED",
    )


@pytest.mark.parametrize("offset", [0, -3])
def test_a_task_due_must_be_in_the_future(app: LinkageApp, offset: float) -> None:
    tid = topic_at(app, "deliberated")
    due = later(DAY + offset)
    refuse(
        app,
        tid,
        BadInputError,
        "DUE_NOT_IN_FUTURE",
        lambda: app.handle(
            OWNER,
            AssignTask(
                topic_id=tid, handler_unit=TOWNSHIP, handler="城建办", requirement="安装", due=due
            ),
            at=later(DAY),
        ),
        shown(due),
    )


def test_a_task_for_an_unknown_handler_unit_is_not_found(app: LinkageApp) -> None:
    tid = topic_at(app, "deliberated")
    refuse(
        app,
        tid,
        NotFoundError,
        "UNIT_NOT_FOUND",
        lambda: app.handle(
            OWNER,
            AssignTask(
                topic_id=tid,
                handler_unit=UNKNOWN_UNIT,
                handler="城建办",
                requirement="安装",
                due=TASK_DUE,
            ),
            at=later(DAY),
        ),
        UNKNOWN_UNIT,
    )


def test_only_the_handler_unit_signs(app: LinkageApp) -> None:
    tid = topic_at(app, "handling")
    for who in (handler(VILLAGE), handler(COUNTY)):
        refuse(
            app,
            tid,
            ForbiddenError,
            "NOT_TASK_HANDLER",
            lambda who=who: app.handle(who, SignTask(topic_id=tid, task_id="T1"), at=later(DAY)),
            HANDLER_UNIT,
            who.unit,
            "T1",
        )
    app.handle(staff(HANDLER_UNIT), SignTask(topic_id=tid, task_id="T1"), at=later(DAY))
    task = app.get_topic(tid).tasks["T1"]
    assert (task.status, task.signed_at) == (TaskStatus.SIGNED, later(DAY))


def test_a_task_is_signed_only_once(app: LinkageApp) -> None:
    tid = topic_at(app, "signed")
    refuse(
        app,
        tid,
        RuleViolationError,
        "TASK_ALREADY_SIGNED",
        lambda: app.handle(
            handler(HANDLER_UNIT), SignTask(topic_id=tid, task_id="T1"), at=later(DAY)
        ),
        "T1",
        "SIGNED",
    )


def test_an_unknown_task_is_not_found(app: LinkageApp) -> None:
    tid = topic_at(app, "handling")
    refuse(
        app,
        tid,
        NotFoundError,
        "TASK_NOT_FOUND",
        lambda: app.handle(
            handler(HANDLER_UNIT), SignTask(topic_id=tid, task_id="T9"), at=later(DAY)
        ),
        "T9",
    )


@pytest.mark.parametrize("command", ["progress", "complete"])
def test_progress_and_completion_need_a_signed_task(app: LinkageApp, command: str) -> None:
    tid = topic_at(app, "handling")
    who = handler(HANDLER_UNIT)
    calls = {
        "progress": lambda: app.handle(
            who, ReportTaskProgress(topic_id=tid, task_id="T1", note="已采购"), at=later(DAY)
        ),
        "complete": lambda: app.handle(
            who, CompleteTask(topic_id=tid, task_id="T1", result="完成"), at=later(DAY)
        ),
    }
    refuse(app, tid, RuleViolationError, "TASK_NOT_SIGNED", calls[command], "T1", "ASSIGNED")


def test_the_handler_reports_progress_and_completes_a_signed_task(app: LinkageApp) -> None:
    tid = topic_at(app, "signed")
    who = handler(HANDLER_UNIT)
    app.handle(
        who, ReportTaskProgress(topic_id=tid, task_id="T1", note="加压泵已到货"), at=later(DAY)
    )
    app.handle(
        who, CompleteTask(topic_id=tid, task_id="T1", result="安装调试完毕"), at=later(DAY + 1)
    )
    task = app.get_topic(tid).tasks["T1"]
    assert task.progress == ["加压泵已到货"]
    assert (task.status, task.completed_at, task.result) == (
        TaskStatus.COMPLETED,
        later(DAY + 1),
        "安装调试完毕",
    )


def test_only_the_handler_unit_reports_progress(app: LinkageApp) -> None:
    tid = topic_at(app, "signed")
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_TASK_HANDLER",
        lambda: app.handle(
            OWNER, ReportTaskProgress(topic_id=tid, task_id="T1", note="进展"), at=later(DAY)
        ),
        HANDLER_UNIT,
        VILLAGE,
    )


def test_a_completed_task_is_not_completed_again(app: LinkageApp) -> None:
    tid = topic_at(app, "completed")
    refuse(
        app,
        tid,
        RuleViolationError,
        "TASK_NOT_SIGNED",
        lambda: app.handle(
            handler(HANDLER_UNIT),
            CompleteTask(topic_id=tid, task_id="T1", result="再次完成"),
            at=later(DAY),
        ),
        "T1",
        "COMPLETED",
    )


@pytest.mark.parametrize("unit", [VILLAGE, TOWNSHIP, COUNTY, CITY, PROVINCE])
def test_the_owner_or_any_ancestor_supervises(app: LinkageApp, unit: str) -> None:
    tid = topic_at(app, "signed")
    app.handle(
        leader(unit),
        SuperviseTask(topic_id=tid, task_id="T1", note="请加快进度，月底前完成"),
        at=later(DAY),
    )
    assert app.get_topic(tid).tasks["T1"].supervisions == 1
    entry = app.history(tid)[-1]
    assert (entry.type, entry.actor["unit"], entry.reason) == (
        "TaskSupervised",
        unit,
        "请加快进度，月底前完成",
    )


def test_a_co_organising_sibling_may_not_supervise(app: LinkageApp) -> None:
    tid = topic_at(app, "signed")
    app.handle(OWNER, InviteCoOrganizer(topic_id=tid, unit=SIBLING_VILLAGE), at=later(DAY - 1))
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_OWNER_OR_ANCESTOR",
        lambda: app.handle(
            staff(SIBLING_VILLAGE),
            SuperviseTask(topic_id=tid, task_id="T1", note="督办"),
            at=later(DAY),
        ),
        VILLAGE,
        SIBLING_VILLAGE,
    )


def test_a_completed_task_is_not_supervised(app: LinkageApp) -> None:
    tid = topic_at(app, "completed")
    refuse(
        app,
        tid,
        RuleViolationError,
        "TASK_COMPLETED",
        lambda: app.handle(
            staff(COUNTY), SuperviseTask(topic_id=tid, task_id="T1", note="督办"), at=later(DAY)
        ),
        "T1",
    )


def test_the_owner_extends_a_deadline_to_a_later_due_with_a_reason(app: LinkageApp) -> None:
    tid = topic_at(app, "signed")
    app.handle(
        OWNER,
        ExtendTaskDeadline(
            topic_id=tid, task_id="T1", new_due=TASK_DUE + timedelta(days=14), reason="设备缺货"
        ),
        at=later(DAY),
    )
    task = app.get_topic(tid).tasks["T1"]
    assert (task.due, task.extensions) == (TASK_DUE + timedelta(days=14), 1)
    entry = app.history(tid)[-1]
    assert (entry.data["old_due"], entry.data["new_due"]) == (
        TASK_DUE,
        TASK_DUE + timedelta(days=14),
    )
    assert entry.reason == "设备缺货"


@pytest.mark.parametrize("shift", [0, -1])
def test_an_extension_needs_a_later_due(app: LinkageApp, shift: float) -> None:
    tid = topic_at(app, "signed")
    new_due = TASK_DUE + timedelta(days=shift)
    refuse(
        app,
        tid,
        RuleViolationError,
        "EXTENSION_NOT_LATER",
        lambda: app.handle(
            OWNER,
            ExtendTaskDeadline(topic_id=tid, task_id="T1", new_due=new_due, reason="延期"),
            at=later(DAY),
        ),
        shown(new_due),
        shown(TASK_DUE),
        "T1",
    )


def test_an_extension_needs_a_reason(app: LinkageApp) -> None:
    tid = topic_at(app, "signed")
    refuse(
        app,
        tid,
        BadInputError,
        "FIELD_REQUIRED",
        lambda: app.handle(
            OWNER,
            ExtendTaskDeadline(topic_id=tid, task_id="T1", new_due=later(90), reason=""),
            at=later(DAY),
        ),
        "reason",
    )


def test_a_completed_task_is_not_extended(app: LinkageApp) -> None:
    tid = topic_at(app, "completed")
    refuse(
        app,
        tid,
        RuleViolationError,
        "TASK_COMPLETED",
        lambda: app.handle(
            OWNER,
            ExtendTaskDeadline(topic_id=tid, task_id="T1", new_due=later(90), reason="延期"),
            at=later(DAY),
        ),
        "T1",
    )


def test_only_the_owner_extends_a_deadline(app: LinkageApp) -> None:
    tid = topic_at(app, "signed")
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_OWNER",
        lambda: app.handle(
            staff(HANDLER_UNIT),
            ExtendTaskDeadline(topic_id=tid, task_id="T1", new_due=later(90), reason="延期"),
            at=later(DAY),
        ),
        VILLAGE,
        HANDLER_UNIT,
    )


# -- leader instruction and adoption ---------------------------------------------------


@pytest.mark.parametrize("unit", [VILLAGE, TOWNSHIP, PROVINCE])
def test_leaders_of_the_owner_or_its_ancestors_instruct_and_adopt(
    app: LinkageApp, unit: str
) -> None:
    tid = topic_at(app, "deliberated")
    app.handle(
        leader(unit),
        RecordLeaderInstruction(topic_id=tid, text="请相关部门抓紧落实"),
        at=later(DAY),
    )
    app.handle(
        leader(unit),
        RecordAdoption(topic_id=tid, body="城关区人民政府", text="采纳加装加压泵建议"),
        at=later(DAY + 1),
    )
    topic = app.get_topic(tid)
    assert topic.instructions == ["请相关部门抓紧落实"]
    assert topic.adoptions == [{"body": "城关区人民政府", "text": "采纳加装加压泵建议"}]


@pytest.mark.parametrize("command", ["instruction", "adoption"])
def test_only_leaders_instruct_and_adopt(app: LinkageApp, command: str) -> None:
    tid = topic_at(app, "deliberated")
    who = staff(COUNTY)
    calls = {
        "instruction": lambda: app.handle(
            who, RecordLeaderInstruction(topic_id=tid, text="批示"), at=later(DAY)
        ),
        "adoption": lambda: app.handle(
            who, RecordAdoption(topic_id=tid, body="区政府", text="采纳"), at=later(DAY)
        ),
    }
    refuse(app, tid, ForbiddenError, "ROLE_NOT_PERMITTED", calls[command], "STAFF", "LEADER")


@pytest.mark.parametrize("command", ["instruction", "adoption"])
def test_leaders_outside_the_owners_line_may_not_instruct_or_adopt(
    app: LinkageApp, command: str
) -> None:
    tid = topic_at(app, "deliberated")
    unit = SIBLING_VILLAGE
    app.handle(
        OWNER, InviteCoOrganizer(topic_id=tid, unit=unit), at=later(DAY - 1)
    )  # sees it, not above it
    who = leader(unit)
    calls = {
        "instruction": lambda: app.handle(
            who, RecordLeaderInstruction(topic_id=tid, text="批示"), at=later(DAY)
        ),
        "adoption": lambda: app.handle(
            who, RecordAdoption(topic_id=tid, body="区政府", text="采纳"), at=later(DAY)
        ),
    }
    refuse(app, tid, ForbiddenError, "NOT_OWNER_OR_ANCESTOR", calls[command], VILLAGE, unit)


def test_a_leader_of_a_former_owner_below_may_not_instruct(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(leader(COUNTY), TakeOverTopic(topic_id=tid, reason="提级"), at=later(DAY))
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_OWNER_OR_ANCESTOR",
        lambda: app.handle(
            leader(VILLAGE), RecordLeaderInstruction(topic_id=tid, text="批示"), at=later(DAY + 1)
        ),
        COUNTY,
        VILLAGE,
    )


# -- feedback, return visits, reopen, close, withdraw ----------------------------------


def test_feedback_comes_after_every_task_is_completed(app: LinkageApp) -> None:
    tid = topic_at(app, "signed")
    app.handle(
        OWNER,
        AssignTask(
            topic_id=tid,
            handler_unit=COUNTY,
            handler="区水务局",
            requirement="核定补贴",
            due=later(90),
        ),
        at=later(DAY),
    )
    app.handle(
        OWNER,
        AssignTask(
            topic_id=tid,
            handler_unit=TOWNSHIP,
            handler="城建办",
            requirement="回填路面",
            due=later(90),
        ),
        at=later(DAY),
    )
    app.handle(
        handler(HANDLER_UNIT),
        CompleteTask(topic_id=tid, task_id="T1", result="完成"),
        at=later(DAY + 1),
    )
    refuse(
        app,
        tid,
        RuleViolationError,
        "FEEDBACK_BEFORE_TASKS_COMPLETED",
        lambda: app.handle(OWNER, GiveFeedback(topic_id=tid, reply="已办结"), at=later(DAY + 2)),
        "still open: T2, T3",
    )
    open_tasks = (("T2", COUNTY), ("T3", TOWNSHIP))
    for task_id, unit in open_tasks:
        app.handle(handler(unit), SignTask(topic_id=tid, task_id=task_id), at=later(DAY + 2))
    for task_id, unit in open_tasks:
        app.handle(
            handler(unit),
            CompleteTask(topic_id=tid, task_id=task_id, result="完成"),
            at=later(DAY + 3),
        )
    app.handle(
        OWNER,
        GiveFeedback(topic_id=tid, reply="三项任务均已完成", channel="微信群"),
        at=later(DAY + 4),
    )
    topic = app.get_topic(tid)
    assert (topic.stage, topic.feedback) == (Stage.FEEDBACK, "三项任务均已完成")


def test_feedback_is_given_only_while_handling(app: LinkageApp) -> None:
    tid = topic_at(app, "deliberated")
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(OWNER, GiveFeedback(topic_id=tid, reply="答复"), at=later(DAY)),
        "DELIBERATION",
        "HANDLING",
    )


def test_only_the_owner_gives_feedback(app: LinkageApp) -> None:
    tid = topic_at(app, "completed")
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_OWNER",
        lambda: app.handle(
            staff(HANDLER_UNIT), GiveFeedback(topic_id=tid, reply="答复"), at=later(DAY)
        ),
        VILLAGE,
    )


def test_a_return_visit_is_recorded_in_feedback(app: LinkageApp) -> None:
    tid = topic_at(app, "feedback")
    app.handle(
        OWNER,
        RecordReturnVisit(
            topic_id=tid,
            contacted=True,
            solved=False,
            satisfaction="BASICALLY_SATISFIED",
            comment="偶有波动",
        ),
        at=later(DAY),
    )
    visit = app.get_topic(tid).return_visits[-1]
    assert (visit.contacted, visit.solved, visit.satisfaction, visit.comment) == (
        True,
        False,
        "BASICALLY_SATISFIED",
        "偶有波动",
    )


def test_a_return_visit_is_refused_before_feedback(app: LinkageApp) -> None:
    tid = topic_at(app, "completed")
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(
            OWNER,
            RecordReturnVisit(topic_id=tid, contacted=True, solved=True, satisfaction="SATISFIED"),
            at=later(DAY),
        ),
        "HANDLING",
        "FEEDBACK",
    )


def test_a_return_visit_with_an_unknown_rating_is_bad_input(app: LinkageApp) -> None:
    tid = topic_at(app, "feedback")
    refuse(
        app,
        tid,
        BadInputError,
        "INVALID_VALUE",
        lambda: app.handle(
            OWNER,
            RecordReturnVisit(topic_id=tid, contacted=True, solved=True, satisfaction="GREAT"),
            at=later(DAY),
        ),
        "GREAT",
    )


def test_an_unsatisfied_visit_reopens_the_topic_to_handling(app: LinkageApp) -> None:
    tid = topic_at(app, "feedback")
    app.handle(
        OWNER,
        RecordReturnVisit(
            topic_id=tid,
            contacted=True,
            solved=False,
            satisfaction="UNSATISFIED",
            comment="水压仍不足",
        ),
        at=later(DAY),
    )
    app.handle(OWNER, ReopenTopic(topic_id=tid, reason="回访不满意，重新办理"), at=later(DAY + 1))
    topic = app.get_topic(tid)
    assert (topic.stage, topic.reopened, topic.feedback) == (Stage.HANDLING, 1, None)
    assert app.history(tid)[-1].reason == "回访不满意，重新办理"
    # the next round assigns a task again and ends in a new feedback
    app.handle(
        OWNER,
        AssignTask(
            topic_id=tid,
            handler_unit=COUNTY,
            handler="区水务局",
            requirement="更换主管道",
            due=later(90),
        ),
        at=later(DAY + 2),
    )
    assert app.get_topic(tid).tasks["T2"].status == TaskStatus.ASSIGNED


@pytest.mark.parametrize("satisfaction", [None, "SATISFIED", "BASICALLY_SATISFIED"])
def test_reopening_needs_an_unsatisfied_last_visit(
    app: LinkageApp, satisfaction: str | None
) -> None:
    tid = topic_at(app, "feedback")
    if satisfaction is not None:
        app.handle(
            OWNER,
            RecordReturnVisit(
                topic_id=tid, contacted=True, solved=True, satisfaction="UNSATISFIED"
            ),
            at=later(DAY),
        )
        app.handle(
            OWNER,
            RecordReturnVisit(topic_id=tid, contacted=True, solved=True, satisfaction=satisfaction),
            at=later(DAY + 1),
        )
    refuse(
        app,
        tid,
        RuleViolationError,
        "REOPEN_NEEDS_UNSATISFIED_VISIT",
        lambda: app.handle(OWNER, ReopenTopic(topic_id=tid, reason="重办"), at=later(DAY + 2)),
        "no return visit" if satisfaction is None else f"was {satisfaction}",
    )


def test_reopening_is_refused_outside_feedback(app: LinkageApp) -> None:
    tid = topic_at(app, "completed")
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(OWNER, ReopenTopic(topic_id=tid, reason="重办"), at=later(DAY)),
        "HANDLING",
    )


def test_closing_needs_a_return_visit(app: LinkageApp) -> None:
    tid = topic_at(app, "feedback")
    refuse(
        app,
        tid,
        RuleViolationError,
        "CLOSE_NEEDS_RETURN_VISIT",
        lambda: app.handle(OWNER, CloseTopic(topic_id=tid, summary="办结"), at=later(DAY)),
        "return visit",
    )
    app.handle(
        OWNER,
        RecordReturnVisit(topic_id=tid, contacted=True, solved=True, satisfaction="SATISFIED"),
        at=later(DAY + 1),
    )
    app.handle(OWNER, CloseTopic(topic_id=tid, summary="问题解决，群众满意"), at=later(DAY + 2))
    topic = app.get_topic(tid)
    assert (topic.stage, topic.closed_at, topic.summary) == (
        Stage.CLOSED,
        later(DAY + 2),
        "问题解决，群众满意",
    )


def test_after_a_reopening_the_new_feedback_needs_its_own_return_visit(app: LinkageApp) -> None:
    tid = topic_at(app, "feedback")
    app.handle(
        OWNER,
        RecordReturnVisit(topic_id=tid, contacted=True, solved=False, satisfaction="UNSATISFIED"),
        at=later(DAY),
    )
    app.handle(OWNER, ReopenTopic(topic_id=tid, reason="重办"), at=later(DAY + 1))
    app.handle(OWNER, GiveFeedback(topic_id=tid, reply="已更换主管道"), at=later(DAY + 2))
    refuse(
        app,
        tid,
        RuleViolationError,
        "CLOSE_NEEDS_RETURN_VISIT",
        lambda: app.handle(OWNER, CloseTopic(topic_id=tid, summary="办结"), at=later(DAY + 3)),
    )
    refuse(
        app,
        tid,
        RuleViolationError,
        "REOPEN_NEEDS_UNSATISFIED_VISIT",
        lambda: app.handle(OWNER, ReopenTopic(topic_id=tid, reason="再次重办"), at=later(DAY + 3)),
        "no return visit",
    )
    app.handle(
        OWNER,
        RecordReturnVisit(topic_id=tid, contacted=True, solved=True, satisfaction="SATISFIED"),
        at=later(DAY + 4),
    )
    app.handle(OWNER, CloseTopic(topic_id=tid, summary="办结"), at=later(DAY + 5))
    assert app.get_topic(tid).stage == Stage.CLOSED


def test_closing_is_refused_outside_feedback(app: LinkageApp) -> None:
    tid = topic_at(app, "completed")
    refuse(
        app,
        tid,
        RuleViolationError,
        "STAGE_ORDER",
        lambda: app.handle(OWNER, CloseTopic(topic_id=tid, summary="办结"), at=later(DAY)),
        "HANDLING",
        "FEEDBACK",
    )


def test_a_pending_escalation_blocks_closing(app: LinkageApp) -> None:
    tid = topic_at(app, "completed")
    app.handle(OWNER, EscalateTopic(topic_id=tid, reason="请街道复核"), at=later(DAY))
    app.handle(OWNER, GiveFeedback(topic_id=tid, reply="答复"), at=later(DAY + 1))
    app.handle(
        OWNER,
        RecordReturnVisit(topic_id=tid, contacted=True, solved=True, satisfaction="SATISFIED"),
        at=later(DAY + 2),
    )
    refuse(
        app,
        tid,
        RuleViolationError,
        "TRANSFER_PENDING",
        lambda: app.handle(OWNER, CloseTopic(topic_id=tid, summary="办结"), at=later(DAY + 3)),
        VILLAGE,
        TOWNSHIP,
    )


@pytest.mark.parametrize("step", [None, "determined", "signed", "feedback"])
def test_the_owner_withdraws_an_open_topic(app: LinkageApp, step: str | None) -> None:
    tid = topic_at(app, step)
    app.handle(OWNER, WithdrawTopic(topic_id=tid, reason="居民已自行解决"), at=later(DAY))
    topic = app.get_topic(tid)
    assert (topic.stage, topic.closed_at) == (Stage.WITHDRAWN, later(DAY))


def test_only_the_owner_withdraws(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        ForbiddenError,
        "NOT_OWNER",
        lambda: app.handle(
            staff(TOWNSHIP), WithdrawTopic(topic_id=tid, reason="撤回"), at=later(DAY)
        ),
        VILLAGE,
    )


# -- terminal stages and the auditor role ----------------------------------------------


def _terminal(app: LinkageApp, stage: Stage) -> uuid.UUID:
    if stage == Stage.CLOSED:
        return topic_at(app, "closed")
    if stage == Stage.DECLINED:
        tid = topic_at(app)
        app.handle(OWNER, DeclineTopic(topic_id=tid, reason="不属于协商范围"), at=later(10))
        return tid
    if stage == Stage.WITHDRAWN:
        tid = topic_at(app, "signed")
        app.handle(OWNER, WithdrawTopic(topic_id=tid, reason="撤回"), at=later(10))
        return tid
    tid = topic_at(app)
    target = township_topic(app, day=1)
    app.handle(OWNER, MergeTopic(topic_id=tid, into_topic_id=target, reason="合并"), at=later(10))
    return tid


Command = Callable[[LinkageApp, uuid.UUID, Actor, datetime, uuid.UUID], CommandResult]

# name -> (unit of the actor who would normally be entitled, role, the call)
COMMANDS: dict[str, tuple[str, Role, Command]] = {
    "determine": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, DetermineTopic(topic_id=t), at=at),
    ),
    "decline": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, DeclineTopic(topic_id=t, reason="拒"), at=at),
    ),
    "merge": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(
            w, MergeTopic(topic_id=t, into_topic_id=o, reason="合并"), at=at
        ),
    ),
    "escalate": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, EscalateTopic(topic_id=t), at=at),
    ),
    "delegate": (
        TOWNSHIP,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(
            w, DelegateTopic(topic_id=t, to_unit=VILLAGE, instructions="下放"), at=at
        ),
    ),
    "accept": (
        TOWNSHIP,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, AcceptTransfer(topic_id=t), at=at),
    ),
    "return": (
        TOWNSHIP,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, ReturnTransfer(topic_id=t, reason="退回"), at=at),
    ),
    "cancel": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, CancelTransfer(topic_id=t), at=at),
    ),
    "take_over": (
        COUNTY,
        Role.LEADER,
        lambda a, t, w, at, o: a.handle(w, TakeOverTopic(topic_id=t, reason="提级"), at=at),
    ),
    "invite": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(
            w, InviteCoOrganizer(topic_id=t, unit=SIBLING_VILLAGE), at=at
        ),
    ),
    "start_research": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, StartResearch(topic_id=t, text="调研"), at=at),
    ),
    "report_research": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, ReportResearch(topic_id=t, text="报告"), at=at),
    ),
    "schedule": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(
            w,
            ScheduleDeliberation(
                topic_id=t,
                scheduled_at=at + timedelta(days=1),
                place="议事厅",
                format="OFFLINE",
                participants=FULL_PANEL,
            ),
            at=at,
        ),
    ),
    "record_deliberation": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(
            w,
            RecordDeliberation(
                topic_id=t,
                meeting_id="M1",
                attendance=["王委员"],
                minutes="纪要",
                recommendations=[],
            ),
            at=at,
        ),
    ),
    "assign": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(
            w,
            AssignTask(
                topic_id=t,
                handler_unit=TOWNSHIP,
                handler="城建办",
                requirement="办理",
                due=at + timedelta(days=30),
            ),
            at=at,
        ),
    ),
    "sign": (
        HANDLER_UNIT,
        Role.HANDLER,
        lambda a, t, w, at, o: a.handle(w, SignTask(topic_id=t, task_id="T1"), at=at),
    ),
    "progress": (
        HANDLER_UNIT,
        Role.HANDLER,
        lambda a, t, w, at, o: a.handle(
            w, ReportTaskProgress(topic_id=t, task_id="T1", note="进展"), at=at
        ),
    ),
    "complete": (
        HANDLER_UNIT,
        Role.HANDLER,
        lambda a, t, w, at, o: a.handle(
            w, CompleteTask(topic_id=t, task_id="T1", result="完成"), at=at
        ),
    ),
    "supervise": (
        COUNTY,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(
            w, SuperviseTask(topic_id=t, task_id="T1", note="督办"), at=at
        ),
    ),
    "extend": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(
            w,
            ExtendTaskDeadline(topic_id=t, task_id="T1", new_due=later(365), reason="延期"),
            at=at,
        ),
    ),
    "instruction": (
        COUNTY,
        Role.LEADER,
        lambda a, t, w, at, o: a.handle(w, RecordLeaderInstruction(topic_id=t, text="批示"), at=at),
    ),
    "adoption": (
        COUNTY,
        Role.LEADER,
        lambda a, t, w, at, o: a.handle(
            w, RecordAdoption(topic_id=t, body="区政府", text="采纳"), at=at
        ),
    ),
    "feedback": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, GiveFeedback(topic_id=t, reply="答复"), at=at),
    ),
    "return_visit": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(
            w,
            RecordReturnVisit(topic_id=t, contacted=True, solved=True, satisfaction="SATISFIED"),
            at=at,
        ),
    ),
    "reopen": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, ReopenTopic(topic_id=t, reason="重办"), at=at),
    ),
    "close": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, CloseTopic(topic_id=t, summary="办结"), at=at),
    ),
    "withdraw": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, WithdrawTopic(topic_id=t, reason="撤回"), at=at),
    ),
    "comment": (
        VILLAGE,
        Role.STAFF,
        lambda a, t, w, at, o: a.handle(w, AddComment(topic_id=t, text="留言"), at=at),
    ),
}
TASK_COMMANDS = {"sign", "progress", "complete", "supervise", "extend"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("stage", [Stage.CLOSED, Stage.DECLINED, Stage.WITHDRAWN, Stage.MERGED])
def test_a_terminal_topic_refuses_every_command(
    app: LinkageApp, stage: Stage, command: str
) -> None:
    tid = _terminal(app, stage)
    other = submit(app, day=11)
    assert app.get_topic(tid).stage == stage
    unit, role, call = COMMANDS[command]
    if command in TASK_COMMANDS and "T1" not in app.get_topic(tid).tasks:
        error, rule = NotFoundError, "TASK_NOT_FOUND"  # declined/merged topics never had tasks
    else:
        error, rule = RuleViolationError, "TOPIC_TERMINAL"
    names = ("T1",) if rule == "TASK_NOT_FOUND" else (str(tid), stage.value)
    refuse(
        app,
        [tid, other],
        error,
        rule,
        lambda: call(app, tid, actor(unit, role), later(DAY), other),
        *names,
    )


@pytest.mark.parametrize("unit", [SIBLING_VILLAGE, SIBLING_COUNTY, OTHER_CITY])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_unit_that_cannot_see_the_topic_is_told_it_does_not_exist(
    app: LinkageApp, command: str, unit: str
) -> None:
    tid = topic_at(app, "signed")
    app.handle(
        OWNER, EscalateTopic(topic_id=tid), at=later(10)
    )  # so that transfer commands have a target
    other = submit(app, day=11)
    _, role, call = COMMANDS[command]
    err = refuse(
        app,
        [tid, other],
        NotFoundError,
        "TOPIC_NOT_FOUND",
        lambda: call(app, tid, actor(unit, role), later(DAY), other),
        str(tid),
    )
    assert err.message == f"topic {tid} does not exist"  # nothing more is revealed


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_auditor_may_do_nothing(app: LinkageApp, command: str) -> None:
    tid = topic_at(app, "signed")
    app.handle(
        OWNER, EscalateTopic(topic_id=tid), at=later(10)
    )  # so that transfer commands have a target
    other = submit(app, day=11)
    unit, _, call = COMMANDS[command]
    refuse(
        app,
        [tid, other],
        ForbiddenError,
        "ROLE_NOT_PERMITTED",
        lambda: call(app, tid, actor(unit, Role.AUDITOR), later(DAY), other),
        "AUDITOR",
    )


# -- comments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who",
    [
        staff(VILLAGE),
        actor(VILLAGE, Role.MEMBER),
        handler(HANDLER_UNIT),
        leader(PROVINCE),
        staff(COUNTY),
        staff(SIBLING_VILLAGE),  # a co-organiser
    ],
)
def test_anyone_who_can_see_the_topic_comments(app: LinkageApp, who: Actor) -> None:
    tid = topic_at(app, "handling")
    app.handle(OWNER, InviteCoOrganizer(topic_id=tid, unit=SIBLING_VILLAGE), at=later(10))
    app.handle(who, AddComment(topic_id=tid, text="建议同步公示施工时间"), at=later(DAY))
    assert app.get_topic(tid).comments == 1
    entry = app.history(tid)[-1]
    assert (entry.type, entry.actor["unit"], entry.reason) == (
        "CommentAdded",
        who.unit,
        "建议同步公示施工时间",
    )


@pytest.mark.parametrize("unit", [SIBLING_VILLAGE, COUSIN_VILLAGE, FAR_VILLAGE, SIBLING_COUNTY])
def test_a_unit_that_cannot_see_the_topic_gets_not_found(app: LinkageApp, unit: str) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        NotFoundError,
        "TOPIC_NOT_FOUND",
        lambda: app.handle(staff(unit), AddComment(topic_id=tid, text="留言"), at=later(DAY)),
        str(tid),
    )


def test_a_former_owner_on_the_route_still_sees_but_no_longer_comments(app: LinkageApp) -> None:
    tid = submit(app, staff(TOWNSHIP), location=TOWNSHIP)
    app.handle(
        staff(TOWNSHIP),
        DelegateTopic(topic_id=tid, to_unit=VILLAGE, instructions="请社区办理"),
        at=later(1),
    )
    app.handle(OWNER, AcceptTransfer(topic_id=tid), at=later(2))
    app.handle(leader(COUNTY), TakeOverTopic(topic_id=tid, reason="提级"), at=later(3))
    assert app.visible_topic(staff(VILLAGE), tid).id == tid
    refuse(
        app,
        tid,
        ForbiddenError,
        "INVOLVEMENT_ENDED",
        lambda: app.handle(
            staff(VILLAGE), AddComment(topic_id=tid, text="社区继续配合"), at=later(DAY)
        ),
        VILLAGE,
        str(tid),
        "TopicTakenOver",
    )


def test_a_comment_needs_text(app: LinkageApp) -> None:
    tid = topic_at(app)
    refuse(
        app,
        tid,
        BadInputError,
        "FIELD_REQUIRED",
        lambda: app.handle(OWNER, AddComment(topic_id=tid, text="  "), at=later(DAY)),
        "text",
    )


# -- the record: actor, time, reason; versions; as-of ----------------------------------


def test_every_event_records_actor_utc_time_and_the_reason_of_decisions(app: LinkageApp) -> None:
    tid = topic_at(app)
    county = staff(COUNTY)
    app.handle(
        OWNER,
        EscalateTopic(topic_id=tid, reason="社区无力解决"),
        at=datetime(2026, 4, 1, 9, tzinfo=BEIJING),
    )
    app.handle(staff(TOWNSHIP), ReturnTransfer(topic_id=tid, reason="请社区先行协商"), at=later(31))
    app.handle(
        OWNER, EscalateTopic(topic_id=tid, to_unit=COUNTY, reason="街道无管网权限"), at=later(32)
    )
    app.handle(county, AcceptTransfer(topic_id=tid, note="区里接收"), at=later(33))
    app.handle(county, DetermineTopic(topic_id=tid, note="区委同意"), at=later(34))
    app.handle(
        county,
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=later(36),
            place="区政协",
            format="OFFLINE",
            participants=FULL_PANEL,
        ),
        at=later(35),
    )
    app.handle(
        county,
        RecordDeliberation(
            topic_id=tid,
            meeting_id="M1",
            attendance=["王委员"],
            minutes="纪要",
            recommendations=["改造"],
        ),
        at=later(36),
    )
    app.handle(
        county,
        AssignTask(
            topic_id=tid, handler_unit=TOWNSHIP, handler="城建办", requirement="改造", due=later(60)
        ),
        at=later(37),
    )
    app.handle(
        county,
        ExtendTaskDeadline(topic_id=tid, task_id="T1", new_due=later(75), reason="雨季停工"),
        at=later(38),
    )
    app.handle(leader(CITY), TakeOverTopic(topic_id=tid, reason="市级挂牌督办"), at=later(39))
    app.handle(handler(TOWNSHIP), SignTask(topic_id=tid, task_id="T1"), at=later(40))
    app.handle(
        handler(TOWNSHIP), CompleteTask(topic_id=tid, task_id="T1", result="改造完成"), at=later(41)
    )
    app.handle(staff(CITY), GiveFeedback(topic_id=tid, reply="已改造完毕"), at=later(42))
    app.handle(
        staff(CITY),
        RecordReturnVisit(
            topic_id=tid,
            contacted=True,
            solved=False,
            satisfaction="UNSATISFIED",
            comment="仍有积水",
        ),
        at=later(43),
    )
    app.handle(staff(CITY), ReopenTopic(topic_id=tid, reason="回访不满意"), at=later(44))
    app.handle(staff(CITY), GiveFeedback(topic_id=tid, reply="已补充疏通"), at=later(45))
    app.handle(
        staff(CITY),
        RecordReturnVisit(topic_id=tid, contacted=True, solved=True, satisfaction="SATISFIED"),
        at=later(46),
    )
    app.handle(staff(CITY), CloseTopic(topic_id=tid, summary="办结"), at=later(47))

    history = app.history(tid)
    assert [e.version for e in history] == list(range(1, len(history) + 1))
    assert app.get_topic(tid).version == len(history) == 19
    for entry in history:
        assert set(entry.actor) == {"user_id", "unit", "role"}
        assert entry.actor["user_id"]
        Role(entry.actor["role"])
        assert entry.occurred_at.utcoffset() == timedelta(0)
    assert [e.occurred_at for e in history] == sorted(e.occurred_at for e in history)
    # a time given in Beijing time is recorded as the same instant in UTC
    assert history[1].occurred_at == datetime(2026, 4, 1, 1, tzinfo=UTC)
    assert history[1].occurred_at.tzinfo == UTC
    decisions = {
        (e.type, e.reason)
        for e in history
        if e.type
        in {
            "EscalationRequested",
            "TransferReturned",
            "TaskDeadlineExtended",
            "TopicTakenOver",
            "TopicReopened",
            "TopicClosed",
        }
    }
    assert decisions == {
        ("EscalationRequested", "社区无力解决"),
        ("TransferReturned", "请社区先行协商"),
        ("EscalationRequested", "街道无管网权限"),
        ("TaskDeadlineExtended", "雨季停工"),
        ("TopicTakenOver", "市级挂牌督办"),
        ("TopicReopened", "回访不满意"),
        ("TopicClosed", "办结"),
    }
    taken = next(e for e in history if e.type == "TopicTakenOver")
    assert taken.actor == {"user_id": f"leader-{CITY}", "unit": CITY, "role": "LEADER"}


def test_naive_command_times_are_refused_and_record_nothing(app: LinkageApp) -> None:
    naive = datetime(2026, 3, 25, 9, 0)
    refuse(
        app,
        None,
        BadInputError,
        "TIME_WITHOUT_OFFSET",
        lambda: app.submit_topic(OWNER, **submission(), at=naive),
        naive.isoformat(),
    )
    tid = topic_at(app, "deliberated")
    fresh = submit(app, day=DAY)
    calls: list[Callable[[], object]] = [
        lambda: app.handle(OWNER, DetermineTopic(topic_id=fresh), at=naive),
        lambda: app.handle(OWNER, AddComment(topic_id=tid, text="留言"), at=naive),
        lambda: app.handle(
            OWNER,
            AssignTask(
                topic_id=tid, handler_unit=TOWNSHIP, handler="城建办", requirement="办理", due=naive
            ),
            at=later(DAY),
        ),
        lambda: app.handle(
            OWNER,
            ScheduleDeliberation(
                topic_id=tid,
                scheduled_at=naive,
                place="议事厅",
                format="OFFLINE",
                participants=FULL_PANEL,
            ),
            at=later(DAY),
        ),
    ]
    for call in calls:
        refuse(app, [tid, fresh], BadInputError, "TIME_WITHOUT_OFFSET", call, naive.isoformat())
    signed = topic_at(app, "signed")
    refuse(
        app,
        signed,
        BadInputError,
        "TIME_WITHOUT_OFFSET",
        lambda: app.handle(
            OWNER,
            ExtendTaskDeadline(topic_id=signed, task_id="T1", new_due=naive, reason="延期"),
            at=later(DAY),
        ),
        naive.isoformat(),
    )
    county = submit(app, staff(COUNTY), location=COUNTY)
    refuse(
        app,
        county,
        BadInputError,
        "TIME_WITHOUT_OFFSET",
        lambda: app.handle(
            staff(COUNTY),
            DelegateTopic(topic_id=county, to_unit=VILLAGE, instructions="下放", due=naive),
            at=later(DAY),
        ),
        naive.isoformat(),
    )


def test_a_stale_expected_version_is_a_conflict(app: LinkageApp) -> None:
    tid = topic_at(app)
    assert (
        app.handle(OWNER, DetermineTopic(topic_id=tid), expected_version=1, at=later(DAY)).version
        == 2
    )
    refuse(
        app,
        tid,
        ConflictError,
        "VERSION_CONFLICT",
        lambda: app.handle(
            OWNER, EscalateTopic(topic_id=tid), expected_version=1, at=later(DAY + 1)
        ),
        str(tid),
        "version 2",
        "expected version 1",
    )
    target = township_topic(app)
    refuse(
        app,
        [tid, target],
        ConflictError,
        "VERSION_CONFLICT",
        lambda: app.handle(
            OWNER,
            MergeTopic(topic_id=tid, into_topic_id=target, reason="合并"),
            expected_version=1,
            at=later(DAY),
        ),
        "expected version 1",
    )
    result = app.handle(OWNER, EscalateTopic(topic_id=tid), expected_version=2, at=later(DAY + 1))
    assert result.version == 3


def test_positions_grow_with_every_recorded_command(app: LinkageApp) -> None:
    first = app.submit_topic(OWNER, **submission(), at=START)
    second = app.handle(OWNER, DetermineTopic(topic_id=first.topic_id), at=later(1))
    target = app.submit_topic(staff(TOWNSHIP), **submission(TOWNSHIP), at=later(2))
    # the village must see the target: TOWNSHIP delegates it there, the village returns it
    app.handle(
        staff(TOWNSHIP),
        DelegateTopic(topic_id=target.topic_id, to_unit=VILLAGE, instructions="请社区核实"),
        at=later(2.1),
    )
    returned = app.handle(
        OWNER, ReturnTransfer(topic_id=target.topic_id, reason="需街道统筹"), at=later(2.2)
    )
    merged = app.handle(
        OWNER,
        MergeTopic(topic_id=first.topic_id, into_topic_id=target.topic_id, reason="合并"),
        at=later(3),
    )
    positions = [first.position, second.position, target.position, returned.position]
    positions.append(merged.position)
    assert positions == sorted(set(positions))
    assert merged.position == app.head_position() == 7  # TopicMerged and TopicAbsorbed


def test_the_topic_as_of_an_instant_shows_the_owner_of_that_instant(app: LinkageApp) -> None:
    tid = topic_at(app)
    app.handle(OWNER, EscalateTopic(topic_id=tid), at=later(1))
    app.handle(staff(TOWNSHIP), AcceptTransfer(topic_id=tid), at=later(2))
    app.handle(staff(TOWNSHIP), EscalateTopic(topic_id=tid), at=later(3))
    app.handle(staff(COUNTY), AcceptTransfer(topic_id=tid), at=later(4))

    assert app.topic_as_of(tid, START - timedelta(seconds=1)) is None
    expectations = [
        (later(0), VILLAGE, None),
        (later(1.5), VILLAGE, TOWNSHIP),
        (later(2), TOWNSHIP, None),
        (later(3.5), TOWNSHIP, COUNTY),
        (later(10), COUNTY, None),
    ]
    for instant, owner, pending_to in expectations:
        topic = app.topic_as_of(tid, instant)
        assert topic is not None
        assert topic.owner == owner, instant
        assert (topic.pending.to_unit if topic.pending else None) == pending_to
    in_beijing = later(2.5).astimezone(BEIJING)
    then = app.topic_as_of(tid, in_beijing)
    assert then is not None
    assert then.owner == TOWNSHIP
    assert then.version == 3


def test_as_of_a_time_without_offset_is_bad_input(app: LinkageApp) -> None:
    tid = topic_at(app)
    naive = datetime(2026, 3, 25, 9, 0)
    for call in (lambda: app.topic_as_of(tid, naive), lambda: app.history(tid, until=naive)):
        with pytest.raises(BadInputError) as info:
            call()
        assert info.value.rule == "TIME_WITHOUT_OFFSET"


def test_an_explicit_time_before_the_topics_last_event_is_refused() -> None:
    app = in_memory_app()
    topic_id = app.submit_topic(staff(VILLAGE), **submission(), at=later(2)).topic_id

    with pytest.raises(BadInputError) as error:
        app.handle(staff(VILLAGE), DetermineTopic(topic_id=topic_id), at=later(1))

    assert error.value.rule == "TIME_BEFORE_LAST_EVENT"
    assert shown(later(1)) in error.value.message
    assert app.get_topic(topic_id).version == 1


@pytest.mark.parametrize("field", ["title", "description", "category"])
@pytest.mark.parametrize("char", ["\x00", "\ud800"])
def test_text_that_cannot_be_stored_is_refused_naming_the_field(
    app: LinkageApp, field: str, char: str
) -> None:
    refuse(
        app,
        None,
        BadInputError,
        "FIELD_UNSTORABLE_CHARACTER",
        lambda: app.submit_topic(OWNER, **submission(**{field: f"水压{char}不足"}), at=START),
        field,
        f"U+{ord(char):04X}",
    )
