"""`linkage demo`: one realistic topic through the six steps, across three levels.

A water-pressure complaint from a residents' committee in 兰州市城关区 is escalated
village → township → county, deliberated with a 4+X panel, handled, supervised,
fed back and closed with the residents' verdict. Its decision history is printed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from api.auth import TokenService
from domain.application import HistoryEntry, LinkageApp
from domain.clock import shown_day, shown_minute
from domain.labels import INBOX_REASON, ROLE, event_name, label
from domain.topic import Actor, Role
from domain.topic_commands import (
    AcceptTransfer,
    AssignTask,
    CloseTopic,
    CompleteTask,
    DetermineTopic,
    EscalateTopic,
    GiveFeedback,
    InviteCoOrganizer,
    RecordDeliberation,
    RecordLeaderInstruction,
    RecordReturnVisit,
    ReportResearch,
    ReportTaskProgress,
    ScheduleDeliberation,
    SignTask,
    StartResearch,
    SuperviseTask,
)
from domain.units import UnitDirectory
from projections import queries

PROVINCE = "62"  # 甘肃省
VILLAGE = "620102001001"  # 畅家巷社区居委会
TOWNSHIP = "620102001"  # 酒泉路街道
COUNTY = "620102"  # 城关区
CITY = "6201"  # 兰州市
# the demo's people, one per level (the other demo topics reuse them)
CITY_STAFF = Actor("gao.yan", CITY, Role.STAFF)
COUNTY_STAFF = Actor("sun.wei", COUNTY, Role.STAFF)
COUNTY_LEADER = Actor("he.ming", COUNTY, Role.LEADER)
TOWNSHIP_STAFF = Actor("chen.jing", TOWNSHIP, Role.STAFF)
VILLAGE_STAFF = Actor("zhou.li", VILLAGE, Role.STAFF)
DEMO_REF = "linkage-demo:"  # external refs make the demo's topics idempotent across runs

PANEL: list[dict[str, str | None]] = [
    {"name": "王建国（区政协委员）", "kind": "MEMBER", "member_id": "CPPCC-620102-017"},
    {"name": "李红梅（社区党委书记）", "kind": "CADRE", "member_id": None},
    {"name": "张志强（区水务局）", "kind": "DEPARTMENT", "member_id": None},
    {"name": "赵秀兰（居民代表）", "kind": "PUBLIC", "member_id": None},
    {"name": "刘军（物业公司）", "kind": "STAKEHOLDER", "member_id": None},
]


def run_scenario(app: LinkageApp, now: datetime | None = None) -> uuid.UUID:
    """Record the scenario as it happened over the last five weeks; returns the topic id.

    Run again on the same store, it finds the topic it recorded the first time."""
    start = (now or datetime.now(UTC)) - timedelta(days=35)

    def day(n: float) -> datetime:
        return start + timedelta(days=n)

    village, township, county = VILLAGE_STAFF, TOWNSHIP_STAFF, COUNTY_STAFF
    county_leader, city = COUNTY_LEADER, CITY_STAFF
    handler = Actor("water.bureau", COUNTY, Role.HANDLER)
    street_handler = Actor("jiuquanlu.office", TOWNSHIP, Role.HANDLER)

    submitted = app.submit_topic(
        village,
        title="畅家巷6号楼二次供水水压不足",
        description="6号楼12层以上住户反映早晚用水高峰水压不足，热水器无法点火，已持续两个月。",
        category="供水",
        source="HOTLINE_12345",
        location=VILLAGE,
        submitter={"name": "赵大妈", "phone": "13800000000"},  # sealed with her own key
        at=day(0),
        external_ref=DEMO_REF + "water-pressure",
    )
    tid = submitted.topic_id
    if submitted.duplicate:
        return tid
    app.handle(
        village,
        EscalateTopic(topic_id=tid, reason="加压泵房属供水公司资产，社区无权协调"),
        at=day(1),
    )
    app.handle(township, AcceptTransfer(topic_id=tid, note="街道受理"), at=day(2))
    app.handle(
        township,
        EscalateTopic(topic_id=tid, reason="涉及区级供水管网改造和资金，街道层面无法解决"),
        at=day(3),
    )
    app.handle(county, AcceptTransfer(topic_id=tid, note="区政协牵头协商"), at=day(4))
    app.handle(
        county, InviteCoOrganizer(topic_id=tid, unit=TOWNSHIP, note="街道协助组织居民"), at=day(4.5)
    )
    app.handle(
        county, DetermineTopic(topic_id=tid, note="经区委统战部审核，列入本月协商议题"), at=day(5)
    )
    app.handle(county, StartResearch(topic_id=tid, text="委员走访6号楼住户和加压泵房"), at=day(6))
    app.handle(
        county, ReportResearch(topic_id=tid, text="泵房设备老化，高峰时段压力仅0.18MPa"), at=day(9)
    )
    meeting_id = app.handle(
        county,
        ScheduleDeliberation(
            topic_id=tid,
            scheduled_at=day(12),
            place="酒泉路街道协商议事室",
            format="现场协商",
            participants=PANEL,
        ),
        at=day(10),
    ).created_id
    assert meeting_id is not None
    app.handle(
        county,
        RecordDeliberation(
            topic_id=tid,
            meeting_id=meeting_id,
            attendance=[p["name"] or "" for p in PANEL],
            minutes="各方同意由区水务局更换加压设备，街道负责施工期间的居民沟通。",
            recommendations=["更换6号楼加压泵组", "施工期间错峰临时供水", "完工后入户回访"],
        ),
        at=day(12),
    )
    task = app.handle(
        county,
        AssignTask(
            topic_id=tid,
            handler_unit=COUNTY,
            handler="区水务局",
            requirement="更换6号楼加压泵组",
            due=day(26),
        ),
        at=day(13),
    ).created_id
    comms = app.handle(
        county,
        AssignTask(
            topic_id=tid,
            handler_unit=TOWNSHIP,
            handler="酒泉路街道办",
            requirement="施工期间居民沟通与临时供水",
            due=day(24),
        ),
        at=day(13),
    ).created_id
    assert task is not None
    assert comms is not None
    app.handle(handler, SignTask(topic_id=tid, task_id=task), at=day(14))
    app.handle(street_handler, SignTask(topic_id=tid, task_id=comms), at=day(14))
    app.handle(
        handler,
        ReportTaskProgress(topic_id=tid, task_id=task, note="设备已采购，预计下周安装"),
        at=day(19),
    )
    app.handle(
        city, SuperviseTask(topic_id=tid, task_id=task, note="市政协督办：请按期完成"), at=day(21)
    )
    app.handle(
        county_leader, RecordLeaderInstruction(topic_id=tid, text="务必在入冬前解决"), at=day(21.5)
    )
    app.handle(
        street_handler,
        CompleteTask(topic_id=tid, task_id=comms, result="已张贴公告，设置临时供水点2处"),
        at=day(23),
    )
    app.handle(
        handler,
        CompleteTask(topic_id=tid, task_id=task, result="新泵组已投入运行，高峰压力0.32MPa"),
        at=day(25),
    )
    app.handle(
        county,
        GiveFeedback(topic_id=tid, reply="加压设备已更换，高峰时段水压恢复正常。", channel="电话"),
        at=day(27),
    )
    app.handle(
        county,
        RecordReturnVisit(
            topic_id=tid,
            contacted=True,
            solved=True,
            satisfaction="SATISFIED",
            comment="住户表示满意",
        ),
        at=day(30),
    )
    app.handle(county, CloseTopic(topic_id=tid, summary="六步闭环完成，群众满意"), at=day(31))
    return tid


def format_history(
    entries: list[HistoryEntry],
    units: UnitDirectory,
    out: Callable[[str], None] = print,
    name_at: Callable[[str, datetime], str] | None = None,
) -> None:
    """One line per decision (its time in the display zone, its Chinese name with the
    code, who took it), and its reason or detail; with `name_at`, each unit is named as
    it was when the decision was taken (else by its current name)."""
    for e in entries:
        code = e.actor.get("unit", "")
        unit = units.get(code)
        name = name_at(code, e.occurred_at) if name_at else unit.name if unit else ""
        who = f"{name}({code})" if name else code
        role, user = label(e.actor.get("role")), e.actor.get("user_id")
        when = shown_minute(e.occurred_at)
        out(f"  v{e.version:<3} {when}  {event_name(e.type)}  {who} {role} {user}")
        detail = e.reason or _detail(e)
        if detail:
            out(f"       {detail}")


def _detail(e: HistoryEntry) -> str:
    d = e.data
    match e.type:
        case "TopicSubmitted":
            sealed = d.get("submitter")
            person = f" · 提交人 {sealed['person_id']}（已加密）" if sealed else ""
            return f"{d['title']} · {d['category']} · {label(d['source'])}{person}"
        case "DeliberationScheduled":
            kinds = dict.fromkeys(label(p["kind"]) for p in d["participants"])
            return f"{d['place']} {shown_day(d['scheduled_at'])} · 4+X：{'、'.join(kinds)}"
        case "DeliberationHeld":
            return "协商建议清单：" + "；".join(d["recommendations"])
        case "TaskAssigned":
            who = f"{d['handler']}({d['handler_unit']})"
            return f"{d['task_id']} → {who}：{d['requirement']}，期限 {shown_day(d['due'])}"
        case "TaskSigned":
            return f"{d['task_id']} 已签收"
        case "ReturnVisitRecorded":
            contacted = "已联系" if d["contacted"] else "未联系上"
            solved = "已解决" if d["solved"] else "未解决"
            return f"{contacted}，{solved}，{label(d['satisfaction'])}"
        case _:
            return ""


def print_read_models(
    conn: psycopg.Connection[Any], units: UnitDirectory, out: Callable[[str], None] = print
) -> None:
    """What each level sees: the busiest inbox, the province's figures, cross-level topics."""
    now = datetime.now(UTC)

    def name(code: str) -> str:
        unit = units.get(code)
        return f"{unit.name}({code})" if unit else code

    busiest = conn.execute(
        "SELECT unit FROM inbox GROUP BY unit ORDER BY count(*) DESC, unit LIMIT 1"
    ).fetchone()
    inbox_unit = busiest[0] if busiest else COUNTY
    inbox = queries.inbox_page(conn, inbox_unit, now=now, first=5)
    out(f"{name(inbox_unit)} 待办 (inbox): {inbox.total_count} 项，逾期的在前")
    for item in inbox.items:
        late = " 已逾期" if item.overdue else ""
        due = f" 期限 {shown_day(item.due)}" if item.due else ""
        out(f"  {INBOX_REASON.get(item.item, item.item)}  {item.topic.title[:28]}{due}{late}")
    s = queries.stats(conn, PROVINCE, PROVINCE, now=now)
    out(
        f"甘肃省 统计 (stats): {s.total} 个议题，在办 {s.open}，办结 {s.closed}，"
        f"逾期 {s.overdue}；办结天数中位数 {_num(s.median_days_to_close)}"
    )
    r = s.rates
    out(
        f"  响应率 {_pct(r.response_rate)}  解决率 {_pct(r.resolution_rate)}  "
        f"满意率 {_pct(r.satisfaction_rate)}  及时签收率 {_pct(r.on_time_sign_rate)}  "
        f"按时办结率 {_pct(r.on_time_completion_rate)}  退单率 {_pct(r.return_rate)}  "
        f"重办率 {_pct(r.redo_rate)}"
    )
    out("  各市（州）满意率排名（回访至少 5 次）:")
    for child in s.ranking[:5]:
        rate = _pct(child.rates.satisfaction_rate)
        out(f"    {name(child.unit):<20} {rate}（回访 {child.visits} 次）")
    cross = queries.cross_level_page(conn, PROVINCE, now=now, first=3)
    out(f"甘肃省 跨层级议题 (cross-level topics): {cross.total_count}")
    for row in cross.items:
        hops = " → ".join(
            f"{name(h.unit)} {held.days}天"
            for h, held in zip(row.route, row.held(now), strict=True)
        )
        out(f"  {row.title[:24]}: {hops}")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


# -- serving: ready-made tokens and what to paste where ---------------------------------

TOKEN_TTL = timedelta(hours=12)
SAMPLE_QUERY = (
    "{ me { unit { name } } "
    "inbox(first: 5) { totalCount edges { node { reason overdue "
    "topic { title stage owner { name } } } } } "
    'stats(unit: "62") { total open overdue satisfactionRate } }'
)


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """One ready-made token of the demo: who it is and what it may do."""

    level: str  # the key of its token (LINKAGE_TOKEN_<LEVEL> in the tokens file)
    title: str  # what a person reads: the level in Chinese
    unit: str
    roles: tuple[Role, ...]
    user_id: str


LOGINS = (
    DemoLogin("province", "省级", PROVINCE, (Role.STAFF, Role.LEADER), "demo.province"),
    DemoLogin("city", "市级", CITY, (Role.STAFF,), "demo.city"),
    DemoLogin("county", "县级", COUNTY, (Role.STAFF,), "demo.county"),
    DemoLogin("township", "乡镇级", TOWNSHIP, (Role.STAFF,), "demo.township"),
    DemoLogin("village", "村级", VILLAGE, (Role.STAFF,), "demo.village"),
    DemoLogin("auditor", "审计", PROVINCE, (Role.AUDITOR,), "demo.auditor"),
)


def issue_demo_tokens(tokens: TokenService) -> dict[str, str]:
    """One token per demo login, by its level."""
    return {
        login.level: tokens.issue(login.unit, list(login.roles), login.user_id, TOKEN_TTL)
        for login in LOGINS
    }


def write_token_file(path: Path, issued: dict[str, str]) -> None:
    """The tokens for a shell (`. FILE`), readable by the owner only: printed once on
    the screen (inside the sign-in links), kept here for curl and scripts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"LINKAGE_TOKEN_{level.upper()}={token}\n" for level, token in issued.items()]
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("".join(lines), encoding="utf-8")


def print_welcome(
    url: str,
    issued: dict[str, str],
    units: UnitDirectory,
    token_file: Path,
    out: Callable[[str], None] = print,
) -> None:
    """The console's sign-in link per level first (each token once, inside its link),
    then the API for developers with curl lines that read the tokens file."""
    from api.console import sign_in_link

    hours = int(TOKEN_TTL.total_seconds() // 3600)
    out(f"控制台 (console)  {url}/")
    out(f"  打开一个链接，即以该级身份登录（{hours} 小时有效；令牌在 # 之后，不发往服务器日志）：")
    for login in LOGINS:
        unit = units.get(login.unit)
        name = unit.name if unit else login.unit
        roles = "、".join(ROLE[role] for role in login.roles)
        out(f"  {login.title} {name}({login.unit}) {roles}")
        out(f"    {sign_in_link(url, issued[login.level])}")
    out("")
    out("开发者 (API for developers)")
    out(f"  GraphQL  {url}/graphql (GraphiQL)    REST  {url}/api/v1 (OpenAPI: {url}/docs)")
    out(f"  health   {url}/healthz  {url}/readyz    metrics  {url}/metrics (审计令牌)")
    out(f"  tokens   . {token_file}    (LINKAGE_TOKEN_PROVINCE … _AUDITOR)")
    body = json.dumps({"query": SAMPLE_QUERY}, ensure_ascii=False)
    out(
        f'  curl -s {url}/graphql -H "Authorization: Bearer $LINKAGE_TOKEN_PROVINCE"'
        f" -H 'Content-Type: application/json' -d '{body}'"
    )
    out(f'  curl -s {url}/api/v1/inbox -H "Authorization: Bearer $LINKAGE_TOKEN_VILLAGE"')
