"""The console in a real browser: headless Chromium against a live server holding the
demo's topics on the small slice of Gansu, signed in with tokens as a user would."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect

from api.entry.demo import TOWNSHIP_STAFF, VILLAGE_STAFF, run_scenario
from api.entry.demo_levels import run_level_scenarios
from domain.application import LinkageApp
from domain.topic import Role
from domain.topic_commands import (
    AcceptTransfer,
    AssignTask,
    DetermineTopic,
    EscalateTopic,
    RecordDeliberation,
    ScheduleDeliberation,
)
from tests.e2e.conftest import Live
from tests.utils.browser import ARTIFACTS, DESKTOP, PHONE, chromium, screenshot_path
from tests.utils.factories import (
    COUNTY,
    FULL_PANEL,
    PROVINCE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
)
from tests.utils.graphql import live_small_slice

TIMEOUT = 15_000  # ms a page may take to show what a step waits for


@dataclass
class Demo:
    live: Live
    water: uuid.UUID  # escalated village → township → county and closed (the demo's story)
    drains: uuid.UUID  # escalated by the village, awaiting the township
    lamps: uuid.UUID  # escalated to the township, its task for the village overdue

    def link(self, unit: str, *roles: Role | str) -> str:
        return f"{self.live.url}/#token={self.live.token(unit, *roles)}"


@pytest.fixture(scope="module")
def demo(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with live_small_slice(pg_admin, tmp_path_factory.mktemp("home")) as live:
        runtime = live.server.state.runtime
        app = runtime.app
        water = run_scenario(app)
        run_level_scenarios(app)
        drains, lamps = _awaiting_the_township(app), _overdue_after_escalation(app)
        runtime.projections.wait_for(app.head_position(), timeout=30)
        yield Demo(live, water, drains, lamps)


def _awaiting_the_township(app: LinkageApp) -> uuid.UUID:
    drains = app.submit_topic(
        VILLAGE_STAFF,
        title="畅家巷8号楼化粪池外溢",
        description="化粪池外溢一周，需街道协调环卫所清掏。",
        category="环境卫生",
        source="HOTLINE_12345",
        location=VILLAGE,
    ).topic_id
    app.handle(VILLAGE_STAFF, EscalateTopic(topic_id=drains, reason="需街道协调环卫所清掏"))
    return drains


def _overdue_after_escalation(app: LinkageApp) -> uuid.UUID:
    start = datetime.now(UTC) - timedelta(days=40)

    def day(n: float) -> datetime:
        return start + timedelta(days=n)

    township = TOWNSHIP_STAFF
    lamps = app.submit_topic(
        VILLAGE_STAFF,
        title="畅家巷背街路灯不亮",
        description="背街小巷路灯损坏，夜间出行不便。",
        category="市政设施",
        source="GRID",
        location=VILLAGE,
        submitter={"name": "赵大妈", "phone": "13800138000"},
        at=day(0),
    ).topic_id
    app.handle(VILLAGE_STAFF, EscalateTopic(topic_id=lamps, reason="路灯由街道统一维护"), at=day(1))
    app.handle(township, AcceptTransfer(topic_id=lamps, note="街道受理"), at=day(2))
    app.handle(township, DetermineTopic(topic_id=lamps, note="列入协商计划"), at=day(3))
    meeting = app.handle(
        township,
        ScheduleDeliberation(
            topic_id=lamps,
            scheduled_at=day(5),
            place="协商议事室",
            format="现场协商",
            participants=FULL_PANEL,
        ),
        at=day(4),
    ).created_id
    assert meeting is not None
    names = [str(p["name"]) for p in FULL_PANEL]
    app.handle(
        township,
        RecordDeliberation(
            topic_id=lamps,
            meeting_id=meeting,
            attendance=names,
            minutes="同意维修。",
            recommendations=["维修路灯"],
        ),
        at=day(5),
    )
    app.handle(
        township,
        AssignTask(
            topic_id=lamps,
            handler_unit=VILLAGE,
            handler="社区物业",
            requirement="维修路灯",
            due=day(20),
        ),
        at=day(6),
    )
    return lamps


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        context.set_default_timeout(TIMEOUT)
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab (its own sessionStorage: its own sign-in); fails the test on any
    script error or console error the page reports."""
    tab = browser.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def console(message: ConsoleMessage) -> None:
        # a refused token is a tested path: its 401 is expected, any other error is not
        if message.type == "error" and "status of 401" not in message.text:
            problems.append(f"console error: {message.text}")

    tab.on("console", console)
    yield tab
    tab.close()
    assert problems == []


def sign_in(page: Page, link: str) -> None:
    page.goto(link)
    expect(page.get_by_test_id("viewer-unit")).to_be_visible()
    page.wait_for_selector("main[data-ready]")


def test_the_console_is_served_at_the_root_beside_the_api(demo: Demo) -> None:
    url = demo.live.url
    with httpx.Client(base_url=url, timeout=10) as client:
        index = client.get("/")
        script = client.get("/js/app.js")
        charts = client.get("/vendor/echarts.common.min.js")
        graphql = client.post("/graphql", json={"query": "{ me { userId } }"})
        health = client.get("/healthz")
        openapi = client.get("/openapi.json")
        missing = client.get("/no-such-page")

    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert "五级联动协商" in index.text
    assert "script-src 'self'" in index.headers["content-security-policy"]
    assert "javascript" in script.headers["content-type"]
    assert charts.status_code == 200
    assert len(charts.content) > 500_000  # the whole ECharts build, shipped with the package
    assert graphql.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert health.json() == {"status": "ok"}
    assert openapi.json()["info"]["title"] == "Linkage"
    assert missing.status_code == 404


def test_a_pasted_token_signs_in_and_shows_the_unit_and_roles(demo: Demo, page: Page) -> None:
    page.goto(demo.live.url + "/")
    page.get_by_label("访问令牌").fill("not-a-token")
    page.get_by_role("button", name="登录").click()
    refused = page.get_by_role("alert")
    expect(refused).to_contain_text("令牌无效或已过期")

    page.get_by_label("访问令牌").fill(demo.live.token(COUNTY, Role.STAFF, Role.LEADER))
    page.get_by_role("button", name="登录").click()

    expect(page.get_by_test_id("viewer-unit")).to_have_text("城关区")
    expect(page.locator(".viewer-roles")).to_have_text("工作人员、领导")
    expect(page.get_by_role("heading", level=1)).to_have_text("城关区 驾驶舱")


def test_the_province_drills_down_to_a_village_and_back_up(demo: Demo, page: Page) -> None:
    sign_in(page, demo.link(PROVINCE, Role.STAFF, Role.LEADER))
    expect(page.get_by_role("heading", level=1)).to_have_text("甘肃省 驾驶舱")
    assert "#token=" not in page.url  # the token leaves the address bar at once
    # the water topic, the demo's five open ones, the drains and the lamps
    expect(page.locator("[data-count=total] .count-value")).to_have_text("8")
    for name in ("响应率", "解决率", "满意率", "及时签收率", "按时办结率", "退单率", "重办率"):
        expect(page.locator(".rate-name", has_text=name)).to_have_count(1)
    expect(page.locator(".chart canvas").first).to_be_visible()
    page.screenshot(path=screenshot_path("cockpit-province"), full_page=True)
    cockpit_ms = page.locator("main").get_attribute("data-cockpit-ms")

    for name in ("兰州市", "城关区", "酒泉路街道", "畅家巷社区居委会"):
        page.locator(".child-table").get_by_role("link", name=name).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"{name} 驾驶舱")
    expect(page.get_by_text("没有下级单位")).to_be_visible()
    crumbs = page.get_by_role("navigation", name="层级导航")
    expect(crumbs.get_by_role("link")).to_have_text(["甘肃省", "兰州市", "城关区", "酒泉路街道"])
    page.screenshot(path=screenshot_path("cockpit-village"), full_page=True)

    crumbs.get_by_role("link", name="兰州市").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("兰州市 驾驶舱")
    (ARTIFACTS / "cockpit-timing.json").write_text(json.dumps({"province_ms": cockpit_ms}))


def test_cross_level_topics_show_their_route_and_filter(demo: Demo, page: Page) -> None:
    sign_in(page, demo.link(PROVINCE, Role.STAFF))
    page.get_by_role("link", name="跨层级议题").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("跨层级议题 · 甘肃省")
    water = page.locator(f"[data-topic='{demo.water}']")
    expect(water.locator(".route li")).to_have_count(3)
    hops = ["畅家巷社区居委会", "酒泉路街道", "城关区"]
    expect(water.locator(".route .hop-unit")).to_have_text(hops)
    expect(water.locator(".route .via")).to_have_text(["上交", "上交"])
    expect(water.locator(".route .hop-days").first).to_have_text("2.0 天")
    page.screenshot(path=screenshot_path("cross-level"), full_page=True)

    page.get_by_label("阶段").select_option("CLOSED")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator(".topic-row")).to_have_count(1)
    expect(page.locator(".topic-row h2")).to_have_text("畅家巷6号楼二次供水水压不足")

    page.get_by_label("阶段").select_option("")
    page.get_by_label("类别").fill("生态环境")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator(".topic-row h2")).to_have_text(["黄河城关段沿岸排污口整治"])

    page.get_by_label("类别").fill("")
    page.get_by_label("只看逾期").check()
    page.get_by_role("button", name="筛选").click()
    expect(page.locator(".topic-row h2")).to_have_text(["畅家巷背街路灯不亮"])
    expect(page.locator(".topic-row .badge.warn")).to_have_text(["逾期"])

    page.get_by_label("只看逾期").uncheck()
    page.get_by_label("停滞").select_option("30")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator(".total")).to_contain_text("共 1 个停滞议题")
    expect(page.locator(".topic-row h2")).to_have_text(["畅家巷背街路灯不亮"])


def test_the_time_slider_shows_the_owner_as_it_stood(demo: Demo, page: Page) -> None:
    sign_in(page, demo.link(PROVINCE, Role.STAFF))
    page.goto(f"{demo.live.url}/#/topic/{demo.water}")
    expect(page.get_by_role("heading", level=1)).to_have_text("畅家巷6号楼二次供水水压不足")
    owner = page.locator("[data-fact=owner] dd")
    expect(owner).to_have_text("城关区")
    expect(page.locator(".step.done")).to_have_count(6)
    expect(page.locator("[data-fact=co-organizers] dd")).to_have_text("酒泉路街道")
    expect(page.locator(".tasks tbody tr")).to_have_count(2)
    expect(page.locator(".participants li")).to_have_count(5)  # 4+X
    expect(page.locator(".visit")).to_contain_text("满意")
    timeline = page.locator(".timeline li")
    expect(timeline.first).to_contain_text("提交议题")
    expect(timeline.first).to_contain_text("畅家巷社区居委会 · 工作人员 · zhou.li")
    expect(timeline.nth(1)).to_contain_text("理由：加压泵房属供水公司资产，社区无权协调")
    page.screenshot(path=screenshot_path("topic"), full_page=True)

    slider = page.get_by_role("slider", name="时间回放")
    slider.focus()
    page.keyboard.press("Home")  # the first event: submitted by the village
    expect(page.locator(".slider")).to_have_attribute("data-index", "0")
    expect(owner).to_have_text("畅家巷社区居委会")
    expect(page.locator(".as-of")).to_contain_text("第 1 个事件之后")
    expect(page.locator(".step.current .step-name")).to_have_text("收集议题")
    expect(page.locator(".timeline li.future")).to_have_count(timeline.count() - 1)

    slider.fill("2")  # the township accepted the escalation
    expect(page.locator(".slider")).to_have_attribute("data-index", "2")
    expect(owner).to_have_text("酒泉路街道")
    page.screenshot(path=screenshot_path("topic-as-of"), full_page=True)

    page.get_by_role("button", name="回到当前").click()
    expect(owner).to_have_text("城关区")
    expect(page.locator(".as-of")).to_have_count(0)


def test_a_township_accepts_a_transfer_from_its_inbox(demo: Demo, page: Page) -> None:
    sign_in(page, demo.link(TOWNSHIP, Role.STAFF))
    page.get_by_role("link", name="待办").click()
    item = page.locator(f".inbox-item[data-topic='{demo.drains}']")
    expect(item).to_have_attribute("data-reason", "TRANSFER_PENDING")
    expect(item.locator(".transfer")).to_contain_text("畅家巷社区居委会 上交至 酒泉路街道")

    item.get_by_role("button", name="接收").click()
    item.get_by_label("说明").fill("街道受理，协调环卫所")
    page.screenshot(path=screenshot_path("inbox-accept"), full_page=True)
    item.get_by_role("button", name="确认接收").click()

    expect(page.get_by_role("status")).to_have_text(
        "已接收转交：畅家巷8号楼化粪池外溢（当前承办：酒泉路街道）"
    )
    owned = page.locator(f".inbox-item[data-topic='{demo.drains}']")
    expect(owned).to_have_attribute("data-reason", "OWNED")  # read at the command's position

    owned.get_by_role("button", name="下放").click()
    owned.get_by_label("下放给").fill(COUNTY)
    owned.get_by_label("办理要求").fill("请区里处理")
    owned.get_by_role("button", name="确认下放").click()
    refusal = owned.get_by_role("alert")
    expect(refusal).to_contain_text("只能下放给本单位的下级单位。")
    expect(refusal).to_contain_text("DELEGATION_TARGET_NOT_DESCENDANT")
    expect(refusal).to_contain_text("620102")
    page.screenshot(path=screenshot_path("inbox-refused"), full_page=True)


def test_only_the_owning_unit_sees_who_submitted_a_topic(demo: Demo, page: Page) -> None:
    sign_in(page, demo.link(TOWNSHIP, Role.STAFF))  # the lamps' owner since day 2
    page.goto(f"{demo.live.url}/#/topic/{demo.lamps}")
    submitted = page.locator(".timeline li").first
    expect(submitted).to_contain_text("提交人：赵大妈 13800138000")

    sign_in(page, demo.link(VILLAGE, Role.STAFF))  # submitted it, handles its task: no
    page.goto(f"{demo.live.url}/#/topic/{demo.lamps}")
    expect(page.get_by_role("heading", level=1)).to_have_text("畅家巷背街路灯不亮")
    expect(submitted).to_contain_text("提交议题")
    expect(submitted).not_to_contain_text("提交人")
    expect(submitted).not_to_contain_text("赵大妈")


def test_a_sibling_village_sees_none_of_it(demo: Demo, page: Page) -> None:
    sign_in(page, demo.link(SIBLING_VILLAGE, Role.STAFF))
    expect(page.get_by_role("heading", level=1)).to_have_text("张家园社区居委会 驾驶舱")
    expect(page.locator("[data-count=total] .count-value")).to_have_text("0")
    expect(page.get_by_role("navigation", name="层级导航").get_by_role("link")).to_have_count(0)

    page.get_by_role("link", name="跨层级议题").first.click()
    expect(page.get_by_text("没有符合条件的跨层级议题。")).to_be_visible()
    page.get_by_role("link", name="待办").click()
    expect(page.get_by_text("没有待办事项。")).to_be_visible()
    for topic in (demo.water, demo.drains, demo.lamps):
        page.goto(f"{demo.live.url}/#/topic/{topic}")
        expect(page.get_by_role("heading", level=1)).to_have_text("议题不存在")
    page.goto(f"{demo.live.url}/#/cockpit/{VILLAGE}")
    expect(page.get_by_role("alert")).to_contain_text("找不到该单位，或不在您的管辖范围内。")


def test_the_console_fits_a_laptop_and_a_phone_and_works_from_the_keyboard(
    demo: Demo, page: Page
) -> None:
    sign_in(page, demo.link(PROVINCE, Role.STAFF))
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        for hash_ in ("#/cockpit/62", "#/cross", f"#/topic/{demo.water}", "#/inbox"):
            page.goto(f"{demo.live.url}/{hash_}")
            page.wait_for_selector("main[data-ready]")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{hash_} scrolls sideways by {overflow}px at {size}"
    page.goto(f"{demo.live.url}/#/cockpit/62")
    page.wait_for_selector("main[data-ready]")
    page.screenshot(path=screenshot_path("cockpit-phone"), full_page=True)

    focused = []
    for _ in range(8):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.textContent"))
        if focused[-1] == "待办":
            break
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    page.keyboard.press("Enter")

    assert focused[:2] == ["跳到主要内容", "五级联动协商"]
    assert outline != "none"
    expect(page.get_by_role("heading", level=1)).to_have_text("待办")


def test_the_province_supervises_an_overdue_task_from_the_topic_page(
    demo: Demo, page: Page
) -> None:
    sign_in(page, demo.link(PROVINCE, Role.STAFF))
    page.goto(f"{demo.live.url}/#/topic/{demo.lamps}")
    task = page.locator(".tasks tbody tr")
    expect(task.locator(".badge.warn")).to_have_text("逾期")
    actions = page.get_by_role("group", name="办理：畅家巷背街路灯不亮")
    expect(actions.get_by_role("button")).to_have_text(["督办"])  # an ancestor, not the owner

    actions.get_by_role("button", name="督办").click()
    page.get_by_label("督办意见").fill("省政协督办：请尽快修复")
    page.get_by_role("button", name="确认督办").click()

    expect(page.locator("#status")).to_contain_text("已督办：畅家巷背街路灯不亮")
    expect(task.locator("td").nth(5)).to_have_text("1 次")
    expect(page.locator(".timeline li").last).to_contain_text("督办 甘肃省 · 工作人员")


def test_an_auditor_reads_everything_but_is_offered_no_forms(demo: Demo, page: Page) -> None:
    sign_in(page, demo.link(PROVINCE, Role.AUDITOR))
    expect(page.locator(".viewer-roles")).to_have_text("督查审计")
    page.get_by_role("link", name="待办").click()
    expect(page.locator(".inbox-item[data-reason=TRANSFER_PENDING]")).to_have_count(1)
    expect(page.locator(".action-bar")).to_have_count(0)

    page.goto(f"{demo.live.url}/#/topic/{demo.lamps}")
    expect(page.locator(".timeline li").first).to_contain_text("提交议题")
    expect(page.locator(".tasks .badge.warn")).to_have_text("逾期")  # staff would get 督办 here
    expect(page.locator(".action-bar")).to_have_count(0)
