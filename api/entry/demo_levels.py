"""`linkage demo`: open topics that leave work at each level the demo's tokens act for.

The simulated year settles at villages, townships and counties, and the water
scenario closes; these five topics stay open, so each token finds its inbox busy:
a transfer awaiting the province, a province topic the city returned and an
overdue city task under supervision, a village topic reopened after an
unsatisfied return visit with an overdue redo, a county take-over (提级) leaving a
task for the township to sign, and delegations down to the village. Each is
recorded once per store (an external ref finds it on later runs).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from api.entry.demo import (
    CITY,
    CITY_STAFF,
    COUNTY_LEADER,
    COUNTY_STAFF,
    DEMO_REF,
    PANEL,
    PROVINCE,
    TOWNSHIP,
    TOWNSHIP_STAFF,
    VILLAGE,
    VILLAGE_STAFF,
)
from domain.application import LinkageApp
from domain.topic import Actor, Role
from domain.topic_commands import (
    AcceptTransfer,
    AssignTask,
    CompleteTask,
    DelegateTopic,
    DetermineTopic,
    EscalateTopic,
    GiveFeedback,
    RecordDeliberation,
    RecordReturnVisit,
    ReopenTopic,
    ReturnTransfer,
    ScheduleDeliberation,
    SignTask,
    SuperviseTask,
    TakeOverTopic,
)

PROVINCE_STAFF = Actor("ma.lin", PROVINCE, Role.STAFF)
CITY_HANDLER = Actor("lz.traffic", CITY, Role.HANDLER)
VILLAGE_HANDLER = Actor("changjiaxiang.office", VILLAGE, Role.HANDLER)

CATEGORIES = {
    "yellow-river": "生态环境",
    "commuter-bus": "道路交通",
    "stair-lights": "物业管理",
    "lifts": "物业管理",
    "night-noise": "营商环境",
}

Days = Callable[[float], datetime]


def run_level_scenarios(app: LinkageApp, now: datetime | None = None) -> list[uuid.UUID]:
    """Record (or find) the five topics; returns their ids."""
    now = now or datetime.now(UTC)
    return [
        _awaiting_the_province(app, now),
        _returned_by_the_city(app, now),
        _reopened_in_the_village(app, now),
        _taken_over_by_the_county(app, now),
        _delegated_down(app, now),
    ]


def _awaiting_the_province(app: LinkageApp, now: datetime) -> uuid.UUID:
    tid, day = _submit(app, now, 3, "yellow-river", COUNTY_STAFF, "黄河城关段沿岸排污口整治")
    if day is None:
        return tid
    app.handle(
        COUNTY_STAFF,
        EscalateTopic(topic_id=tid, reason="排污口涉及上下游多个区县，需市级统筹"),
        at=day(2),
    )
    app.handle(CITY_STAFF, AcceptTransfer(topic_id=tid, note="市政协受理"), at=day(3))
    app.handle(CITY_STAFF, DetermineTopic(topic_id=tid, note="列入市政协重点协商议题"), at=day(4))
    app.handle(
        CITY_STAFF, EscalateTopic(topic_id=tid, reason="黄河干流治理跨市州，需省级协调"), at=day(10)
    )
    return tid


def _returned_by_the_city(app: LinkageApp, now: datetime) -> uuid.UUID:
    tid, day = _submit(
        app, now, 6, "commuter-bus", PROVINCE_STAFF, "兰州新区至主城区通勤公交线路衔接"
    )
    if day is None:
        return tid
    app.handle(
        PROVINCE_STAFF,
        DelegateTopic(topic_id=tid, to_unit=CITY, instructions="请兰州市先行协商", due=day(14)),
        at=day(1),
    )
    app.handle(
        CITY_STAFF,
        ReturnTransfer(topic_id=tid, reason="线路跨新区与主城区，属省级统筹事项"),
        at=day(3),
    )
    _deliberate(app, PROVINCE_STAFF, tid, day, 5)
    task = _assign(app, PROVINCE_STAFF, tid, CITY, "开通通勤专线并公示时刻表", day(26), day(9))
    app.handle(CITY_HANDLER, SignTask(topic_id=tid, task_id=task), at=day(10))
    app.handle(
        PROVINCE_STAFF,
        SuperviseTask(topic_id=tid, task_id=task, note="省政协督办：已逾期，请说明进度"),
        at=day(30),
    )
    return tid


def _reopened_in_the_village(app: LinkageApp, now: datetime) -> uuid.UUID:
    tid, day = _submit(app, now, 8, "stair-lights", VILLAGE_STAFF, "畅家巷3号楼楼道照明损坏")
    if day is None:
        return tid
    _deliberate(app, VILLAGE_STAFF, tid, day, 1)
    first = _assign(app, VILLAGE_STAFF, tid, VILLAGE, "更换楼道灯具", day(15), day(5))
    app.handle(VILLAGE_HANDLER, SignTask(topic_id=tid, task_id=first), at=day(6))
    app.handle(
        VILLAGE_HANDLER,
        CompleteTask(topic_id=tid, task_id=first, result="已更换1-6层灯具"),
        at=day(12),
    )
    app.handle(
        VILLAGE_STAFF,
        GiveFeedback(topic_id=tid, reply="楼道灯具已更换。", channel="上门"),
        at=day(13),
    )
    app.handle(
        VILLAGE_STAFF,
        RecordReturnVisit(
            topic_id=tid,
            contacted=True,
            solved=False,
            satisfaction="UNSATISFIED",
            comment="7层以上仍不亮",
        ),
        at=day(15),
    )
    app.handle(VILLAGE_STAFF, ReopenTopic(topic_id=tid, reason="群众不满意，重新办理"), at=day(16))
    redo = _assign(app, VILLAGE_STAFF, tid, VILLAGE, "更换7层以上灯具", day(30), day(16))
    app.handle(VILLAGE_HANDLER, SignTask(topic_id=tid, task_id=redo), at=day(17))
    return tid


def _taken_over_by_the_county(app: LinkageApp, now: datetime) -> uuid.UUID:
    tid, day = _submit(app, now, 2, "lifts", TOWNSHIP_STAFF, "酒泉路街道老旧小区加装电梯资金分摊")
    if day is None:
        return tid
    app.handle(
        COUNTY_LEADER,
        TakeOverTopic(topic_id=tid, reason="涉及全区加装电梯补贴政策，区级提级办理"),
        at=day(1),
    )
    _deliberate(app, COUNTY_STAFF, tid, day, 2)
    _assign(app, COUNTY_STAFF, tid, TOWNSHIP, "逐户征求加装电梯分摊意见", day(30), day(7))
    return tid


def _delegated_down(app: LinkageApp, now: datetime) -> uuid.UUID:
    tid, day = _submit(app, now, 1, "night-noise", COUNTY_STAFF, "城关区背街小巷夜间噪声扰民")
    if day is None:
        return tid
    app.handle(
        COUNTY_STAFF,
        DelegateTopic(topic_id=tid, to_unit=TOWNSHIP, instructions="请街道牵头协商", due=day(20)),
        at=day(1),
    )
    app.handle(TOWNSHIP_STAFF, AcceptTransfer(topic_id=tid, note="街道承接"), at=day(2))
    app.handle(
        TOWNSHIP_STAFF,
        DelegateTopic(
            topic_id=tid, to_unit=VILLAGE, instructions="请社区组织商户和居民协商", due=day(15)
        ),
        at=day(3),
    )
    return tid


def _submit(
    app: LinkageApp, now: datetime, weeks_ago: float, key: str, actor: Actor, title: str
) -> tuple[uuid.UUID, Days | None]:
    """The topic, submitted `weeks_ago` at the actor's unit, and its calendar (day n after
    submission); no calendar when an earlier run of the demo recorded it already."""
    start = now - timedelta(weeks=weeks_ago)
    result = app.submit_topic(
        actor,
        title=title,
        description=f"群众反映：{title}，希望尽快协调解决。",
        category=CATEGORIES[key],
        source="MEMBER_PROPOSAL" if actor.unit == PROVINCE else "HOTLINE_12345",
        location=actor.unit,
        at=start,
        external_ref=DEMO_REF + key,
    )
    if result.duplicate:
        return result.topic_id, None
    return result.topic_id, lambda n: start + timedelta(days=n)


def _deliberate(app: LinkageApp, owner: Actor, tid: uuid.UUID, day: Days, first: float) -> None:
    app.handle(owner, DetermineTopic(topic_id=tid, note="列入协商计划"), at=day(first))
    meeting = app.handle(
        owner,
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=day(first + 3),
            place="协商议事室",
            format="现场协商",
            participants=PANEL,
        ),
        at=day(first + 1),
    ).created_id
    assert meeting is not None
    attendance = [str(p["name"]) for p in PANEL[:4]]
    recommendations = ["明确责任单位", "限期办结"]
    app.handle(
        owner,
        RecordDeliberation(
            topic_id=tid,
            meeting_id=meeting,
            attendance=attendance,
            minutes="形成一致意见。",
            recommendations=recommendations,
        ),
        at=day(first + 3),
    )


def _assign(
    app: LinkageApp,
    owner: Actor,
    tid: uuid.UUID,
    unit: str,
    requirement: str,
    due: datetime,
    at: datetime,
) -> str:
    task = app.handle(
        owner,
        AssignTask(
            topic_id=tid, handler_unit=unit, handler="责任单位", requirement=requirement, due=due
        ),
        at=at,
    ).created_id
    assert task is not None
    return task
