"""The REST reads an integration needs (issue 21): a unit's inbox and a topic's timeline,
over real HTTP, with the same visibility as GraphQL's `inbox` and `timeline`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.errors import PROBLEM_JSON
from domain.topic import Role
from tests.e2e.conftest import Live
from tests.utils.factories import COUNTY, SIBLING_VILLAGE, TOWNSHIP, VILLAGE, submission
from tests.utils.graphql import GraphQLSession

INBOX = """query($first: Int!, $after: String) { inbox(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { reason taskId overdue topic { topicId title stage owner { code } } } } } }"""
TIMELINE = """query($t: ID!) { timeline(topicId: $t) { totalCount
  edges { node { position version type actor { userId role unit { code } } reason } } } }"""


@pytest.fixture
def api(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live.url}/api/v1", timeout=30) as client:
        yield client


def submit(api: httpx.Client, live: Live, name: str = "赵大妈") -> dict[str, Any]:
    values = submission()
    body = {
        "title": values["title"],
        "description": values["description"],
        "category": values["category"],
        "source": values["source"],
        "locationUnit": VILLAGE,
        "submitterName": name,
    }
    response = api.post("/topics", json=body, headers=live.headers(VILLAGE))
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def refused(response: httpx.Response, status: int, code: str, rule: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert (problem["code"], problem["rule"]) == (code, rule)
    return problem


def test_the_inbox_over_rest_is_graphqls_inbox_with_chinese_names(
    live: Live, api: httpx.Client
) -> None:
    topics = [submit(api, live)["topicId"] for _ in range(3)]
    escalated = api.post(
        f"/topics/{topics[0]}/escalate",
        json={"toUnit": TOWNSHIP, "reason": "需要街道协调"},
        headers=live.headers(VILLAGE),
    )
    assert escalated.status_code == 200, escalated.text
    position = escalated.json()["position"]

    township = live.headers(TOWNSHIP)
    rest = api.get("/inbox", params={"consistentWith": position}, headers=township)
    assert rest.status_code == 200, rest.text
    with GraphQLSession(live.url, township) as session:
        graphql = session.run(INBOX, first=50)["inbox"]
    page = rest.json()
    assert page["totalCount"] == graphql["totalCount"] == 1
    (item,) = page["items"]
    assert (item["reason"], item["reasonName"]) == ("TRANSFER_PENDING", "待接收转交")
    assert item["topic"]["topicId"] == topics[0]
    assert item["topic"]["owner"] == {
        "code": VILLAGE,
        "name": "畅家巷社区居委会",
        "level": "VILLAGE",
        "levelName": "村（社区）",
    }
    assert item["topic"]["stageName"] == "收集议题"

    # paged by cursor, in GraphQL's order
    village = live.headers(VILLAGE)
    seen: list[tuple[str, str]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"first": 1} | ({"after": after} if after else {})
        answer = api.get("/inbox", params=params, headers=village).json()
        seen += [(i["topic"]["topicId"], i["reason"]) for i in answer["items"]]
        if not answer["hasNextPage"]:
            break
        after = answer["endCursor"]
    with GraphQLSession(live.url, village) as session:
        edges = session.run(INBOX, first=50)["inbox"]["edges"]
    assert seen == [(e["node"]["topic"]["topicId"], e["node"]["reason"]) for e in edges]
    assert {t for t, _ in seen} == set(topics)  # the escalated one stays until accepted


def test_an_inbox_outside_the_tokens_sight_reads_as_unknown(live: Live, api: httpx.Client) -> None:
    sibling = api.get("/inbox", params={"unit": SIBLING_VILLAGE}, headers=live.headers(VILLAGE))
    unknown = api.get("/inbox", params={"unit": "620102001999"}, headers=live.headers(VILLAGE))
    below = api.get("/inbox", params={"unit": VILLAGE}, headers=live.headers(COUNTY))

    refused(sibling, 404, "NOT_FOUND", "UNIT_NOT_FOUND")
    refused(unknown, 404, "NOT_FOUND", "UNIT_NOT_FOUND")
    assert below.status_code == 200, below.text
    refused(api.get("/inbox"), 401, "UNAUTHENTICATED", "TOKEN_MISSING")


def test_the_timeline_over_rest_is_graphqls_with_chinese_names(
    live: Live, api: httpx.Client
) -> None:
    topic = submit(api, live)["topicId"]
    api.post(f"/topics/{topic}/determine", headers=live.headers(VILLAGE))
    last = api.post(
        f"/topics/{topic}/comments", json={"text": "已电话联系"}, headers=live.headers(VILLAGE)
    ).json()["position"]

    rest = api.get(
        f"/topics/{topic}/timeline",
        params={"consistentWith": last},  # read your writes
        headers=live.headers(VILLAGE),
    )
    assert rest.status_code == 200, rest.text
    page = rest.json()
    with GraphQLSession(live.url, live.headers(VILLAGE)) as session:
        graphql = session.run(TIMELINE, t=topic)["timeline"]
    assert page["totalCount"] == graphql["totalCount"] == 3
    assert [(e["position"], e["version"], e["type"]) for e in page["events"]] == [
        (e["node"]["position"], e["node"]["version"], e["node"]["type"]) for e in graphql["edges"]
    ]
    assert [e["typeName"] for e in page["events"]] == ["提交议题", "确定议题", "评论"]
    actor = page["events"][0]["actor"]
    assert (actor["role"], actor["roleName"], actor["unit"]["name"]) == (
        "STAFF",
        "工作人员",
        "畅家巷社区居委会",
    )
    assert page["events"][0]["occurredAt"].endswith(("+00:00", "Z"))  # an instant, offset shown

    one = api.get(f"/topics/{topic}/timeline", params={"first": 1}, headers=live.headers(VILLAGE))
    rest_of = api.get(
        f"/topics/{topic}/timeline",
        params={"after": one.json()["endCursor"]},
        headers=live.headers(VILLAGE),
    )
    assert [e["version"] for e in one.json()["events"] + rest_of.json()["events"]] == [1, 2, 3]


def test_the_submitter_shows_to_the_owner_only_as_in_graphql(live: Live, api: httpx.Client) -> None:
    submitted = submit(api, live, name="钱阿姨")
    topic, position = submitted["topicId"], submitted["position"]

    def submitter(unit: str, role: Role = Role.STAFF) -> Any:
        answer = api.get(
            f"/topics/{topic}/timeline",
            params={"consistentWith": position},
            headers=live.headers(unit, role),
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["events"][0]["data"]["submitter"]

    assert submitter(VILLAGE)["name"] == "钱阿姨"  # the owner's staff
    assert submitter(COUNTY) is None  # above, not the owner
    assert submitter(VILLAGE, Role.AUDITOR) is None


def test_a_hidden_topic_reads_exactly_as_a_missing_one(live: Live, api: httpx.Client) -> None:
    submitted = submit(api, live)
    topic, position = submitted["topicId"], submitted["position"]
    missing = str(uuid.uuid4())
    sibling = live.headers(SIBLING_VILLAGE)
    seen = api.get(
        f"/topics/{topic}/timeline",
        params={"consistentWith": position},
        headers=live.headers(VILLAGE),
    )
    assert seen.status_code == 200  # it exists, and the read model holds it

    hidden = refused(
        api.get(f"/topics/{topic}/timeline", headers=sibling), 404, "NOT_FOUND", "TOPIC_NOT_FOUND"
    )
    absent = refused(
        api.get(f"/topics/{missing}/timeline", headers=sibling), 404, "NOT_FOUND", "TOPIC_NOT_FOUND"
    )
    assert hidden["detail"].replace(topic, "X") == absent["detail"].replace(missing, "X")
    refused(
        api.get("/topics/not-a-topic/timeline", headers=sibling),
        400,
        "BAD_INPUT",
        "INVALID_TOPIC_ID",
    )


def test_the_reads_are_in_the_openapi_document(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert "get" in paths["/api/v1/inbox"]
    assert "get" in paths["/api/v1/topics/{topic_id}/timeline"]
    assert set(paths["/api/v1/inbox"]["get"]["responses"]) >= {"200", "401", "404"}
