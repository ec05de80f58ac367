"""Operations against an attacker and an outage (issue 15, items 5 and 17 and the
third "also decide" item): PostgreSQL stopped and started again under a live
server; /readyz and /metrics as an outsider, a unit and an operator see them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.errors import PROBLEM_JSON
from domain.topic import Role
from infra.bootstrap import view_classes
from infra.database import Database
from tests.e2e.conftest import Live
from tests.utils.factories import COUNTY, PROVINCE, VILLAGE, submission
from tests.utils.outage import postgres_down

# well above the bound of infra.pools (a few hundred ms), well below the ~7 s and
# more that a request used to hang in an outage: no timing is asserted otherwise
CLIENT_TIMEOUT = 5.0

SUBMIT = """mutation($i: SubmitTopicInput!) {
  submitTopic(input: $i) { position topic { topicId version } } }"""
TOPIC = """query($id: ID!) { topic(id: $id) { topicId title } }"""


@pytest.fixture
def http(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=CLIENT_TIMEOUT) as client:
        yield client


def _input(title: str) -> dict[str, Any]:
    values = submission(title=title)
    return {
        "title": values["title"],
        "description": values["description"],
        "category": values["category"],
        "source": values["source"],
        "locationUnit": values["location"],
    }


def _rest_body(title: str) -> dict[str, Any]:
    return _input(title)


def _graphql(
    http: httpx.Client, live: Live, query: str, headers: dict[str, str] | None = None, **v: Any
) -> dict[str, Any]:
    sent = live.headers(VILLAGE) if headers is None else headers
    response = http.post("/graphql", json={"query": query, "variables": v}, headers=sent)
    body: dict[str, Any] = response.json()
    return body


def _operator(live: Live) -> dict[str, str]:
    return live.headers(PROVINCE, Role.AUDITOR)


def _every_pool_in_use(http: httpx.Client, live: Live) -> str:
    """One of each kind of request, so that every pool holds connections: GraphQL
    submit and read, REST submit, comment and history. Returns the topic's id."""
    created = _graphql(http, live, SUBMIT, i=_input("井盖缺失"))
    assert "errors" not in created, created
    topic = created["data"]["submitTopic"]["topic"]["topicId"]
    live.server.state.runtime.projections.wait_for(created["data"]["submitTopic"]["position"])
    assert _graphql(http, live, TOPIC, id=topic)["data"]["topic"]["topicId"] == topic
    village = live.headers(VILLAGE)
    assert http.post("/api/v1/topics", json=_rest_body("路灯不亮"), headers=village).is_success
    comment = {"text": "已联系物业"}
    assert http.post(f"/api/v1/topics/{topic}/comments", json=comment, headers=village).is_success
    history = http.get(f"/api/v1/topics/{topic}/history", headers=_auditor(live))
    assert history.status_code == 200, history.text
    assert http.get("/readyz").status_code == 200
    return str(topic)


def _auditor(live: Live) -> dict[str, str]:
    return live.headers(COUNTY, Role.AUDITOR)


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert (problem["code"], problem["rule"]) == ("UNAVAILABLE", "DATABASE_UNAVAILABLE")
    assert "the database cannot be reached" in problem["detail"]


# -- 5: after a restart, no connection a restart killed is used ------------------------


def test_after_postgresql_restarts_every_first_request_succeeds(
    live: Live, http: httpx.Client, pg_admin: str, database: Database
) -> None:
    topic = _every_pool_in_use(http, live)
    village = live.headers(VILLAGE)

    with postgres_down(pg_admin, database):
        pass  # every pooled connection of the server died here

    history = http.get(f"/api/v1/topics/{topic}/history", headers=_auditor(live))
    written = http.post("/api/v1/topics", json=_rest_body("噪音扰民"), headers=village)
    comment = http.post(
        f"/api/v1/topics/{topic}/comments", json={"text": "重启后"}, headers=village
    )
    submitted = _graphql(http, live, SUBMIT, i=_input("楼道堆物"))
    read = _graphql(http, live, TOPIC, id=topic)

    assert history.status_code == 200, history.text
    assert written.status_code == 201, written.text
    assert comment.status_code == 200, comment.text
    assert "errors" not in submitted, submitted
    assert submitted["data"]["submitTopic"]["topic"]["version"] >= 1
    assert submitted["extensions"]["readModels"] is not None, submitted
    assert "errors" not in read, read
    assert read["data"]["topic"]["topicId"] == topic
    assert read["extensions"]["readModels"] is not None, read


# -- 17: an outage answers 503 at once; the first good probe says ready ----------------


def test_during_an_outage_requests_answer_unavailable_instead_of_hanging(
    live: Live, http: httpx.Client, pg_admin: str, database: Database
) -> None:
    topic = _every_pool_in_use(http, live)
    village = live.headers(VILLAGE)

    with postgres_down(pg_admin, database):
        submitted = _graphql(http, live, SUBMIT, i=_input("停电"))
        once = {**live.headers(VILLAGE), "Idempotency-Key": "k-1"}
        keyed = _graphql(http, live, SUBMIT, once, i=_input("停气"))
        read = _graphql(http, live, TOPIC, id=topic)
        written = http.post("/api/v1/topics", json=_rest_body("停水"), headers=village)
        comment = http.post(
            f"/api/v1/topics/{topic}/comments", json={"text": "断网"}, headers=village
        )
        history = http.get(f"/api/v1/topics/{topic}/history", headers=_auditor(live))
        ready = http.get("/readyz")
        alive = http.get("/healthz")

    for answer in (submitted, keyed, read):
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["UNAVAILABLE"], answer
        assert answer["errors"][0]["extensions"]["rule"] == "DATABASE_UNAVAILABLE"
        assert "the database cannot be reached" in answer["errors"][0]["message"]
        # the token's unit cannot be looked up, so the caller is not known to be valid:
        # no read-model standing at all (and certainly no positions)
        assert answer.get("extensions", {}).get("readModels") is None
    for response in (written, comment, history):
        _unavailable(response)
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable"}
    assert alive.status_code == 200


def test_the_first_readyz_after_postgresql_is_back_is_ready(
    live: Live, http: httpx.Client, pg_admin: str, database: Database
) -> None:
    _every_pool_in_use(http, live)

    with postgres_down(pg_admin, database):
        # the pools try to reconnect, fail, and back off meanwhile
        down = [http.get("/readyz", headers=_operator(live)) for _ in range(5)]

    first = http.get("/readyz", headers=_operator(live))
    metrics = http.get("/metrics", headers=_operator(live))

    assert {r.status_code for r in down} == {503}
    assert down[-1].json()["database"] == "unreachable"
    assert first.status_code == 200, first.text
    assert first.json()["database"] == "ok"
    assert metrics.status_code == 200
    assert "linkage_database_up 1.0" in metrics.text


# -- also decide: /readyz, /metrics and errors keep province-wide figures to operators --


def test_readyz_tells_anyone_but_an_operator_its_status_only(
    live: Live, http: httpx.Client
) -> None:
    _every_pool_in_use(http, live)

    anonymous = http.get("/readyz")
    forged = http.get("/readyz", headers={"Authorization": "Bearer not-a-token"})
    village = http.get("/readyz", headers=live.headers(VILLAGE, Role.AUDITOR))
    county_leader = http.get("/readyz", headers=live.headers(COUNTY, Role.LEADER))
    province_staff = http.get("/readyz", headers=live.headers(PROVINCE, Role.STAFF))
    operator = http.get("/readyz", headers=_operator(live))

    for coarse in (anonymous, forged, village, county_leader, province_staff):
        assert coarse.status_code == 200
        assert coarse.json() == {"status": "ready"}
    assert operator.status_code == 200
    detail = operator.json()
    assert detail["status"] == "ready"
    assert detail["head"] == live.server.state.runtime.app.head_position()
    assert set(detail["projections"]) == {cls.name for cls in view_classes()}


def test_metrics_need_an_operators_token(live: Live, http: httpx.Client) -> None:
    anonymous = http.get("/metrics")
    forged = http.get("/metrics", headers={"Authorization": "Bearer not-a-token"})
    village_auditor = http.get("/metrics", headers=live.headers(VILLAGE, Role.AUDITOR))
    province_leader = http.get("/metrics", headers=live.headers(PROVINCE, Role.LEADER))
    operator = http.get("/metrics", headers=_operator(live))

    for response in (anonymous, forged):
        assert response.status_code == 401
        assert response.json()["code"] == "UNAUTHENTICATED"
        assert "linkage_store_head_position" not in response.text
    for response in (village_auditor, province_leader):
        assert response.status_code == 403
        problem = response.json()
        assert (problem["code"], problem["rule"]) == ("FORBIDDEN", "METRICS_OPERATOR_ONLY")
        assert "AUDITOR role for the root unit" in problem["detail"]
        assert "linkage_store_head_position" not in response.text
    assert operator.status_code == 200
    assert operator.headers["content-type"].startswith("text/plain")
    assert "linkage_store_head_position" in operator.text
    assert "linkage_projection_lag_events" in operator.text


def test_no_answer_to_a_caller_without_a_valid_token_carries_positions_or_counts(
    live: Live, http: httpx.Client
) -> None:
    topic = _every_pool_in_use(http, live)
    forged = {"Authorization": "Bearer not-a-token"}

    answers = [
        http.post("/graphql", json={"query": "{ me { unit { code } } }"}),
        http.post("/graphql", json={"query": "{ me { unit { code } } }"}, headers=forged),
        http.post("/graphql", json={"query": "{ nope"}),
        http.post("/graphql", json={"query": SUBMIT, "variables": {"i": _input("x")}}),
        http.post("/graphql", content=b"[", headers={"content-type": "application/json"}),
        http.post("/api/v1/topics", json=_rest_body("x")),
        http.post("/api/v1/topics", json=_rest_body("x"), headers=forged),
        http.post(f"/api/v1/topics/{topic}/comments", json={"text": "x"}),
        http.get(f"/api/v1/topics/{topic}/history"),
        http.get("/api/v1/audit/export"),
        http.get("/metrics"),
        http.get("/readyz"),
        http.get("/healthz"),
        http.get("/api/v1/nowhere"),
    ]

    head = str(live.server.state.runtime.app.head_position())
    for response in answers:
        text = response.text
        assert "readModels" not in text, text
        for leak in ('"head"', '"lag"', '"position"', "projections", "store_head"):
            assert leak not in text, text
        if response.headers.get("content-type", "").endswith("json"):
            body = response.json()
            extensions = body.get("extensions") if isinstance(body, dict) else None
            assert extensions is None or head not in str(extensions), body
