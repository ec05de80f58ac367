"""The read models and their query module on real PostgreSQL, against hand-computed figures.

One realistic history (eight topics across all five levels, see `play`) is recorded
through the application once per module and projected by the three views; every
test reads it. Times are `later(days)` from START (2026-03-02 01:30 UTC, 09:30 in
China); the tests read at NOW = day 40 (2026-04-11). Day 35 is the only event in
April (China time); every other event happens in March.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from domain.access import may_read_topic
from domain.application import LinkageApp
from domain.errors import BadInputError, NotFoundError
from domain.topic_commands import (
    AcceptTransfer,
    AddComment,
    AssignTask,
    CloseTopic,
    CompleteTask,
    DeclineTopic,
    DelegateTopic,
    DetermineTopic,
    EscalateTopic,
    GiveFeedback,
    InviteCoOrganizer,
    RecordDeliberation,
    RecordReturnVisit,
    ReopenTopic,
    ReportResearch,
    ReturnTransfer,
    ScheduleDeliberation,
    SignTask,
    StartResearch,
    SuperviseTask,
    TakeOverTopic,
)
from infra.bootstrap import Runtime, build_runtime
from infra.database import Database, create_database
from infra.settings import Settings
from projections import queries as q
from projections.base import View
from projections.bulk import text_array
from projections.envelope import Envelope
from projections.paging import encode
from projections.stats import StatsView
from projections.timeline import TimelineView
from projections.topics import TopicsView
from tests.utils.factories import (
    CITY,
    COUNTY,
    COUSIN_VILLAGE,
    FAR_TOWNSHIP,
    FAR_VILLAGE,
    FULL_PANEL,
    OTHER_CITY,
    PROVINCE,
    SIBLING_COUNTY,
    SIBLING_TOWNSHIP,
    SIBLING_VILLAGE,
    SMALL_HIERARCHY,
    TOWNSHIP,
    VILLAGE,
    handler,
    later,
    leader,
    staff,
    submission,
)
from tests.utils.projecting import project
from tests.utils.units import load_units

NOW = later(40)
DAY = timedelta(days=1)
ALL_UNITS = [r.code for r in SMALL_HIERARCHY]
VIEW_CLASSES: list[type[View]] = [TopicsView, TimelineView, StatsView]

# Who sees what (DESIGN §6): the location's and the owner's ancestors-or-self, plus
# every unit on the route, each co-organiser, task handler and pending target.
VISIBLE = {
    PROVINCE: {"water", "parking", "heating", "road", "sanitation", "lights", "other", "leak"},
    CITY: {"water", "parking", "heating", "road", "sanitation", "lights", "leak"},
    OTHER_CITY: {"other"},
    COUNTY: {"water", "parking", "heating", "road", "sanitation", "leak"},
    SIBLING_COUNTY: {"lights"},
    TOWNSHIP: {"water", "parking", "road", "leak"},  # road: the pending delegation's target
    SIBLING_TOWNSHIP: {"heating", "sanitation"},  # heating: owned by its village now
    FAR_TOWNSHIP: {"lights"},
    VILLAGE: {"water", "leak"},
    SIBLING_VILLAGE: {"parking"},
    COUSIN_VILLAGE: {"heating", "sanitation"},
    FAR_VILLAGE: {"lights"},
}
SIBLINGS = [
    (VILLAGE, SIBLING_VILLAGE),
    (TOWNSHIP, SIBLING_TOWNSHIP),
    (COUNTY, SIBLING_COUNTY),
    (CITY, OTHER_CITY),
]


# -- the history -------------------------------------------------------------------


def play(app: LinkageApp) -> dict[str, str]:
    """Eight topics; returns their ids by nickname."""
    return {
        "water": _water(app),
        "parking": _parking(app),
        "heating": _heating(app),
        "road": _road(app),
        "sanitation": _sanitation(app),
        "lights": _lights(app),
        "other": _submit(app, OTHER_CITY, "嘉峪关市自来水水质浑浊", "供水", "ONLINE", 6),
        "leak": _submit(app, VILLAGE, "畅家巷老旧水管漏水", "供水", "HOTLINE_12345", 35),
    }


def _submit(
    app: LinkageApp, location: str, title: str, category: str, source: str, day: float
) -> Any:
    values = submission(
        location, title=title, description=f"群众反映：{title}。", category=category, source=source
    )
    return app.submit_topic(staff(location), **values, at=later(day)).topic_id


def _deliberate(app: LinkageApp, who: str, tid: Any, day: float) -> None:
    """Scheduled on `day`, held a day later."""
    app.handle(
        staff(who),
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=later(day + 1),
            place="协商议事室",
            format="现场协商",
            participants=FULL_PANEL,
        ),
        at=later(day),
    )
    names = [p["name"] or "" for p in FULL_PANEL]
    app.handle(
        staff(who),
        RecordDeliberation(
            topic_id=tid,
            meeting_id="M1",
            attendance=names,
            minutes="各方达成一致。",
            recommendations=["明确责任单位"],
        ),
        at=later(day + 1),
    )


def _water(app: LinkageApp) -> Any:
    """Village → township → county (one return on the way), handled, reopened, closed."""
    tid = _submit(app, VILLAGE, "畅家巷6号楼二次供水水压不足", "供水", "HOTLINE_12345", 0)
    app.handle(
        staff(VILLAGE), EscalateTopic(topic_id=tid, reason="社区无权协调加压泵房"), at=later(1)
    )
    app.handle(staff(TOWNSHIP), AcceptTransfer(topic_id=tid), at=later(2))
    app.handle(staff(TOWNSHIP), EscalateTopic(topic_id=tid, reason="涉及区级管网改造"), at=later(3))
    app.handle(
        staff(COUNTY), ReturnTransfer(topic_id=tid, reason="请街道先行协调供水公司"), at=later(4)
    )
    app.handle(
        staff(TOWNSHIP),
        EscalateTopic(topic_id=tid, reason="街道协调未果，申请区级协商"),
        at=later(5),
    )
    app.handle(staff(COUNTY), AcceptTransfer(topic_id=tid, note="区政协牵头"), at=later(6))
    app.handle(
        staff(COUNTY),
        InviteCoOrganizer(topic_id=tid, unit=TOWNSHIP, note="街道协助"),
        at=later(6.5),
    )
    app.handle(staff(COUNTY), DetermineTopic(topic_id=tid), at=later(7))
    app.handle(staff(COUNTY), StartResearch(topic_id=tid, text="走访住户和泵房"), at=later(7.2))
    app.handle(staff(COUNTY), ReportResearch(topic_id=tid, text="泵房设备老化"), at=later(7.5))
    _deliberate(app, COUNTY, tid, 8)
    county = staff(COUNTY)
    app.handle(
        county,
        AssignTask(
            topic_id=tid,
            handler_unit=COUNTY,
            handler="区水务局",
            requirement="更换加压泵组",
            due=later(20),
        ),
        at=later(10),
    )
    app.handle(
        county,
        AssignTask(
            topic_id=tid,
            handler_unit=TOWNSHIP,
            handler="街道办",
            requirement="居民沟通",
            due=later(15),
        ),
        at=later(10),
    )
    app.handle(
        handler(COUNTY), SignTask(topic_id=tid, task_id="T1"), at=later(10.5)
    )  # 12 h: on time
    app.handle(staff(VILLAGE), AddComment(topic_id=tid, text="居民询问进度"), at=later(11))
    app.handle(handler(TOWNSHIP), SignTask(topic_id=tid, task_id="T2"), at=later(12))  # 48 h: late
    app.handle(
        handler(TOWNSHIP),
        CompleteTask(topic_id=tid, task_id="T2", result="已张贴公告"),
        at=later(14),
    )  # due d15
    app.handle(
        staff(CITY), SuperviseTask(topic_id=tid, task_id="T1", note="市政协督办"), at=later(18)
    )
    app.handle(
        handler(COUNTY),
        CompleteTask(topic_id=tid, task_id="T1", result="新泵组投入运行"),
        at=later(22),
    )  # due d20
    app.handle(county, GiveFeedback(topic_id=tid, reply="设备已更换。"), at=later(23))
    app.handle(
        county,
        RecordReturnVisit(topic_id=tid, contacted=True, solved=False, satisfaction="UNSATISFIED"),
        at=later(24),
    )
    app.handle(county, ReopenTopic(topic_id=tid, reason="住户反映仍有压力不足"), at=later(25))
    app.handle(county, GiveFeedback(topic_id=tid, reply="已调整泵组压力。"), at=later(26))
    app.handle(
        county,
        RecordReturnVisit(topic_id=tid, contacted=True, solved=True, satisfaction="SATISFIED"),
        at=later(27),
    )
    app.handle(county, CloseTopic(topic_id=tid, summary="群众满意"), at=later(28))
    return tid


def _parking(app: LinkageApp) -> Any:
    """Escalated to the township, taken over by a county leader; its task is overdue."""
    tid = _submit(app, SIBLING_VILLAGE, "张家园小区停车位紧张", "停车", "GRID", 1)
    app.handle(
        staff(SIBLING_VILLAGE), EscalateTopic(topic_id=tid, reason="需要街道协调"), at=later(2)
    )
    app.handle(staff(TOWNSHIP), AcceptTransfer(topic_id=tid), at=later(3))
    app.handle(staff(TOWNSHIP), EscalateTopic(topic_id=tid, reason="需要区级统筹"), at=later(3.5))
    app.handle(leader(COUNTY), TakeOverTopic(topic_id=tid, reason="区领导提级协调"), at=later(4))
    app.handle(staff(COUNTY), DetermineTopic(topic_id=tid), at=later(5))
    _deliberate(app, COUNTY, tid, 6)
    app.handle(
        staff(COUNTY),
        AssignTask(
            topic_id=tid,
            handler_unit=SIBLING_VILLAGE,
            handler="张家园社区",
            requirement="规划临时车位",
            due=later(12),
        ),
        at=later(8),
    )
    app.handle(
        staff(COUNTY), SuperviseTask(topic_id=tid, task_id="T1", note="请尽快签收"), at=later(13)
    )
    return tid


def _heating(app: LinkageApp) -> Any:
    """A county topic delegated down to a village of the other township, being handled."""
    tid = _submit(app, COUNTY, "城关区老旧小区供暖不热", "供暖", "MEMBER_PROPOSAL", 2)
    app.handle(
        staff(COUNTY),
        DelegateTopic(
            topic_id=tid, to_unit=COUSIN_VILLAGE, instructions="请社区先行协商", due=later(9)
        ),
        at=later(3),
    )
    app.handle(staff(COUSIN_VILLAGE), AcceptTransfer(topic_id=tid), at=later(4))
    app.handle(staff(COUSIN_VILLAGE), DetermineTopic(topic_id=tid), at=later(5))
    _deliberate(app, COUSIN_VILLAGE, tid, 6)
    app.handle(
        staff(COUSIN_VILLAGE),
        AssignTask(
            topic_id=tid,
            handler_unit=COUSIN_VILLAGE,
            handler="陇西路社区",
            requirement="检修管道",
            due=later(50),
        ),
        at=later(15),
    )
    app.handle(
        handler(COUSIN_VILLAGE), SignTask(topic_id=tid, task_id="T1"), at=later(15.5)
    )  # 12 h: on time
    return tid


def _road(app: LinkageApp) -> Any:
    """A county topic whose delegation to the township is pending past its due."""
    tid = _submit(app, COUNTY, "酒泉路人行道破损", "道路", "SOCIAL_INFO", 20)
    app.handle(
        staff(COUNTY),
        DelegateTopic(topic_id=tid, to_unit=TOWNSHIP, instructions="请街道核实", due=later(25)),
        at=later(21),
    )
    return tid


def _sanitation(app: LinkageApp) -> Any:
    tid = _submit(app, COUSIN_VILLAGE, "陇西路垃圾清运不及时", "环境卫生", "VISIT", 3)
    app.handle(
        staff(COUSIN_VILLAGE), DeclineTopic(topic_id=tid, reason="不属于协商范围"), at=later(4)
    )
    return tid


def _lights(app: LinkageApp) -> Any:
    """Settled in its own village: basically satisfied, closed after 10 days."""
    tid = _submit(app, FAR_VILLAGE, "下西园路灯损坏", "路灯", "ONLINE", 5)
    village = staff(FAR_VILLAGE)
    app.handle(village, DetermineTopic(topic_id=tid), at=later(6))
    _deliberate(app, FAR_VILLAGE, tid, 7)
    app.handle(
        village,
        AssignTask(
            topic_id=tid,
            handler_unit=FAR_VILLAGE,
            handler="下西园社区",
            requirement="更换路灯",
            due=later(15),
        ),
        at=later(9),
    )
    app.handle(
        handler(FAR_VILLAGE), SignTask(topic_id=tid, task_id="T1"), at=later(9.2)
    )  # 4.8 h: on time
    app.handle(
        handler(FAR_VILLAGE),
        CompleteTask(topic_id=tid, task_id="T1", result="已更换"),
        at=later(12),
    )  # due d15
    app.handle(village, GiveFeedback(topic_id=tid, reply="路灯已修复。"), at=later(13))
    app.handle(
        village,
        RecordReturnVisit(
            topic_id=tid, contacted=True, solved=True, satisfaction="BASICALLY_SATISFIED"
        ),
        at=later(14),
    )
    app.handle(village, CloseTopic(topic_id=tid, summary="完成"), at=later(15))
    return tid


@dataclass
class History:
    runtime: Runtime
    ids: dict[str, str]
    conn: psycopg.Connection[Any]
    envelopes: list[Envelope]

    def names(self, topic_ids: Iterable[str]) -> set[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id[t] for t in topic_ids}

    def names_in_order(self, rows: tuple[q.TopicRow, ...]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[r.topic_id] for r in rows]


@pytest.fixture(scope="module")
def history(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    create_database(pg_admin, name)
    database = Database(make_conninfo(pg_admin, dbname=name))
    home: Path = tmp_path_factory.mktemp("home")
    with build_runtime(database, Settings.from_env({"LINKAGE_HOME": str(home)})) as runtime:
        load_units(runtime, SMALL_HIERARCHY)
        ids = {k: str(v) for k, v in play(runtime.app).items()}
        views = [cls(runtime.units_view.datastore, runtime.units) for cls in VIEW_CLASSES]
        envelopes = project(runtime, views)
        with psycopg.connect(database.conninfo, autocommit=True) as conn:
            yield History(runtime, ids, conn, envelopes)
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _all_pages(fetch: Any, first: int = 2) -> list[Any]:
    """Every item of a paged query, following cursors."""
    items: list[Any] = []
    after = None
    while True:
        page = fetch(first=first, after=after)
        items.extend(page.items)
        if not page.has_next:
            return items
        after = page.end_cursor


def _seen_by(h: History, viewer: str) -> dict[str, set[str]]:
    """Topic nicknames the viewer reaches through each query function."""
    conn = h.conn
    seen: dict[str, set[str]] = {
        "topic": {n for n, t in h.ids.items() if q.topic(conn, viewer, t) is not None}
    }
    scopes: tuple[q.Scope, ...] = ("SUBTREE", "OWNED", "INVOLVED")
    for scope in scopes:
        page = q.topics_page(conn, viewer, scope=scope, now=NOW, first=100)
        assert page.total_count == len(page.items)
        seen[scope] = h.names(r.topic_id for r in page.items)
    inbox = q.inbox_page(conn, viewer, now=NOW, first=100)
    assert inbox.total_count == len(inbox.items)
    seen["inbox"] = h.names(i.topic.topic_id for i in inbox.items)
    cross = q.cross_level_page(conn, viewer, now=NOW, first=100)
    seen["cross_level"] = h.names(r.topic_id for r in cross.items)
    timeline = set()
    for n, t in h.ids.items():
        try:
            q.timeline_page(conn, viewer, t, first=1)
            timeline.add(n)
        except NotFoundError:
            pass
    seen["timeline"] = timeline
    return seen


# -- visibility ------------------------------------------------------------------------


def test_each_unit_sees_exactly_the_topics_the_domain_lets_it_see(history: History) -> None:
    for unit in ALL_UNITS:
        seen = _seen_by(history, unit)
        assert seen["topic"] == VISIBLE[unit], unit
        assert seen["timeline"] == VISIBLE[unit], unit
        for name, found in seen.items():
            assert found <= VISIBLE[unit], (unit, name)
        for nickname, tid in history.ids.items():
            topic = history.runtime.app.get_topic(uuid.UUID(tid))
            can_see = may_read_topic(unit, topic, history.runtime.units)
            assert (nickname in VISIBLE[unit]) == can_see, (unit, nickname)


@pytest.mark.parametrize(("one", "other"), SIBLINGS + [(b, a) for a, b in SIBLINGS])
def test_sibling_units_never_see_each_others_topics_through_any_query(
    history: History, one: str, other: str
) -> None:
    for name, found in _seen_by(history, one).items():
        assert not found & VISIBLE[other], (one, name)
    mine = q.stats(history.conn, one, one, now=NOW)
    theirs = q.stats(history.conn, other, other, now=NOW)
    parent = q.stats(history.conn, PROVINCE, PROVINCE, now=NOW)
    assert mine.total + theirs.total <= parent.total
    assert mine.total == len({n for n in VISIBLE[one] if _located_under(history, n, one)})


def _located_under(h: History, nickname: str, unit: str) -> bool:
    topic = q.topic(h.conn, PROVINCE, h.ids[nickname])
    assert topic is not None
    located = h.runtime.units.get(topic.location)
    return located is not None and unit in located.path


@pytest.mark.parametrize(("one", "other"), [*SIBLINGS, (VILLAGE, TOWNSHIP), (COUNTY, CITY)])
def test_a_unit_outside_the_viewers_subtree_is_not_found_by_any_query(
    history: History, one: str, other: str
) -> None:
    conn = history.conn
    asks: list[Any] = [
        lambda: q.topics_page(conn, one, unit=other, now=NOW),
        lambda: q.topics_page(conn, one, scope="OWNED", unit=other, now=NOW),
        lambda: q.topics_page(conn, one, scope="INVOLVED", unit=other, now=NOW),
        lambda: q.inbox_page(conn, one, unit=other, now=NOW),
        lambda: q.cross_level_page(conn, one, unit=other, now=NOW),
        lambda: q.stats(conn, one, other, now=NOW),
    ]
    for ask in asks:
        with pytest.raises(NotFoundError) as refused:
            ask()
        assert refused.value.rule == "UNIT_NOT_FOUND"
        with pytest.raises(NotFoundError) as unknown:
            q.stats(conn, one, "999999", now=NOW)
        assert str(refused.value).replace(other, "X") == str(unknown.value).replace("999999", "X")


def test_an_invisible_topic_looks_exactly_like_an_unknown_one(history: History) -> None:
    conn, water = history.conn, history.ids["water"]
    unknown = str(uuid.uuid4())
    assert q.topic(conn, SIBLING_VILLAGE, water) is None
    assert q.topic(conn, SIBLING_VILLAGE, unknown) is None
    with pytest.raises(NotFoundError) as hidden:
        q.timeline_page(conn, SIBLING_VILLAGE, water)
    with pytest.raises(NotFoundError) as missing:
        q.timeline_page(conn, SIBLING_VILLAGE, unknown)
    assert hidden.value.rule == missing.value.rule == "TOPIC_NOT_FOUND"
    assert str(hidden.value).replace(water, "X") == str(missing.value).replace(unknown, "X")


# -- the topic summary ---------------------------------------------------------------


def test_the_summary_holds_route_tasks_meetings_and_verdicts(history: History) -> None:
    water = q.topic(history.conn, VILLAGE, history.ids["water"])
    assert water is not None
    assert (water.stage, water.owner, water.owner_level, water.location_level) == (
        "CLOSED", COUNTY, 3, 5,
    )  # fmt: skip
    assert (water.version, water.returns, water.reopened, water.cross_level) == (27, 1, 1, True)
    assert water.co_organizers == (TOWNSHIP,)
    assert [(h.unit, h.level, h.via, h.reason) for h in water.route] == [
        (VILLAGE, 5, None, None),
        (TOWNSHIP, 4, "ESCALATION", "社区无权协调加压泵房"),
        (COUNTY, 3, "ESCALATION", "街道协调未果，申请区级协商"),
    ]
    assert [(h.entered_at, h.left_at) for h in water.route] == [
        (later(0), later(2)),
        (later(2), later(6)),
        (later(6), None),
    ]
    # held: 2 days at the village, 4 at the township, 22 at the county until closed (d28)
    assert water.held(NOW) == (2 * DAY, 4 * DAY, 22 * DAY)
    t1, t2 = water.tasks
    assert (t1.handler_unit, t1.status, t1.supervisions, t1.overdue(NOW)) == (
        COUNTY, "COMPLETED", 1, True,
    )  # completed d22, due d20  # fmt: skip
    assert (t2.handler_unit, t2.signed_at, t2.completed_at, t2.overdue(NOW)) == (
        TOWNSHIP, later(12), later(14), False,
    )  # fmt: skip
    (meeting,) = water.meetings
    assert (meeting.meeting_id, meeting.scheduled_at, meeting.held_at) == ("M1", later(9), later(9))
    assert {p.kind for p in meeting.participants} >= {"MEMBER", "CADRE", "DEPARTMENT", "PUBLIC"}
    assert [(v.satisfaction, v.solved, v.visited_at) for v in water.return_visits] == [
        ("UNSATISFIED", False, later(24)),
        ("SATISFIED", True, later(27)),
    ]
    assert water.feedback == "已调整泵组压力。"
    assert (water.submitted_at, water.updated_at, water.closed_at) == (
        later(0),
        later(28),
        later(28),
    )
    assert water.terminal
    assert water.due_at is None
    assert not water.overdue(NOW)


def test_a_pending_delegation_shows_as_the_topics_transfer(history: History) -> None:
    road = q.topic(history.conn, TOWNSHIP, history.ids["road"])
    assert road is not None
    assert road.pending is not None
    assert (road.pending.kind, road.pending.from_unit, road.pending.to_unit) == (
        "DELEGATION", COUNTY, TOWNSHIP,
    )  # fmt: skip
    assert (road.pending.reason, road.pending.requested_at, road.pending.due) == (
        "请街道核实", later(21), later(25),
    )  # fmt: skip
    assert road.overdue(NOW)
    assert not road.overdue(later(24))
    assert not road.cross_level


# -- inbox -------------------------------------------------------------------------------


def _inbox(h: History, viewer: str, unit: str | None = None) -> list[tuple[Any, ...]]:
    page = q.inbox_page(h.conn, viewer, unit=unit, now=NOW, first=100)
    by_id = {v: k for k, v in h.ids.items()}
    return [
        (by_id[i.topic.topic_id], i.item, i.task_id, i.due, i.since, i.overdue) for i in page.items
    ]


def test_every_inbox_lists_what_its_unit_must_do_overdue_first_then_oldest(
    history: History,
) -> None:
    h = history
    # the county owns parking (task due d12) and road (delegation due d25): both overdue;
    # parking came first (taken over d4), road later (submitted d20)
    assert _inbox(h, COUNTY) == [
        ("parking", "OWNED", None, later(12), later(4), True),
        ("road", "OWNED", None, later(25), later(20), True),
    ]
    assert _inbox(h, TOWNSHIP) == [
        ("road", "TRANSFER_PENDING", None, later(25), later(21), True),
    ]
    assert _inbox(h, SIBLING_VILLAGE) == [
        ("parking", "TASK_TO_SIGN", "T1", later(12), later(8), True),
    ]
    # nothing overdue: the older item first
    assert _inbox(h, COUSIN_VILLAGE) == [
        ("heating", "OWNED", None, later(50), later(4), False),
        ("heating", "TASK_TO_COMPLETE", "T1", later(50), later(15.5), False),
    ]
    assert _inbox(h, VILLAGE) == [("leak", "OWNED", None, None, later(35), False)]
    assert _inbox(h, OTHER_CITY) == [("other", "OWNED", None, None, later(6), False)]
    for unit in (PROVINCE, CITY, SIBLING_COUNTY, SIBLING_TOWNSHIP, FAR_TOWNSHIP, FAR_VILLAGE):
        assert _inbox(h, unit) == []  # the closed and declined topics left every inbox


def test_an_ancestor_reads_a_descendants_inbox(history: History) -> None:
    assert _inbox(history, CITY, COUNTY) == _inbox(history, COUNTY)
    assert _inbox(history, SIBLING_TOWNSHIP, COUSIN_VILLAGE) == _inbox(history, COUSIN_VILLAGE)
    assert _inbox(history, PROVINCE, SIBLING_VILLAGE) == _inbox(history, SIBLING_VILLAGE)


def test_the_inbox_pages_with_its_cursor(history: History) -> None:
    first = q.inbox_page(history.conn, COUNTY, now=NOW, first=1)
    assert (first.total_count, first.has_next, len(first.items)) == (2, True, 1)
    second = q.inbox_page(history.conn, COUNTY, now=NOW, first=1, after=first.end_cursor)
    assert (second.has_next, second.total_count) == (False, 2)
    assert [first.items[0].topic.topic_id, second.items[0].topic.topic_id] == [
        history.ids["parking"],
        history.ids["road"],
    ]
    # read before the road's delegation fell due (d24), only parking is overdue yet
    early = q.inbox_page(history.conn, COUNTY, now=later(24), first=10)
    assert [i.overdue for i in early.items] == [True, False]


# -- topic lists -------------------------------------------------------------------------


def _names(h: History, viewer: str, **kw: Any) -> list[str]:
    page = q.topics_page(h.conn, viewer, now=NOW, first=100, **kw)
    assert page.total_count == len(page.items)
    return h.names_in_order(page.items)


def test_topic_lists_follow_their_scope_newest_change_first(history: History) -> None:
    h = history
    # last change: leak d35, water d28, road d21, heating d15.5, parking d13, sanitation d4
    assert _names(h, COUNTY) == ["leak", "water", "road", "heating", "parking", "sanitation"]
    assert _names(h, COUNTY, scope="OWNED") == ["water", "road", "parking"]
    assert _names(h, COUNTY, scope="INVOLVED") == ["water", "road", "heating", "parking"]
    assert _names(h, TOWNSHIP) == ["leak", "water", "parking"]
    assert _names(h, TOWNSHIP, scope="INVOLVED") == ["water", "road", "parking"]
    assert _names(h, CITY, scope="INVOLVED") == []  # the city only supervised
    assert _names(h, CITY, scope="OWNED", unit=COUNTY) == ["water", "road", "parking"]
    assert _names(h, COUNTY, unit=SIBLING_TOWNSHIP) == ["heating", "sanitation"]


def test_topic_lists_filter_by_stage_category_source_level_overdue_and_text(
    history: History,
) -> None:
    h = history
    assert _names(h, COUNTY, stages=["HANDLING"]) == ["heating", "parking"]
    assert _names(h, COUNTY, stages=["CLOSED", "DECLINED"]) == ["water", "sanitation"]
    assert _names(h, PROVINCE, category="供水") == ["leak", "water", "other"]
    assert _names(h, PROVINCE, source="ONLINE") == ["lights", "other"]
    assert _names(h, PROVINCE, cross_level=True) == ["water", "heating", "parking"]
    assert _names(h, PROVINCE, overdue=True) == ["road", "parking"]
    assert len(_names(h, PROVINCE, overdue=False)) == 6
    assert _names(h, PROVINCE, text="水压") == ["water"]
    assert _names(h, PROVINCE, text="50%_") == []  # LIKE wildcards are plain text
    assert _names(h, VILLAGE, category="供水", source="HOTLINE_12345") == ["leak", "water"]


def test_topic_lists_page_with_cursors_and_count_everything(history: History) -> None:
    def fetch(first: int, after: str | None) -> q.Page[q.TopicRow]:
        page = q.topics_page(history.conn, PROVINCE, now=NOW, first=first, after=after)
        assert page.total_count == 8
        return page

    rows = _all_pages(fetch, first=3)
    uncounted = q.topics_page(history.conn, PROVINCE, now=NOW, first=3, with_total=False)
    assert (uncounted.total_count, len(uncounted.items), uncounted.has_next) == (None, 3, True)
    assert history.names_in_order(tuple(rows)) == [
        "leak",
        "water",
        "road",
        "heating",
        "lights",
        "parking",
        "other",
        "sanitation",
    ]  # fmt: skip  (last change: d35, d28, d21, d15.5, d15, d13, d6, d4)


def test_bad_cursors_and_page_sizes_are_refused(history: History) -> None:
    conn = history.conn
    inbox_cursor = q.inbox_page(conn, COUNTY, now=NOW, first=1).end_cursor
    forged = encode("topics", NOW.isoformat(), 42)  # the right shape, a wrong key type
    for bad in ("not-a-cursor", inbox_cursor, forged):
        with pytest.raises(BadInputError) as refused:
            q.topics_page(conn, COUNTY, now=NOW, after=bad)
        assert refused.value.rule == "INVALID_CURSOR"
    with pytest.raises(BadInputError):
        q.timeline_page(conn, COUNTY, history.ids["water"], first=101)


# -- cross-level tracker ---------------------------------------------------------------


def test_the_cross_level_tracker_lists_moved_topics_with_their_route(history: History) -> None:
    h = history
    page = q.cross_level_page(h.conn, PROVINCE, now=NOW, first=10)
    assert h.names_in_order(page.items) == ["water", "heating", "parking"]
    heating = page.items[1]
    assert [(hop.unit, hop.via, hop.reason) for hop in heating.route] == [
        (COUNTY, None, None),
        (COUSIN_VILLAGE, "DELEGATION", "请社区先行协商"),
    ]
    # 2 days at the county (d2 → d4), then 36 at the village so far (d4 → d40)
    assert heating.held(NOW) == (2 * DAY, 36 * DAY)
    assert heating.owner == COUSIN_VILLAGE
    parking = page.items[2]
    assert [(hop.unit, hop.via) for hop in parking.route] == [
        (SIBLING_VILLAGE, None),
        (TOWNSHIP, "ESCALATION"),
        (COUNTY, "TAKEOVER"),
    ]
    assert parking.route[2].reason == "区领导提级协调"
    assert parking.held(NOW) == (2 * DAY, 1 * DAY, 36 * DAY)
    assert parking.pending is None  # the pending escalation lapsed with the takeover
    assert [_cross(h, u) for u in (VILLAGE, SIBLING_VILLAGE, TOWNSHIP, SIBLING_TOWNSHIP)] == [
        ["water"], ["parking"], ["water", "parking"], ["heating"],
    ]  # fmt: skip
    assert [_cross(h, u) for u in (OTHER_CITY, SIBLING_COUNTY, FAR_VILLAGE)] == [[], [], []]


def _cross(h: History, viewer: str, **kw: Any) -> list[str]:
    return h.names_in_order(q.cross_level_page(h.conn, viewer, now=NOW, first=100, **kw).items)


def test_stuck_topics_are_open_ones_without_events_for_n_days(history: History) -> None:
    h = history
    # at d40: heating last moved d15.5, parking d13; water is closed
    assert _cross(h, PROVINCE, stuck_days=20) == ["heating", "parking"]  # before d20
    assert _cross(h, PROVINCE, stuck_days=26) == ["parking"]  # before d14
    assert _cross(h, PROVINCE, stuck_days=30) == []  # before d10


# -- timeline ----------------------------------------------------------------------------


def test_the_timeline_pages_through_every_event_with_actor_and_reason(history: History) -> None:
    conn, water = history.conn, history.ids["water"]
    pages = []
    after = None
    while True:
        page = q.timeline_page(conn, TOWNSHIP, water, first=10, after=after)
        assert page.total_count == 27
        pages.append(page)
        if not page.has_next:
            break
        after = page.end_cursor
    assert [len(p.items) for p in pages] == [10, 10, 7]
    events = [e for p in pages for e in p.items]
    assert [e.version for e in events] == list(range(1, 28))
    positions = [e.position for e in events]
    assert positions == sorted(set(positions))
    assert [e.type for e in events[:8]] == [
        "TopicSubmitted",
        "EscalationRequested",
        "TransferAccepted",
        "EscalationRequested",
        "TransferReturned",
        "EscalationRequested",
        "TransferAccepted",
        "CoOrganizerInvited",
    ]
    returned = events[4]
    assert (returned.occurred_at, returned.actor_unit, returned.actor_role) == (
        later(4), COUNTY, "STAFF",
    )  # fmt: skip
    assert returned.actor_user == f"staff-{COUNTY}"
    assert returned.reason == "请街道先行协调供水公司"
    assert returned.data["from_unit"] == TOWNSHIP
    assigned = events[13]
    assert assigned.type == "TaskAssigned"
    assert assigned.data["due"] == later(20).isoformat()
    assert (events[-1].type, events[-1].occurred_at) == ("TopicClosed", later(28))
    assert "submitter" not in events[0].data  # personal data stays in the event store


# -- statistics ------------------------------------------------------------------------


def _counts(rows: tuple[q.Count, ...]) -> dict[str, int]:
    return {c.key: c.count for c in rows}


def _rates(s: q.StatsRow | q.MonthRow) -> tuple[float | None, ...]:
    r = s.rates
    return (
        r.response_rate,
        r.resolution_rate,
        r.satisfaction_rate,
        r.on_time_sign_rate,
        r.on_time_completion_rate,
        r.return_rate,
        r.redo_rate,
    )


def _months(s: q.StatsRow) -> list[tuple[str, int, int, float | None]]:
    return [(m.month, m.submitted, m.closed, m.satisfaction_rate) for m in s.months]


def test_village_stats_count_its_own_topics(history: History) -> None:
    s = q.stats(history.conn, VILLAGE, VILLAGE, now=NOW)
    # water (closed after 28 days) and leak (April, collected)
    assert (s.total, s.open, s.closed, s.overdue) == (2, 1, 1, 0)
    assert _counts(s.by_stage) == {"COLLECTED": 1, "CLOSED": 1}
    assert _counts(s.by_category) == {"供水": 2}
    assert _counts(s.by_source) == {"HOTLINE_12345": 2}
    assert s.median_days_to_close == 28
    # visits: unsatisfied (contacted, not solved) + satisfied (contacted, solved)
    # tasks: T1 signed in 12 h, T2 in 48 h; T2 completed on time, T1 late
    # transfers: 3 escalations requested, 1 returned; 1 reopen of 2 feedbacks
    assert _rates(s) == pytest.approx((2 / 2, 1 / 2, (1 + 0.9 * 0) / 2, 1 / 2, 1 / 2, 1 / 3, 1 / 2))
    assert (s.visits, s.transfers, s.returns) == (2, 3, 1)
    # held: village d0→d2 = 48 h, township d2→d6 = 96 h, county d6→d28 = 528 h
    assert s.held_hours == {3: 528.0, 4: 96.0, 5: 48.0}
    assert _months(s) == [("2026-03", 1, 1, 0.5), ("2026-04", 1, 0, None)]
    assert (s.children, s.ranking) == ((), ())


def test_township_stats_roll_up_its_villages(history: History) -> None:
    s = q.stats(history.conn, TOWNSHIP, TOWNSHIP, now=NOW)
    # water, parking (overdue task), leak; the road is only delegated to it: not counted
    assert (s.total, s.open, s.closed, s.overdue) == (3, 2, 1, 1)
    assert _counts(s.by_stage) == {"COLLECTED": 1, "HANDLING": 1, "CLOSED": 1}
    assert _counts(s.by_category) == {"供水": 2, "停车": 1}
    # sign: 1 on time of 3 assigned (water 2, parking 1); return: 1 of 5 (3 + 2)
    assert _rates(s) == pytest.approx((1.0, 0.5, 0.5, 1 / 3, 1 / 2, 1 / 5, 1 / 2))
    # village level: water 48 h, parking 48 h; township: water 96 h, parking 24 h → 60
    assert s.held_hours == {3: 528.0, 4: 60.0, 5: 48.0}
    assert _months(s) == [("2026-03", 2, 1, 0.5), ("2026-04", 1, 0, None)]
    village, sibling = s.children
    assert (village.unit, village.total) == (VILLAGE, 2)
    assert (sibling.unit, sibling.total, sibling.open, sibling.overdue) == (
        SIBLING_VILLAGE,
        1,
        1,
        1,
    )
    # parking: 1 task not signed; 2 transfers, none returned; no visits, no feedback
    assert _rates(sibling) == (None, None, None, 0.0, None, 0.0, None)


def test_county_stats_include_its_own_topics_and_every_township(history: History) -> None:
    s = q.stats(history.conn, COUNTY, COUNTY, now=NOW)
    # water, parking, heating, road, sanitation, leak
    assert (s.total, s.open, s.closed, s.overdue) == (6, 4, 1, 2)  # overdue: parking, road
    assert [(c.key, c.count) for c in s.by_stage] == [
        ("COLLECTED", 2), ("HANDLING", 2), ("CLOSED", 1), ("DECLINED", 1),
    ]  # fmt: skip
    assert s.by_category[0] == q.Count("供水", 2)
    assert _counts(s.by_category) == {"供水": 2, "停车": 1, "供暖": 1, "道路": 1, "环境卫生": 1}
    assert _counts(s.by_source) == {
        "HOTLINE_12345": 2, "GRID": 1, "MEMBER_PROPOSAL": 1, "SOCIAL_INFO": 1, "VISIT": 1,
    }  # fmt: skip
    # sign: water 1 + heating 1 on time of 2 + 1 + 1 = 4 assigned
    # return: 1 of 3 + 2 + 1 + 1 = 7 transfers
    assert _rates(s) == pytest.approx((1.0, 0.5, 0.5, 2 / 4, 1 / 2, 1 / 7, 1 / 2))
    # village level: 48 + 48 + 24 (sanitation, declined d4) = 120 / 3 = 40 h
    # township: (96 + 24) / 2 = 60 h; county: water 528 + heating 48 (d2→d4) = 576 / 2 = 288 h
    assert s.held_hours == {3: 288.0, 4: 60.0, 5: 40.0}
    assert _months(s) == [("2026-03", 5, 1, 0.5), ("2026-04", 1, 0, None)]
    assert [c.unit for c in s.children] == [TOWNSHIP, SIBLING_TOWNSHIP]
    sibling = s.children[1]
    assert (sibling.total, sibling.open, sibling.closed, _counts(sibling.by_stage)) == (
        1, 0, 0, {"DECLINED": 1},
    )  # fmt: skip


def test_city_stats_rank_counties_only_with_enough_return_visits(history: History) -> None:
    s = q.stats(history.conn, CITY, CITY, now=NOW)
    # the county's six topics and lights
    assert (s.total, s.open, s.closed, s.overdue) == (7, 4, 2, 2)
    assert s.median_days_to_close == 19  # (10 + 28) / 2
    # visits 3: contacted 3, solved 2, satisfied 1 + basically 1 → (1 + 0.9) / 3
    # sign: 3 on time of 5; completion: 2 on time of 3; redo: 1 of 3 feedbacks
    assert _rates(s) == pytest.approx((1.0, 2 / 3, 1.9 / 3, 3 / 5, 2 / 3, 1 / 7, 1 / 3))
    # village level: (48 + 48 + 24 + 240) / 4 = 90 h (lights: d5 → d15)
    assert s.held_hours == {3: 288.0, 4: 60.0, 5: 90.0}
    assert _months(s) == [("2026-03", 6, 2, pytest.approx(1.9 / 3)), ("2026-04", 1, 0, None)]
    county, sibling = s.children
    assert (county.unit, county.visits, county.rates.satisfaction_rate) == (COUNTY, 2, 0.5)
    assert (sibling.unit, sibling.visits) == (SIBLING_COUNTY, 1)
    assert sibling.rates.satisfaction_rate == pytest.approx(0.9)
    assert sibling.median_days_to_close == 10
    assert not county.ranked  # default minimum sample: 5 visits
    assert s.ranking == ()
    ranked = q.stats(history.conn, CITY, CITY, now=NOW, min_sample=1)
    assert [c.unit for c in ranked.ranking] == [SIBLING_COUNTY, COUNTY]  # 0.9, then 0.5
    two = q.stats(history.conn, PROVINCE, CITY, now=NOW, min_sample=2)
    assert [c.unit for c in two.ranking] == [COUNTY]
    assert [c.ranked for c in two.children] == [True, False]


def test_province_stats_cover_all_five_levels(history: History) -> None:
    s = q.stats(history.conn, PROVINCE, PROVINCE, now=NOW)
    assert (s.total, s.open, s.closed, s.overdue) == (8, 5, 2, 2)  # + other (collected)
    assert _counts(s.by_stage) == {"COLLECTED": 3, "HANDLING": 2, "CLOSED": 2, "DECLINED": 1}
    assert _counts(s.by_category)["供水"] == 3
    assert _counts(s.by_source) == {
        "HOTLINE_12345": 2, "ONLINE": 2, "GRID": 1, "MEMBER_PROPOSAL": 1, "SOCIAL_INFO": 1,
        "VISIT": 1,
    }  # fmt: skip
    assert _rates(s) == pytest.approx((1.0, 2 / 3, 1.9 / 3, 3 / 5, 2 / 3, 1 / 7, 1 / 3))
    assert _months(s) == [("2026-03", 7, 2, pytest.approx(1.9 / 3)), ("2026-04", 1, 0, None)]
    city, other = s.children
    assert (city.unit, city.total, other.unit, other.total, other.open) == (
        CITY,
        7,
        OTHER_CITY,
        1,
        1,
    )
    # read before anything fell due, nothing is overdue
    assert q.stats(history.conn, PROVINCE, PROVINCE, now=later(11)).overdue == 0


def test_a_date_window_limits_monthly_figures_but_not_the_current_state(history: History) -> None:
    april = q.stats(history.conn, PROVINCE, PROVINCE, date_from=later(33), date_to=NOW, now=NOW)
    assert (april.total, april.closed, april.open, april.overdue) == (1, 0, 5, 2)  # leak only
    assert _counts(april.by_stage) == {"COLLECTED": 3, "HANDLING": 2, "CLOSED": 2, "DECLINED": 1}
    assert (_counts(april.by_category), _counts(april.by_source)) == (
        {"供水": 1}, {"HOTLINE_12345": 1},
    )  # fmt: skip
    assert _rates(april) == (None,) * 7
    assert (april.median_days_to_close, april.held_hours) == (None, {})
    assert _months(april) == [("2026-04", 1, 0, None)]
    march = q.stats(history.conn, PROVINCE, PROVINCE, date_from=later(0), date_to=later(20))
    assert (march.total, march.closed, march.median_days_to_close) == (7, 2, 19)
    assert [m.month for m in march.months] == ["2026-03"]


# -- building ----------------------------------------------------------------------------


def _tables(h: History, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    with h.conn.cursor() as cur:
        for cls in VIEW_CLASSES:
            for table in cls.tables:
                cur.execute(
                    sql.SQL("SELECT * FROM {}.{} LIMIT 0").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )
                width = len(cur.description or ())
                order = sql.SQL(", ").join(sql.Literal(i) for i in range(1, width + 1))
                cur.execute(
                    sql.SQL("SELECT * FROM {}.{} ORDER BY {}").format(
                        sql.Identifier(schema), sql.Identifier(table), order
                    )
                )
                found[table] = cur.fetchall()
    return found


def _views_in(h: History, schema: str) -> list[View]:
    h.conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    datastore = h.runtime.database.datastore(schema=schema)
    return [cls(datastore, h.runtime.units) for cls in VIEW_CLASSES]


@pytest.mark.parametrize("batch_size", [1, 2, 7])
def test_small_batches_build_the_same_tables_as_one_big_batch(
    history: History, batch_size: int
) -> None:
    schema = f"batches_{batch_size}"
    views = _views_in(history, schema)
    try:
        project(history.runtime, views, batch_size=batch_size)
        whole = _tables(history, "public")
        assert all(whole.values())
        assert _tables(history, schema) == whole
    finally:
        views[0].datastore.close()


def test_applying_every_event_twice_changes_nothing(history: History) -> None:
    views = _views_in(history, "twice")
    try:
        project(history.runtime, views, batch_size=5)
        for view in views:
            with view.datastore.transaction(commit=True) as curs:
                view.apply(curs, history.envelopes)
        assert _tables(history, "twice") == _tables(history, "public")
    finally:
        views[0].datastore.close()


def test_the_views_ignore_unit_events_and_topics_they_never_saw(history: History) -> None:
    views = _views_in(history, "partial")
    try:
        unit_events = [e for e in history.envelopes if not e.is_topic_event]
        assert unit_events
        later_events = [e for e in history.envelopes if e.is_topic_event and e.version > 1]
        for view in views:
            view.create_table()
            with view.datastore.transaction(commit=True) as curs:
                view.apply(curs, unit_events + later_events)
        with history.conn.cursor(row_factory=dict_row) as cur:
            for cls in VIEW_CLASSES:
                for table in cls.tables:
                    found = cur.execute(
                        sql.SQL("SELECT count(*) AS n FROM partial.{}").format(
                            sql.Identifier(table)
                        )
                    ).fetchone()
                    assert found is not None
                    assert found["n"] == 0, table
    finally:
        views[0].datastore.close()


def test_batch_parameters_carry_any_text_unchanged(history: History) -> None:
    tricky = ['a"b', "c\\d", "{e,f}", "NULL", "", " g ", "停车, 供水", 'h\\"', None]
    found = history.conn.execute("SELECT %s::text[]", (text_array(tricky),)).fetchone()
    assert found is not None
    assert found[0] == tricky
