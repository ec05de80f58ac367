"""The whole six-step loop of one topic, done in the console alone (issue 21, items 1, 4,
5 and 9): a village submits and escalates, the township accepts, determines, researches,
schedules and holds a 4+X meeting and assigns a task, the village's handler signs and
completes it, the county supervises it, the township gives feedback, visits and closes —
each step a click and a form in headless Chromium against a live server, signed in at
each level through the console's sign-in link. Beside it: what cannot be done is not
offered (and says why on request), and a refusal reads in Chinese with unit names, its
field marked, the technical detail behind a toggle."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Locator, Page, expect

from domain.application import LinkageApp
from domain.topic import Role
from domain.topic_commands import (
    AcceptTransfer,
    AssignTask,
    DetermineTopic,
    EscalateTopic,
    RecordDeliberation,
    ScheduleDeliberation,
    TakeOverTopic,
)
from tests.e2e.conftest import Live
from tests.utils.browser import chromium, screenshot_path
from tests.utils.factories import (
    COUNTY,
    FULL_PANEL,
    PROVINCE,
    TOWNSHIP,
    VILLAGE,
    leader,
    staff,
)
from tests.utils.graphql import live_small_slice

TIMEOUT = 15_000  # ms a page may take to show what a step waits for
TITLE = "畅家巷3号楼电梯频繁停运"
NAMES = {
    VILLAGE: "畅家巷社区居委会",
    TOWNSHIP: "酒泉路街道",
    COUNTY: "城关区",
    PROVINCE: "甘肃省",
}


@dataclass
class Side:
    live: Live
    at_province: uuid.UUID  # taken over by the province: nowhere higher to escalate
    at_village: uuid.UUID  # just collected by the village: nowhere lower, no tasks yet
    open_task: uuid.UUID  # at the township, its task for the village still open
    pending: uuid.UUID  # escalated by the village, awaiting the township

    def link(self, unit: str, *roles: Role) -> str:
        return f"{self.live.url}/#token={self.live.token(unit, *roles)}"


def _submit(app: LinkageApp, title: str) -> uuid.UUID:
    return app.submit_topic(
        staff(VILLAGE),
        title=title,
        description=f"{title}，居民多次反映。",
        category="市政设施",
        source="GRID",
        location=VILLAGE,
    ).topic_id


@pytest.fixture(scope="module")
def side(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    with live_small_slice(pg_admin, tmp_path_factory.mktemp("home")) as live:
        runtime = live.server.state.runtime
        app = runtime.app
        at_province = _submit(app, "黄河风情线护栏破损")
        app.handle(leader(PROVINCE), TakeOverTopic(topic_id=at_province, reason="省级统筹"))
        at_village = _submit(app, "畅家巷垃圾清运不及时")
        open_task = _submit(app, "畅家巷背街路灯不亮")
        township = staff(TOWNSHIP)
        app.handle(staff(VILLAGE), EscalateTopic(topic_id=open_task, reason="路灯由街道统一维护"))
        app.handle(township, AcceptTransfer(topic_id=open_task, note="街道受理"))
        app.handle(township, DetermineTopic(topic_id=open_task, note="列入协商计划"))
        start = datetime.now(UTC)
        meeting = app.handle(
            township,
            ScheduleDeliberation(
                topic_id=open_task,
                scheduled_at=start + timedelta(days=1),
                place="协商议事室",
                format="现场协商",
                participants=FULL_PANEL,
            ),
        ).created_id
        assert meeting is not None
        names = [str(p["name"]) for p in FULL_PANEL]
        app.handle(
            township,
            RecordDeliberation(
                topic_id=open_task,
                meeting_id=meeting,
                attendance=names,
                minutes="同意维修。",
                recommendations=["维修路灯"],
            ),
        )
        app.handle(
            township,
            AssignTask(
                topic_id=open_task,
                handler_unit=VILLAGE,
                handler="社区物业",
                requirement="维修路灯",
                due=start + timedelta(days=20),
            ),
        )
        pending = _submit(app, "畅家巷8号楼化粪池外溢")
        app.handle(staff(VILLAGE), EscalateTopic(topic_id=pending, reason="需街道协调环卫所清掏"))
        runtime.projections.wait_for(app.head_position(), timeout=30)
        yield Side(live, at_province, at_village, open_task, pending)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        context.set_default_timeout(TIMEOUT)
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab; fails the test on any script error or console error the page reports."""
    tab = browser.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    tab.on("console", console)
    yield tab
    tab.close()
    assert problems == []


def sign_in(page: Page, side: Side, unit: str, *roles: Role) -> None:
    """Through the console's sign-in link, as `linkage demo` prints one per level."""
    page.goto(side.link(unit, *roles))
    expect(page.get_by_test_id("viewer-unit")).to_have_text(NAMES[unit])
    page.wait_for_selector("main[data-ready]")


def actions(page: Page, title: str = TITLE) -> Locator:
    return page.get_by_role("group", name=f"办理：{title}")


def act(page: Page, name: str, done: str, shot: str, **fields: str) -> None:
    """Open the command `name`, fill its fields by label, confirm, see it done."""
    actions(page).get_by_role("button", name=name, exact=True).click()
    form = page.locator(".action-form")
    for field, value in fields.items():
        form.get_by_label(field).first.fill(value)
    page.screenshot(path=screenshot_path(f"loop-{shot}"), full_page=True)
    form.get_by_role("button", name=f"确认{name}").click()
    expect(page.locator("#status")).to_contain_text(f"{done}：{TITLE}")


def primary(page: Page) -> Locator:
    return actions(page).locator("button.primary")


def open_topic(page: Page, side: Side, topic_id: str) -> None:
    page.goto(f"{side.live.url}/#/topic/{topic_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)


def test_one_topic_walks_the_six_step_loop_in_the_console(side: Side, page: Page) -> None:
    topic_id = _collect_and_escalate(page, side)
    _township_determines_to_tasks(page, side, topic_id)
    _the_task_signed_supervised_completed(page, side, topic_id)
    _township_gives_feedback_visits_and_closes(page, side, topic_id)


def _collect_and_escalate(page: Page, side: Side) -> str:
    stage = page.locator("[data-fact=stage] dd")
    status = page.locator("#status")
    # 1 收集: the village submits the topic on the console's own form, then escalates it
    sign_in(page, side, VILLAGE, Role.STAFF)
    page.get_by_role("link", name="新建议题").click()
    form = page.get_by_role("form", name="新建议题")
    form.get_by_label("标题").fill(TITLE)
    form.get_by_label("议题内容").fill("3号楼电梯一周停运三次，老人上下楼困难。")
    form.get_by_label("类别").fill("市政设施")
    form.get_by_label("来源").select_option("GRID")
    expect(form.get_by_label("发生地")).to_have_value(VILLAGE)  # the viewer's own unit
    page.screenshot(path=screenshot_path("loop-01-submit"), full_page=True)
    form.get_by_role("button", name="确认新建议题").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(status).to_contain_text(f"已提交议题：{TITLE}")
    expect(stage).to_have_text("收集议题")
    topic_id = page.url.split("/topic/")[1].split("?")[0]
    expect(primary(page)).to_have_text("确定议题")  # the next step of the loop, first
    expect(page.locator(".next-step")).to_contain_text("下一步：确定议题")
    act(page, "上交", "已申请上交", "02-escalate", 上交理由="电梯维保需街道协调物业公司")

    return topic_id


def _township_determines_to_tasks(page: Page, side: Side, topic_id: str) -> None:
    stage = page.locator("[data-fact=stage] dd")
    status = page.locator("#status")
    # the township accepts it from its inbox: the row's primary action
    sign_in(page, side, TOWNSHIP, Role.STAFF)
    page.get_by_role("link", name="待办").click()
    row = page.locator(f".inbox-item[data-topic='{topic_id}']")
    expect(row).to_have_attribute("data-reason", "TRANSFER_PENDING")
    expect(row.locator("button.primary")).to_have_text("接收")
    row.get_by_role("button", name="接收", exact=True).click()
    row.get_by_label("说明").fill("街道受理")
    page.screenshot(path=screenshot_path("loop-03-accept"), full_page=True)
    row.get_by_role("button", name="确认接收").click()
    expect(status).to_contain_text(f"已接收转交：{TITLE}（当前承办：酒泉路街道）")
    page.locator(f".inbox-item[data-topic='{topic_id}'] h2 a").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)

    # 2 确定 → 3 调研 → 4 协商 (a 4+X meeting scheduled and held) → tasks
    expect(primary(page)).to_have_text("确定议题")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    act(page, "确定议题", "已确定议题", "04-determine", 说明="列入本月协商计划")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_be_in_viewport()  # the success banner is brought into view
    expect(stage).to_have_text("确定议题")
    expect(primary(page)).to_have_text("开始调研")
    act(page, "开始调研", "已开始议前调研", "05-research", 调研安排="走访住户、约谈物业")
    expect(stage).to_have_text("议前调研")
    expect(primary(page)).to_have_text("报告调研")
    act(page, "报告调研", "已报告调研结果", "06-report", 调研结果="电梯老化，需更换主板")
    expect(primary(page)).to_have_text("安排协商会议")

    actions(page).get_by_role("button", name="安排协商会议", exact=True).click()
    form = page.locator(".action-form")
    form.get_by_label("会议时间").fill(f"{date.today() + timedelta(days=3)}T09:30")
    form.get_by_label("地点").fill("社区议事厅")
    form.get_by_label("形式").fill("现场协商")
    for i, person in enumerate(FULL_PANEL[:4], start=1):  # 政协委员、干部、部门、群众: preset rows
        form.get_by_label(f"姓名 {i}").fill(str(person["name"]))
    form.get_by_role("button", name="添加一行").click()
    form.get_by_label("身份 5").select_option("STAKEHOLDER")
    form.get_by_label("姓名 5").fill(str(FULL_PANEL[4]["name"]))
    page.screenshot(path=screenshot_path("loop-07-schedule"), full_page=True)
    form.get_by_role("button", name="确认安排协商会议").click()
    expect(status).to_contain_text(f"已安排协商会议：{TITLE}")
    expect(stage).to_have_text("协商议事")
    expect(page.locator(".participants li")).to_have_count(5)

    expect(primary(page)).to_have_text("召开协商会议")
    names = "\n".join(str(p["name"]) for p in FULL_PANEL)
    act(
        page,
        "召开协商会议",
        "已记录协商会议",
        "08-held",
        出席人员=names,
        会议纪要="同意由物业更换电梯主板。",
        协商建议="更换电梯主板\n加强日常维保",
    )
    expect(page.locator(".meeting")).to_contain_text("已于")
    expect(primary(page)).to_have_text("交办任务")
    act(
        page,
        "交办任务",
        "已交办任务",
        "09-assign",
        承办单位=VILLAGE,
        承办部门或责任人="社区物业",
        办理要求="更换3号楼电梯主板",
        办理期限=str(date.today() + timedelta(days=14)),
    )
    expect(stage).to_have_text("办理实施")
    # feedback is not offered while the task is open, and says why
    expect(actions(page).get_by_role("button", name="反馈结果")).to_have_count(0)


def _the_task_signed_supervised_completed(page: Page, side: Side, topic_id: str) -> None:
    status = page.locator("#status")
    # 5 办理: the village's handler signs the task from its inbox
    sign_in(page, side, VILLAGE, Role.HANDLER)
    page.get_by_role("link", name="待办").click()
    row = page.locator(f".inbox-item[data-topic='{topic_id}'][data-reason=TASK_TO_SIGN]")
    expect(row.locator("button.primary")).to_have_text("签收任务")
    row.get_by_role("button", name="签收任务").click()
    page.screenshot(path=screenshot_path("loop-10-sign"), full_page=True)
    row.get_by_role("button", name="确认签收任务").click()
    expect(status).to_contain_text(f"已签收任务：{TITLE}")

    # the county supervises the open task (an ancestor of the owner)
    sign_in(page, side, COUNTY, Role.STAFF)
    open_topic(page, side, topic_id)
    expect(primary(page)).to_have_text("督办")
    act(page, "督办", "已督办", "11-supervise", 督办意见="请月底前完成")
    expect(page.locator(".tasks tbody tr td").nth(5)).to_have_text("1 次")

    # the handler completes it
    sign_in(page, side, VILLAGE, Role.HANDLER)
    page.get_by_role("link", name="待办").click()
    row = page.locator(f".inbox-item[data-topic='{topic_id}'][data-reason=TASK_TO_COMPLETE]")
    expect(row.locator("button.primary")).to_have_text("办结任务")
    row.get_by_role("button", name="办结任务").click()
    row.get_by_label("办理结果").fill("已更换主板，电梯恢复运行")
    page.screenshot(path=screenshot_path("loop-12-complete"), full_page=True)
    row.get_by_role("button", name="确认办结任务").click()
    expect(status).to_contain_text(f"已办结任务：{TITLE}")


def _township_gives_feedback_visits_and_closes(page: Page, side: Side, topic_id: str) -> None:
    stage = page.locator("[data-fact=stage] dd")
    status = page.locator("#status")
    # 6 反馈: the township replies, visits the residents and closes the topic
    sign_in(page, side, TOWNSHIP, Role.STAFF)
    open_topic(page, side, topic_id)
    expect(primary(page)).to_have_text("反馈结果")
    act(page, "反馈结果", "已反馈结果", "13-feedback", 答复群众="电梯已修复", 反馈渠道="上门")
    expect(stage).to_have_text("结果反馈")
    expect(primary(page)).to_have_text("回访")
    actions(page).get_by_role("button", name="回访", exact=True).click()
    form = page.locator(".action-form")
    form.get_by_label("已联系上群众").check()
    form.get_by_label("问题已解决").check()
    form.get_by_label("群众评价").select_option("SATISFIED")
    page.screenshot(path=screenshot_path("loop-14-visit"), full_page=True)
    form.get_by_role("button", name="确认回访").click()
    expect(status).to_contain_text(f"已记录回访：{TITLE}")
    expect(page.locator(".visit")).to_contain_text("满意")
    expect(primary(page)).to_have_text("办结")
    act(page, "办结", "议题已办结", "15-close", 办结总结="电梯修复，群众满意")

    expect(stage).to_have_text("已办结")
    expect(page.locator(".step.done")).to_have_count(6)
    expect(page.get_by_text("六步闭环已完成，议题办结。")).to_be_visible()
    expect(page.locator(".action-bar")).to_have_count(0)  # nothing left to do
    page.screenshot(path=screenshot_path("loop-16-closed"), full_page=True)
    timeline = page.locator(".timeline li .what strong")
    expect(timeline).to_have_text(
        [
            "提交议题",
            "申请上交",
            "接收转交",
            "确定议题",
            "开始议前调研",
            "报告调研结果",
            "安排协商会议",
            "召开协商会议",
            "交办任务",
            "签收任务",
            "督办",
            "办结任务",
            "结果反馈",
            "回访",
            "议题办结",
        ]
    )


def unavailable(page: Page, action: str) -> Locator:
    """The disabled entry of `action` in the "why not" list, opened on request."""
    details = page.locator("details.unavailable").first
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return details.locator(f"li[data-action={action}]")


def test_escalation_is_not_offered_at_the_province(side: Side, page: Page) -> None:
    sign_in(page, side, PROVINCE, Role.STAFF)
    page.goto(f"{side.live.url}/#/topic/{side.at_province}")
    bar = page.get_by_role("group", name="办理：黄河风情线护栏破损")
    expect(bar.get_by_role("button", name="确定议题")).to_be_visible()
    expect(bar.get_by_role("button", name="上交", exact=True)).to_have_count(0)

    entry = unavailable(page, "escalateTopic")
    expect(entry.get_by_role("button", name="上交")).to_be_disabled()
    expect(entry).to_contain_text("甘肃省已是最高一级，没有可以上交的上级单位。")
    described = entry.get_by_role("button").get_attribute("aria-describedby")
    expect(page.locator(f"[id='{described}']")).to_contain_text("最高一级")
    page.screenshot(path=screenshot_path("not-offered-province"), full_page=True)


def test_a_village_is_offered_no_delegation_and_no_task_while_collecting(
    side: Side, page: Page
) -> None:
    sign_in(page, side, VILLAGE, Role.STAFF)
    page.goto(f"{side.live.url}/#/topic/{side.at_village}")
    bar = page.get_by_role("group", name="办理：畅家巷垃圾清运不及时")
    expect(bar.locator("button.primary")).to_have_text("确定议题")
    for name in ("下放", "交办任务", "反馈结果"):
        expect(bar.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect(unavailable(page, "delegateTopic")).to_contain_text(
        "畅家巷社区居委会是村（社区）一级，没有可以下放的下级单位。"
    )
    expect(unavailable(page, "assignTask")).to_contain_text(
        "议题当前处于「收集议题」阶段，交办任务只能在「协商议事」「办理实施」阶段进行。"
    )
    page.screenshot(path=screenshot_path("not-offered-village"), full_page=True)

    page.get_by_role("link", name="待办").click()  # the same on its inbox row
    row = page.locator(f".inbox-item[data-topic='{side.at_village}']")
    expect(row.locator("button.primary")).to_have_text("确定议题")
    expect(row.get_by_role("button", name="下放", exact=True)).to_have_count(0)
    expect(row.get_by_role("button", name="交办任务", exact=True)).to_have_count(0)


def test_feedback_is_not_offered_while_a_task_is_open(side: Side, page: Page) -> None:
    sign_in(page, side, TOWNSHIP, Role.STAFF)
    page.goto(f"{side.live.url}/#/topic/{side.open_task}")
    bar = page.get_by_role("group", name="办理：畅家巷背街路灯不亮")
    expect(bar.locator("button.primary")).to_have_text("督办")
    expect(bar.get_by_role("button", name="反馈结果")).to_have_count(0)
    expect(unavailable(page, "giveFeedback")).to_contain_text(
        "还有 1 项任务没有办结（维修路灯），全部办结之后才能反馈结果。"
    )


def test_a_refusal_reads_in_chinese_with_unit_names_and_marks_the_field(
    side: Side, page: Page
) -> None:
    sign_in(page, side, TOWNSHIP, Role.STAFF)
    page.goto(f"{side.live.url}/#/topic/{side.open_task}")
    actions(page, "畅家巷背街路灯不亮").get_by_role("button", name="下放", exact=True).click()
    form = page.locator(".action-form")
    form.get_by_label("下放给").fill(COUNTY)  # upward: the domain refuses
    form.get_by_label("办理要求").fill("请区里处理")
    form.get_by_role("button", name="确认下放").click()

    refusal = form.get_by_role("alert")
    expected = "只能下放给本单位的下级单位。城关区（兰州市）不是酒泉路街道（城关区）的下级单位。"
    expect(refusal.locator(".plain")).to_have_text(expected)
    target = form.get_by_label("下放给")
    expect(target).to_have_attribute("aria-invalid", "true")
    expect(form.locator("[data-field=toUnit] .field-error")).to_have_text(expected)
    technical = refusal.locator("details")
    expect(technical).not_to_have_attribute("open", "")
    expect(technical.locator("p").first).not_to_be_visible()  # behind the toggle
    technical.locator("summary").click()
    expect(technical).to_contain_text("RULE_VIOLATION · DELEGATION_TARGET_NOT_DESCENDANT")
    expect(technical).to_contain_text(f"{COUNTY} is not a descendant of {TOWNSHIP}")
    page.screenshot(path=screenshot_path("refusal-chinese"), full_page=True)


def test_a_reason_of_spaces_is_caught_at_the_field(side: Side, page: Page) -> None:
    sign_in(page, side, TOWNSHIP, Role.STAFF)
    page.get_by_role("link", name="待办").click()
    row = page.locator(f".inbox-item[data-topic='{side.pending}']")
    row.get_by_role("button", name="退回", exact=True).click()
    row.get_by_label("退回理由").fill("   ")
    row.get_by_role("button", name="确认退回").click()

    field = row.get_by_label("退回理由")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(row.locator("[data-field=reason] .field-error")).to_have_text("请填写退回理由。")
    expect(row).not_to_contain_text("GRAPHQL")
    expect(row).to_have_attribute("data-reason", "TRANSFER_PENDING")  # nothing was sent
    page.screenshot(path=screenshot_path("refusal-blank-reason"), full_page=True)


def test_graphql_validation_errors_are_mapped_to_the_field(side: Side, page: Page) -> None:
    """What the server answers when a required input is left out (another client, or a
    console older than its schema), as the console shows it: the field, in Chinese."""
    token = side.live.token(TOWNSHIP, Role.STAFF)
    document = (
        "mutation R($input: TopicReasonInput!) { returnTransfer(input: $input) { position } }"
    )
    with httpx.Client(base_url=side.live.url, timeout=10) as client:
        answer = client.post(
            "/graphql",
            json={"query": document, "variables": {"input": {"topicId": str(side.pending)}}},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    error = answer["errors"][0]
    assert error["extensions"]["rule"] == "GRAPHQL_INVALID"

    sign_in(page, side, TOWNSHIP, Role.STAFF)
    shown = page.evaluate(
        """async (error) => {
            const { describeRefusal } = await import('/js/refusals.js');
            const { ApiError } = await import('/js/api.js');
            const e = new ApiError(error.extensions.code, error.extensions.rule, error.message);
            return describeRefusal(e, { label: '退回', fields: { reason: '退回理由' } });
        }""",
        error,
    )
    assert shown["plain"] == "请填写退回理由。"
    assert shown["field"] == "reason"


def test_a_page_shows_that_it_is_loading(side: Side, page: Page) -> None:
    sign_in(page, side, TOWNSHIP, Role.STAFF)
    seen = page.evaluate(
        """() => new Promise((resolve) => {
            const main = document.getElementById('main');
            const marks = [];
            new MutationObserver(() => {
                const line = document.getElementById('loading');
                marks.push([main.getAttribute('aria-busy'), !line.hidden]);
                if (main.dataset.ready) resolve(marks);
            }).observe(main, { attributes: true });
            window.location.hash = '#/inbox';
        })"""
    )
    assert ["true", True] in seen  # busy, the loading line shown, while it loads
    expect(page.locator("main")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#loading")).to_be_hidden()


def test_the_new_topic_form_checks_its_fields_where_they_are_typed(side: Side, page: Page) -> None:
    sign_in(page, side, VILLAGE, Role.STAFF)
    page.get_by_role("link", name="新建议题").click()
    form = page.get_by_role("form", name="新建议题")
    form.get_by_label("标题").fill("长" * 201)  # MAX_TITLE is 200
    form.get_by_label("议题内容").fill("  ")
    form.get_by_role("button", name="确认新建议题").click()

    expect(form.locator("[data-field=title] .field-error")).to_have_text(
        "标题有 201 个字，最多只能填写 200 个字。"
    )
    expect(form.locator("[data-field=description] .field-error")).to_have_text("请填写议题内容。")
    expect(form.locator("[data-field=category] .field-error")).to_have_text("请填写类别。")
    expect(form.get_by_label("标题")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("标题")).to_be_focused()  # the first field to fix
    expect(form.locator("[data-field=locationUnit] .field-error")).to_be_hidden()
    page.screenshot(path=screenshot_path("new-topic-field-errors"), full_page=True)


def test_a_meeting_of_more_than_100_names_is_refused_at_the_field(side: Side, page: Page) -> None:
    """MAX_ITEMS (domain/topic.py) is checked before anything is sent."""
    sign_in(page, side, TOWNSHIP, Role.STAFF)
    page.goto(f"{side.live.url}/#/topic/{side.open_task}")
    shown = page.evaluate(
        """async (topicId) => {
            const { actionForm } = await import('/js/actions.js');
            const { commandCatalogue } = await import('/js/commands.js');
            const record = (await commandCatalogue()).find((m) => m.name === 'recordDeliberation');
            const owner = { code: '1', name: 'x', ancestors: [] };
            const topic = { topicId, title: 't', tasks: [], owner,
                            meetings: [{ meetingId: 'M1', place: '议事室', heldAt: null }] };
            let sent = false;
            const form = actionForm(record, { topic, me: { unit: { code: '1' }, roles: ['STAFF'] },
                                               onDone: () => { sent = true; } });
            document.body.append(form);
            form.querySelector('[name=attendance]').value =
                Array.from({ length: 101 }, (_, i) => `代表${i}`).join('\\n');
            form.querySelector('[name=minutes]').value = '纪要';
            form.requestSubmit();
            await new Promise((r) => setTimeout(r, 0));
            return [form.querySelector('[data-field=attendance] .field-error').textContent, sent];
        }""",
        str(side.open_task),
    )
    assert shown == ["出席人员最多 100 项，现在有 101 项。", False]


def test_a_mutation_the_console_does_not_know_yet_gets_a_generic_form(
    side: Side, page: Page
) -> None:
    """The list follows the schema: a new command (here a made-up one, as the command
    catalogue would add it) is offered with a form built from its input type."""
    sign_in(page, side, TOWNSHIP, Role.STAFF)
    page.goto(f"{side.live.url}/#/topic/{side.open_task}")
    shown = page.evaluate(
        """async () => {
            const { commandsFor } = await import('/js/commands.js');
            const { actionForm } = await import('/js/actions.js');
            const outcome = { name: 'recordOutcome', description: 'Record an outcome.',
              input: 'OutcomeInput', fields: [
                { name: 'topicId', type: 'ID', kind: 'SCALAR', list: false, required: true },
                { name: 'summary', description: '成果摘要', type: 'String', kind: 'SCALAR',
                  list: false, required: true },
                { name: 'adopted', description: '已采纳', type: 'Boolean', kind: 'SCALAR',
                  list: false, required: true }] };
            const topic = { topicId: 'x', title: 't', stage: 'HANDLING', tasks: [], meetings: [],
                            owner: { code: '620102001', name: '酒泉路街道', level: 'TOWNSHIP',
                                     ancestors: [] } };
            const me = { unit: { code: '620102001' }, roles: ['STAFF'] };
            const offered = commandsFor(topic, me, [outcome]).available;
            const form = actionForm(outcome, { topic, me, onDone: () => {} });
            return [offered, [...form.querySelectorAll('label')].map((l) => l.textContent.trim()),
                    form.querySelector('button[type=submit]').textContent];
        }"""
    )
    assert shown == [["recordOutcome"], ["成果摘要 *", "已采纳"], "确认recordOutcome"]
