"""The console in a real browser: headless Chromium against a live server holding the
demo's topics on the small slice of Gansu, signed in with tokens as a user would."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect

from domain.topic import Role
from infra.demo import VILLAGE_STAFF, run_scenario
from infra.demo_levels import run_level_scenarios
from tests.e2e.conftest import Live
from tests.utils.browser import ARTIFACTS, chromium, screenshot_path
from tests.utils.factories import (
    COUNTY,
    PROVINCE,
    VILLAGE,
)
from tests.utils.graphql import live_small_slice

TIMEOUT = 15_000  # ms a page may take to show what a step waits for


@dataclass
class Demo:
    live: Live
    water: uuid.UUID  # escalated village → township → county and closed (the demo's story)
    drains: uuid.UUID  # escalated by the village, awaiting the township

    def link(self, unit: str, *roles: Role | str) -> str:
        return f"{self.live.url}/#token={self.live.token(unit, *roles)}"


@pytest.fixture(scope="module")
def demo(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with live_small_slice(pg_admin, tmp_path_factory.mktemp("home")) as live:
        runtime = live.server.state.runtime
        app = runtime.app
        water = run_scenario(app)
        run_level_scenarios(app)
        drains = app.submit_topic(
            VILLAGE_STAFF,
            title="畅家巷8号楼化粪池外溢",
            description="化粪池外溢一周，需街道协调环卫所清掏。",
            category="环境卫生",
            source="HOTLINE_12345",
            location=VILLAGE,
        ).topic_id
        app.escalate_topic(VILLAGE_STAFF, drains, reason="需街道协调环卫所清掏")
        runtime.projections.wait_for(app.head_position(), timeout=30)
        yield Demo(live, water, drains)


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
        charts = client.get("/vendor/echarts.min.js")
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
    expect(page.locator("[data-count=total] .count-value")).to_have_text("7")
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
