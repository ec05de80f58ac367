"""GraphiQL (GET /graphql) and Swagger UI (/docs) work on a closed network (政务外网):
their HTML names no outside URL, and in real Chromium with every request beyond the
server refused they render and answer — the builds are vendored, not on a CDN."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Route, expect

from domain.topic import Role
from tests.e2e.conftest import Live
from tests.utils.browser import chromium, screenshot_path
from tests.utils.factories import COUNTY
from tests.utils.graphql import live_small_slice

TIMEOUT = 15_000  # ms a page may take to show what a step waits for
HTML = {"Accept": "text/html"}


class _Links(HTMLParser):
    """Every src and href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [v for k, v in attrs if k in ("src", "href") and v is not None]


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


@pytest.fixture(scope="module")
def live(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_small_slice(pg_admin, tmp_path_factory.mktemp("home")) as live:
        yield live


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        context.set_default_timeout(TIMEOUT)
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A tab on a network that ends at the server: every request to another host is
    aborted (and recorded); fails the test on any such request, script error or
    console error (a CSP refusal is one)."""
    tab = browser.new_page()
    outside: list[str] = []
    problems: list[str] = []

    def closed_network(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    tab.route("**/*", closed_network)
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on("console", console)
    yield tab
    tab.close()
    assert outside == []
    assert problems == []


def _served_here(live: Live, page_path: str, html: str) -> list[str]:
    """The page's src/href resolved against it; asserts each is on this server."""
    base = live.url + page_path
    resolved = [urljoin(base, link) for link in links(html)]
    elsewhere = [
        url
        for url in resolved
        if not url.startswith("data:") and urlsplit(url).netloc != urlsplit(live.url).netloc
    ]
    assert elsewhere == []
    return [url for url in resolved if not url.startswith("data:")]


@pytest.mark.parametrize("page_path", ["/graphql", "/docs"])
def test_the_pages_load_only_files_of_this_server_with_caching_headers(
    live: Live, page_path: str
) -> None:
    with httpx.Client(timeout=10) as client:
        answer = client.get(live.url + page_path, headers=HTML)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "http" not in policy
        assets = _served_here(live, page_path, answer.text)
        scripts = [url for url in assets if url.endswith(".js")]
        assert len(scripts) >= (5 if page_path == "/graphql" else 1)
        for url in assets:
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["etag"]
            assert asset.headers["last-modified"]
            again = client.get(url, headers={"If-None-Match": asset.headers["etag"]})
            assert again.status_code == 304, url  # cached: not sent twice


def test_swagger_ui_sends_the_document_to_no_validator(live: Live) -> None:
    docs = httpx.get(live.url + "/docs", timeout=10).text

    assert '"validatorUrl": null' in docs  # else it asks validator.swagger.io for a badge
    assert "swagger-ui-bundle.js" in docs


def test_redoc_is_not_offered_as_a_blank_page(live: Live) -> None:
    answer = httpx.get(live.url + "/redoc", headers=HTML, timeout=10)

    assert answer.status_code == 404
    assert answer.json()["code"] == "NOT_FOUND"


def test_graphiql_renders_and_runs_a_query_with_the_network_blocked(live: Live, page: Page) -> None:
    headers = json.dumps({"Authorization": "Bearer " + live.token(COUNTY, Role.STAFF)})
    query = "{ __typename me { unit { name } } }"
    page.goto(f"{live.url}/graphql?q={quote(query)}&headers={quote(headers)}")

    editor = page.locator(".graphiql-query-editor .CodeMirror")
    expect(editor).to_be_visible()
    expect(editor).to_contain_text("__typename")
    page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

    result = page.locator(".graphiql-response")
    expect(result).to_contain_text('"__typename": "Query"')
    expect(result).to_contain_text("城关区")
    page.screenshot(path=screenshot_path("graphiql-offline"))


def test_swagger_ui_lists_the_operations_with_the_network_blocked(live: Live, page: Page) -> None:
    page.goto(f"{live.url}/docs")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Linkage")
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible()
    assert operations.count() > 10
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/").first).to_be_visible()
    page.screenshot(path=screenshot_path("swagger-ui-offline"))
