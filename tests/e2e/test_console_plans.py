"""The plan page in the console, in real Chromium against a live server: a county's
staff draft the year's plan, add an item and submit it; its leader approves it as
jointly issued; the staff link the item to a topic; the city sees the county in its
roll-up; a sibling county finds nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect

from domain.topic import Role
from tests.e2e.conftest import Live
from tests.utils.browser import chromium, screenshot_path
from tests.utils.factories import CITY, COUNTY, SIBLING_COUNTY, staff, submission
from tests.utils.graphql import live_small_slice

TIMEOUT = 15_000
YEAR = 2026
NAMES = {COUNTY: "城关区", CITY: "兰州市", SIBLING_COUNTY: "七里河区"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, pg_admin: str) -> Iterator[Live]:
    with live_small_slice(pg_admin, tmp_path_factory.mktemp("home")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        context.set_default_timeout(TIMEOUT)
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
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


def sign_in(page: Page, live: Live, unit: str, *roles: Role) -> None:
    page.goto(f"{live.url}/#token={live.token(unit, *roles)}")
    expect(page.get_by_test_id("viewer-unit")).to_have_text(NAMES[unit])
    page.wait_for_selector("main[data-ready]")


def open_plan(page: Page, live: Live, unit: str) -> None:
    page.goto(f"{live.url}/#/plans/{unit}?year={YEAR}")
    page.wait_for_selector(f"main[data-ready='/plans/{unit}']")


def test_a_county_drafts_approves_and_links_its_plan_in_the_console(live: Live, page: Page) -> None:
    app = live.server.state.runtime.app
    topic: uuid.UUID = app.submit_topic(
        staff(COUNTY), **submission(location=COUNTY, title="老旧小区加装电梯")
    ).topic_id
    heading = page.get_by_role("heading", level=1)

    _draft_add_and_submit(page, live)
    _approve_and_link(page, live, topic)
    sign_in(page, live, CITY, Role.STAFF)
    open_plan(page, live, CITY)
    county_row = page.locator(f"table.plan-rollup tr[data-unit='{COUNTY}']")
    expect(county_row).to_contain_text("已批准")
    expect(county_row.locator("td").nth(2)).to_have_text("1")
    page.screenshot(path=screenshot_path("plans-city-rollup"), full_page=True)

    sign_in(page, live, SIBLING_COUNTY, Role.STAFF)
    open_plan(page, live, COUNTY)
    expect(heading).to_have_text("出错了")
    expect(page.locator(".error .plain")).to_contain_text("找不到")


def _draft_add_and_submit(page: Page, live: Live) -> None:
    heading = page.get_by_role("heading", level=1)
    status = page.locator("#status")
    sign_in(page, live, COUNTY, Role.STAFF)
    page.get_by_role("link", name="年度计划").click()
    expect(heading).to_have_text(f"城关区{YEAR}年度协商计划")
    page.get_by_role("button", name="起草计划").click()
    expect(status).to_contain_text("已起草计划")

    form = page.get_by_role("form", name="添加计划项")
    form.get_by_label("协商形式").select_option(label="双月协商")
    form.get_by_label("议题名称").fill("老旧小区加装电梯双月协商")
    form.get_by_label("计划时间").fill(f"{YEAR}-Q4")
    form.get_by_label("牵头专委会").fill("经济委")
    form.get_by_label("议题来源").select_option("党委点题")
    form.get_by_role("button", name="添加").click()
    expect(status).to_contain_text("已添加计划项")
    row = page.locator("table.plan-items tbody tr").first
    expect(row).to_contain_text("老旧小区加装电梯双月协商")
    expect(row).to_contain_text("计划中")

    # a malformed period is refused in Chinese at the form, nothing recorded
    form = page.get_by_role("form", name="添加计划项")
    form.get_by_label("议题名称").fill("错误的时间")
    form.get_by_label("计划时间").evaluate("el => el.removeAttribute('pattern')")
    form.get_by_label("计划时间").fill(f"{YEAR}-13")
    form.get_by_role("button", name="添加").click()
    expect(form.locator(".error .plain")).to_have_text("填写的内容有误。")
    expect(page.locator("table.plan-items tbody tr")).to_have_count(1)

    page.get_by_role("button", name="报审计划").click()
    expect(status).to_contain_text("已报审")
    expect(page.locator(".plan-state")).to_contain_text("已报审")
    page.screenshot(path=screenshot_path("plans-submitted"), full_page=True)


def _approve_and_link(page: Page, live: Live, topic: uuid.UUID) -> None:
    status = page.locator("#status")
    sign_in(page, live, COUNTY, Role.LEADER)
    open_plan(page, live, COUNTY)
    approve = page.get_by_role("form", name="批准印发")
    approve.get_by_label("联合印发单位").fill("区委办、区政府办、区政协办")
    approve.get_by_role("button", name="批准印发").click()
    expect(status).to_contain_text("已批准印发")
    expect(page.locator(".plan-state")).to_contain_text("联合印发：区委办、区政府办、区政协办")

    sign_in(page, live, COUNTY, Role.STAFF)
    open_plan(page, live, COUNTY)
    link = page.get_by_role("form", name="关联议题：老旧小区加装电梯双月协商")
    link.get_by_placeholder("议题编号").fill(str(topic))
    link.get_by_role("button", name="关联").click()
    expect(status).to_contain_text("已关联议题")
    expect(page.locator("table.plan-items tbody tr").first).to_contain_text("老旧小区加装电梯")
    expect(page.locator(".plan-progress li[data-kind=BIMONTHLY] .count")).to_have_text("0/1")
    page.screenshot(path=screenshot_path("plans-approved-linked"), full_page=True)
