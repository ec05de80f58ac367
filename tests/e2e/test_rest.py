"""The REST commands as an integration calls them: real HTTP against a live server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from api.errors import PROBLEM_JSON
from api.ids import global_id
from domain.topic import Role, Stage
from tests.e2e.conftest import Live
from tests.utils.factories import (
    COUNTY,
    FULL_PANEL,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    submission,
)

BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def api(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live.url}/api/v1", timeout=30) as client:
        yield client


def submit_body(**overrides: Any) -> dict[str, Any]:
    values = submission()
    body = {
        "title": values["title"],
        "description": values["description"],
        "category": values["category"],
        "source": values["source"],
        "locationUnit": values["location"],
    }
    body.update(overrides)
    return body


def submitted(api: httpx.Client, live: Live) -> str:
    response = api.post("/topics", json=submit_body(), headers=live.headers(VILLAGE))
    assert response.status_code == 201, response.text
    return str(response.json()["topicId"])


def refused(response: httpx.Response, status: int, code: str, rule: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert (problem["code"], problem["rule"], problem["status"]) == (code, rule, status)
    return problem


def head(live: Live) -> int:
    return live.server.state.runtime.app.head_position()


def soon(days: float) -> str:
    """An instant `days` from now, in Beijing time: "2026-03-09T09:30:00.123+08:00"."""
    return (datetime.now(BEIJING) + timedelta(days=days)).isoformat()


def test_a_topic_goes_through_the_six_steps_over_rest(live: Live, api: httpx.Client) -> None:
    village, township = live.headers(VILLAGE), live.headers(TOWNSHIP)
    handler = live.headers(VILLAGE, Role.HANDLER)
    created = api.post("/topics", json=submit_body(submitterName="赵大妈"), headers=village)
    assert created.status_code == 201, created.text
    first = created.json()
    assert first["version"] == 1
    assert (first["createdId"], first["duplicate"]) == (None, False)
    topic = first["topicId"]
    results = [first]

    def step(path: str, headers: dict[str, str], body: Any = None, status: int = 200) -> str:
        response = api.post(f"/topics/{topic}{path}", json=body, headers=headers)
        assert response.status_code == status, f"{path}: {response.text}"
        assert response.json()["topicId"] == topic
        results.append(response.json())
        return str(response.json()["createdId"])

    step("/determine", village)  # no body: every field of it is optional
    step("/escalate", village, {"toUnit": TOWNSHIP, "reason": "需要街道协调供水公司"})
    step("/transfer/accept", township, {"note": "街道接手"})
    step("/research/start", township, {"text": "走访6号楼住户并约谈供水公司"})
    step("/research/report", township, {"text": "加压泵老化，需更换"})
    panel = [{"name": p["name"], "kind": p["kind"], "memberId": p["member_id"]} for p in FULL_PANEL]
    meeting = step(
        "/deliberations",
        township,
        {"scheduledAt": soon(1), "place": "街道议事厅", "format": "现场", "participants": panel},
        status=201,
    )
    assert meeting == "M1"
    step(
        f"/deliberations/{meeting}/record",
        township,
        {
            "attendance": [p["name"] for p in panel],
            "minutes": "与会各方同意更换加压泵",
            "recommendations": ["更换加压泵", "错峰用水提示"],
        },
    )
    task = step(
        "/tasks",
        township,
        {
            "handlerUnit": VILLAGE,
            "handler": "畅家巷社区",
            "requirement": "督促供水公司更换加压泵",
            "due": soon(7),
        },
        status=201,
    )
    assert task == "T1"
    step(f"/tasks/{task}/sign", handler)
    step(f"/tasks/{task}/complete", handler, {"result": "加压泵已更换，水压恢复"})
    step("/feedback", township, {"reply": "已更换加压泵，水压恢复正常", "channel": "电话"})
    visit = {"contacted": True, "solved": True, "satisfaction": "SATISFIED"}
    step("/return-visits", township, visit)
    step("/close", township, {"summary": "问题已解决，群众满意"})

    versions = [r["version"] for r in results]
    positions = [r["position"] for r in results]
    assert versions == list(range(1, len(results) + 1))
    assert positions == sorted(set(positions))
    assert positions[-1] == head(live)
    assert live.server.state.runtime.app.get_topic(uuid.UUID(topic)).stage == Stage.CLOSED


def test_a_topic_may_be_addressed_by_its_graphql_id(live: Live, api: httpx.Client) -> None:
    topic = submitted(api, live)

    response = api.post(
        f"/topics/{global_id('Topic', topic)}/comments",
        json={"text": "同意，尽快处理"},
        headers=live.headers(VILLAGE),
    )

    assert response.status_code == 200, response.text
    assert response.json()["topicId"] == topic


INVALID = [  # path (under a fresh topic when it starts with /{topic}), body, field, message
    ("/topics", submit_body(title=None), "title", "valid string"),
    ("/topics", {k: v for k, v in submit_body().items() if k != "title"}, "title", "required"),
    ("/topics", submit_body(title=42), "title", "valid string"),
    ("/topics", submit_body(title="议" * 201), "title", "at most 200 characters"),
    ("/topics", submit_body(source="FAX"), "source", "HOTLINE_12345"),
    ("/topics", submit_body(priority="HIGH"), "priority", "Extra inputs"),
    ("/topics", submit_body(location=VILLAGE), "location", "Extra inputs"),
    ("/topics", submit_body(description="水\x00压"), "description", "NUL"),
    ("/topics", [submit_body()], "body", "valid dictionary"),
    ("/{topic}/escalate", {"to_unit": TOWNSHIP, "reason": "r"}, "to_unit", "Extra inputs"),
    ("/{topic}/escalate", {"toUnit": 620102001, "reason": "r"}, "toUnit", "valid string"),
    ("/{topic}/decline", {"reason": "重复", "expectedVersion": "1"}, "expectedVersion", "int"),
    ("/{topic}/return-visits", {"contacted": "yes", "solved": True}, "contacted", "boolean"),
    ("/{topic}/return-visits", {"contacted": True}, "satisfaction", "required"),
    (
        "/{topic}/delegate",
        {"toUnit": VILLAGE, "instructions": "i", "due": "2026-09-01T09:00:00"},
        "due",
        "timezone",
    ),
    ("/{topic}/tasks", {"due": "tomorrow"}, "due", "datetime"),
]  # a list over its cap is the domain's TOO_MANY_ITEMS (tests/e2e/test_security_graphql.py)


def test_an_invalid_request_is_refused_naming_the_field(live: Live, api: httpx.Client) -> None:
    topic = submitted(api, live)
    before = head(live)

    for path, body, field, message in INVALID:
        url = path.replace("/{topic}", f"/topics/{topic}")
        response = api.post(url, json=body, headers=live.headers(VILLAGE))

        problem = refused(response, 400, "BAD_INPUT", "INVALID_REQUEST")
        fields = {e["field"]: e["message"] for e in problem["errors"]}
        assert message in fields.get(field, ""), (path, body, problem)
        assert f"{field}: " in problem["detail"]
    assert head(live) == before


def test_malformed_requests_are_bad_input_never_a_server_error(
    live: Live, api: httpx.Client
) -> None:
    topic = submitted(api, live)
    village = live.headers(VILLAGE)
    before = head(live)

    not_json = api.post(
        "/topics", content=b"{title:", headers={**village, "content-type": "application/json"}
    )
    refused(not_json, 400, "BAD_INPUT", "INVALID_REQUEST")
    not_an_id = api.post("/topics/not-a-topic/determine", headers=village)
    assert "not-a-topic" in refused(not_an_id, 400, "BAD_INPUT", "INVALID_TOPIC_ID")["detail"]
    bad_target = api.post(
        f"/topics/{topic}/merge", json={"intoTopicId": "x", "reason": "r"}, headers=village
    )
    assert "intoTopicId" in refused(bad_target, 400, "BAD_INPUT", "INVALID_TOPIC_ID")["detail"]
    blank = api.post(f"/topics/{topic}/decline", json={"reason": "   "}, headers=village)
    assert "reason" in refused(blank, 400, "BAD_INPUT", "FIELD_REQUIRED")["detail"]
    out_of_range = api.post(
        f"/topics/{topic}/delegate",
        json={"toUnit": VILLAGE, "instructions": "i", "due": "9999-12-31T23:00:00-12:00"},
        headers=village,
    )
    assert refused(out_of_range, 400, "BAD_INPUT", "INVALID_REQUEST")["errors"][0]["field"] == "due"
    huge = api.post("/topics", json=submit_body(description="水" * 400_000), headers=village)
    refused(huge, 413, "BAD_INPUT", "REQUEST_TOO_LARGE")
    long_key = api.post(
        f"/topics/{topic}/comments",
        json={"text": "t"},
        headers={**village, "Idempotency-Key": "k" * 201},
    )
    problem = refused(long_key, 400, "BAD_INPUT", "INVALID_REQUEST")
    assert problem["errors"][0]["field"] == "header.Idempotency-Key"
    assert head(live) == before


@pytest.mark.parametrize(
    ("authorization", "rule"),
    [
        (None, "TOKEN_MISSING"),
        ("Basic dXNlcjpwYXNz", "TOKEN_MISSING"),
        ("Bearer not.a.token", "TOKEN_INVALID"),
        ("expired", "TOKEN_EXPIRED"),
    ],
)
def test_a_request_without_a_valid_token_is_unauthenticated(
    live: Live, api: httpx.Client, authorization: str | None, rule: str
) -> None:
    if authorization == "expired":
        issued = datetime.now(UTC) - timedelta(hours=2)
        token = live.server.state.tokens.issue(
            VILLAGE, [Role.STAFF], ttl=timedelta(hours=1), now=issued
        )
        authorization = f"Bearer {token}"
    headers = {} if authorization is None else {"Authorization": authorization}
    before = head(live)

    response = api.post("/topics", json=submit_body(), headers=headers)

    refused(response, 401, "UNAUTHENTICATED", rule)
    assert head(live) == before


def test_a_role_the_command_does_not_permit_is_forbidden(live: Live, api: httpx.Client) -> None:
    topic = submitted(api, live)

    response = api.post(f"/topics/{topic}/determine", headers=live.headers(VILLAGE, "auditor"))

    problem = refused(response, 403, "FORBIDDEN", "ROLE_NOT_PERMITTED")
    assert "AUDITOR" in problem["detail"]


def test_a_topic_out_of_the_units_sight_is_answered_like_a_missing_one(
    live: Live, api: httpx.Client
) -> None:
    topic = submitted(api, live)
    missing = str(uuid.uuid4())
    sibling = live.headers(SIBLING_VILLAGE)
    before = head(live)

    hidden = api.post(f"/topics/{topic}/withdraw", json={"reason": "r"}, headers=sibling)
    absent = api.post(f"/topics/{missing}/withdraw", json={"reason": "r"}, headers=sibling)

    expected = refused(absent, 404, "NOT_FOUND", "TOPIC_NOT_FOUND")
    expected["detail"] = expected["detail"].replace(missing, topic)
    assert refused(hidden, 404, "NOT_FOUND", "TOPIC_NOT_FOUND") == expected
    assert head(live) == before


def test_a_broken_rule_is_a_rule_violation_naming_the_rule(live: Live, api: httpx.Client) -> None:
    topic = submitted(api, live)

    downward = api.post(
        f"/topics/{topic}/escalate",
        json={"toUnit": SIBLING_VILLAGE, "reason": "转给隔壁社区"},
        headers=live.headers(VILLAGE),
    )

    problem = refused(downward, 422, "RULE_VIOLATION", "ESCALATION_TARGET_NOT_ANCESTOR")
    assert f"{SIBLING_VILLAGE} is not an ancestor of {VILLAGE}" in problem["detail"]


def test_a_stale_expected_version_is_a_conflict(live: Live, api: httpx.Client) -> None:
    topic = submitted(api, live)
    village = live.headers(VILLAGE)

    fresh = api.post(f"/topics/{topic}/determine", json={"expectedVersion": 1}, headers=village)
    stale = api.post(
        f"/topics/{topic}/decline", json={"reason": "重复", "expectedVersion": 1}, headers=village
    )

    assert fresh.status_code == 200, fresh.text
    refused(stale, 409, "CONFLICT", "VERSION_CONFLICT")


def test_submitting_an_external_ref_again_finds_the_topic(live: Live, api: httpx.Client) -> None:
    body = submit_body(externalRef="12345-2026-000731")
    first = api.post("/topics", json=body, headers=live.headers(VILLAGE))
    again = api.post("/topics", json=body, headers=live.headers(VILLAGE))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["topicId"] == first.json()["topicId"]
    assert again.json()["duplicate"] is True


def test_a_retry_with_the_same_idempotency_key_replays_the_first_answer(
    live: Live, api: httpx.Client
) -> None:
    headers = {**live.headers(VILLAGE), "Idempotency-Key": "intake-7f3a"}
    first = api.post("/topics", json=submit_body(), headers=headers)
    after_first = head(live)

    again = api.post("/topics", json=submit_body(), headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert head(live) == after_first


def test_an_idempotency_key_belongs_to_one_request_of_one_user(
    live: Live, api: httpx.Client
) -> None:
    topic = submitted(api, live)
    key = {"Idempotency-Key": "comment-1"}
    village = {**live.headers(VILLAGE), **key}
    assert api.post(f"/topics/{topic}/comments", json={"text": "一"}, headers=village).is_success
    before = head(live)

    other_body = api.post(f"/topics/{topic}/comments", json={"text": "二"}, headers=village)
    other_path = api.post(f"/topics/{topic}/determine", headers=village)
    other_user = api.post(
        f"/topics/{topic}/comments",
        json={"text": "一"},
        headers={**live.headers(TOWNSHIP), **key},
    )

    for reused in (other_body, other_path):
        problem = refused(reused, 409, "CONFLICT", "IDEMPOTENCY_KEY_REUSED")
        assert "comment-1" in problem["detail"]
    assert other_user.status_code == 200, other_user.text
    assert "Idempotent-Replayed" not in other_user.headers
    assert head(live) == before + 1


def test_a_refused_command_is_not_kept_under_its_idempotency_key(
    live: Live, api: httpx.Client
) -> None:
    topic = submitted(api, live)
    township = {**live.headers(TOWNSHIP), "Idempotency-Key": "accept-1"}
    early = api.post(f"/topics/{topic}/transfer/accept", headers=township)
    refused(early, 422, "RULE_VIOLATION", "NO_PENDING_TRANSFER")
    escalated = api.post(
        f"/topics/{topic}/escalate", json={"reason": "需协调"}, headers=live.headers(VILLAGE)
    )
    assert escalated.status_code == 200, escalated.text

    retry = api.post(f"/topics/{topic}/transfer/accept", headers=township)

    assert retry.status_code == 200, retry.text
    assert "Idempotent-Replayed" not in retry.headers
    assert live.server.state.runtime.app.get_topic(uuid.UUID(topic)).owner == TOWNSHIP


def test_concurrent_requests_with_one_key_run_the_command_once(live: Live) -> None:
    headers = {**live.headers(COUNTY), "Idempotency-Key": "burst-1"}
    body = submit_body()
    before = head(live)
    responses: list[httpx.Response] = []
    start = threading.Barrier(8)

    def send() -> None:
        with httpx.Client(base_url=f"{live.url}/api/v1", timeout=30) as client:
            start.wait()
            responses.append(client.post("/topics", json=body, headers=headers))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.status_code for r in responses] == [201] * 8
    assert len({r.content for r in responses}) == 1
    assert sum("Idempotent-Replayed" in r.headers for r in responses) == 7
    assert head(live) == before + 1
