"""GraphQL against an attacker (issue 15): depth and cost limits, a response cap,
defensive cursors, list caps shared with REST, payloads at the command's version,
committed mutations that answer their result, idempotency keys on mutations, and
no read-model position for a caller without a valid token."""

from __future__ import annotations

import base64
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_named_type, parse, validate
from prometheus_client import REGISTRY
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from api.commands import command_of
from api.graphql.cost import MAX_COST, MAX_DEPTH, query_cost
from api.graphql.router import MAX_RESPONSE_BYTES
from api.graphql.schema import build_schema
from domain.topic import MAX_ITEMS, MAX_TEXT, Role
from tests.e2e.conftest import Live
from tests.utils.factories import COUNTY, FULL_PANEL, VILLAGE, submission
from tests.utils.graphql import live_small_slice

CONSOLE_JS = Path(__file__).resolve().parents[2] / "api" / "console" / "static" / "js"

SUBMIT = """mutation($i: SubmitTopicInput!) {
  submitTopic(input: $i) { position topic { topicId version } } }"""
COMMENT = """mutation($i: CommentInput!) {
  addComment(input: $i) { position topic { topicId version } } }"""
ATTACK = (
    "{ "
    + " ".join(
        f"a{i}: topics(first: 100) {{ totalCount edges {{ node {{ topicId title description "
        "timeline(first: 100) { edges { node { type data occurredAt } } } } } }"
        for i in range(30)
    )
    + " }"
)


@dataclass
class Server:
    live: Live
    http: httpx.Client
    topic_id: str

    @property
    def url(self) -> str:
        return self.live.url + "/graphql"

    def post(
        self, query: str, headers: dict[str, str] | None = None, **variables: Any
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables:
            body["variables"] = variables
        sent = self.live.headers(VILLAGE) if headers is None else headers
        return self.http.post(self.url, json=body, headers=sent)

    def head(self) -> int:
        return self.live.server.state.runtime.app.head_position()


@pytest.fixture(scope="module")
def server(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with (
        live_small_slice(pg_admin, tmp_path_factory.mktemp("sec-gql") / "home") as live,
        httpx.Client(timeout=60) as http,
    ):
        created = http.post(
            live.url + "/graphql",
            json={"query": SUBMIT, "variables": {"i": _submission("积水")}},
            headers=live.headers(VILLAGE),
        ).json()
        topic_id = created["data"]["submitTopic"]["topic"]["topicId"]
        runner = live.server.state.runtime.projections
        runner.wait_for(created["data"]["submitTopic"]["position"], timeout=30)
        yield Server(live, http, topic_id)


def _submission(title: str, **overrides: Any) -> dict[str, Any]:
    values = submission(title=title)
    return {
        "title": values["title"],
        "description": values["description"],
        "category": values["category"],
        "source": values["source"],
        "locationUnit": values["location"],
        **overrides,
    }


def _errors(response: httpx.Response) -> list[tuple[str, str]]:
    return [(e["extensions"]["code"], e["extensions"]["rule"]) for e in response.json()["errors"]]


def _statements() -> float:
    return REGISTRY.get_sample_value("linkage_read_sql_statements_total") or 0.0


# -- 18: the depth limit is the documented one ----------------------------------------


def _nested(fields: int) -> str:
    """`fields` nested fields: unit, parents, code."""
    parents = fields - 2
    return (
        f'{{ unit(code: "{COUNTY}") {{ ' + "parent { " * parents + "code" + " }" * parents + " } }"
    )


def test_a_query_exactly_twelve_fields_deep_is_answered_and_thirteen_are_refused(
    server: Server,
) -> None:
    assert MAX_DEPTH == 12
    twelve = server.post(_nested(12)).json()
    thirteen = server.post(_nested(13))

    assert "errors" not in twelve, twelve
    assert _errors(thirteen) == [("BAD_INPUT", "QUERY_TOO_DEEP")]
    assert thirteen.json()["errors"][0]["message"] == (
        "the query nests fields 13 deep; the limit is 12"
    )


def test_fragments_count_towards_the_depth_as_their_fields_do(server: Server) -> None:
    fragments = " ".join(
        f"fragment P{i} on Unit {{ parent {{ ...P{i + 1} }} }}" for i in range(1, 11)
    )
    query = f'{{ unit(code: "{COUNTY}") {{ ...P1 }} }} {fragments} fragment P11 on Unit {{ code }}'
    # unit, 10 parents and code: 12; one more parent makes 13
    deeper = query.replace(
        "fragment P11 on Unit { code }", "fragment P11 on Unit { parent { code } }"
    )

    assert "errors" not in server.post(query).json()
    assert _errors(server.post(deeper)) == [("BAD_INPUT", "QUERY_TOO_DEEP")]


# -- 4: the cost limit and the response cap ---------------------------------------------


def test_thirty_aliases_of_topics_with_their_timelines_are_refused_before_anything_runs(
    server: Server,
) -> None:
    before = _statements()
    response = server.post(ATTACK)
    ran = _statements() - before

    body = response.json()
    assert _errors(response) == [("BAD_INPUT", "QUERY_TOO_COSTLY")]
    cost = query_cost(build_schema()._schema, parse(ATTACK))
    assert cost > 50 * MAX_COST
    assert body["errors"][0]["message"].startswith(
        f"the query costs {cost:,}; the limit is {MAX_COST:,}"
    )
    assert body["data"] is None
    assert ran == 1  # the readModels lookup alone: no resolver ran


def test_the_cost_reads_first_from_the_variables_and_the_default_page_size(
    server: Server,
) -> None:
    query = """query($n: Int!) { topics(first: $n) { edges { node { title
      timeline(first: $n) { edges { node { type occurredAt } } } } } } }"""
    defaults = "{ topics { edges { node { timeline { edges { node { type } } } } } } }"
    fifty = defaults.replace("topics", "topics(first: 50)").replace(
        "timeline", "timeline(first: 50)"
    )
    schema = build_schema()._schema

    assert _errors(server.post(query, n=100)) == [("BAD_INPUT", "QUERY_TOO_COSTLY")]
    assert "errors" not in server.post(query, n=10).json()
    # topics and timeline take 50 when `first` is left out
    assert query_cost(schema, parse(defaults)) == query_cost(schema, parse(fifty)) > 50 * 50


def _console_queries() -> dict[str, str]:
    """Every GraphQL document the console's JavaScript sends, its `${…}` filled in
    (the action forms' mutation once per action)."""
    sources = {path.name: path.read_text(encoding="utf-8") for path in CONSOLE_JS.glob("*.js")}
    constants = {
        m.group(1): m.group(2)
        for text in sources.values()
        for m in re.finditer(r"const (\w+) = [`']([^`']*)[`']", text)
    }

    def filled(text: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: filled(constants[m.group(1)]), text)

    found: dict[str, str] = {}
    for text in sources.values():
        for m in re.finditer(r"[`'](\s*(?:query|mutation)\b[^`']*)[`']", text):
            document = m.group(1)
            if "${mutation." in document:  # the action form: once per mutation of the schema
                for field_name, field in build_schema()._schema.mutation_type.fields.items():
                    if get_named_type(field.type).name != "TopicPayload":
                        continue  # the topic page offers a topic's commands only
                    input_type = get_named_type(field.args["input"].type).name
                    concrete = document.replace("${mutation.input}", input_type)
                    found[field_name] = concrete.replace("${mutation.name}", field_name)
            else:
                name = re.match(r"\s*(?:query|mutation)\s+(\w+)", document)
                found[name.group(1) if name else document] = filled(document)
    return found


def test_every_query_the_console_sends_costs_well_under_the_limit() -> None:
    schema = build_schema()._schema
    queries = _console_queries()

    expected = {"Me", "Cockpit", "Cross", "Stuck", "Inbox", "Topic", "Timeline", "Kids"}
    assert expected <= set(queries), sorted(queries)
    assert {"acceptTransfer", "assignTask", "giveFeedback"} <= set(queries)
    for name, text in queries.items():
        document = parse(text)
        assert validate(schema, document) == [], name
        cost = query_cost(schema, document)
        assert 0 < cost <= MAX_COST // 5, (name, cost)


def test_an_answer_over_the_response_cap_is_refused_with_a_clear_error(live: Live) -> None:
    state = live.server.state
    principal = state.tokens.verify(live.token(VILLAGE))
    for i in range(5):
        values = {**submission(title=f"长描述 {i}"), "description": "议" * MAX_TEXT}
        state.commands.run(principal, command_of("submitTopic", None, values))
    state.runtime.projections.wait_for(state.runtime.app.head_position(), timeout=30)
    # 20 aliases × 5 descriptions of 20,000 characters, each \\uXXXX-escaped: 12 MB
    query = (
        "{ "
        + " ".join(
            f"t{i}: topics(first: 5) {{ edges {{ node {{ description }} }} }}" for i in range(20)
        )
        + " }"
    )

    response = httpx.post(
        live.url + "/graphql", json={"query": query}, headers=live.headers(VILLAGE), timeout=60
    )

    assert response.status_code == 400
    assert len(response.content) < 10_000
    assert _errors(response) == [("BAD_INPUT", "RESPONSE_TOO_LARGE")]
    message = response.json()["errors"][0]["message"]
    assert f"the limit is {MAX_RESPONSE_BYTES:,}" in message


# -- 8: cursors are decoded defensively -------------------------------------------------


def test_a_cursor_of_fifty_thousand_nested_brackets_is_bad_input_on_every_connection(
    server: Server,
) -> None:
    nested = base64.urlsafe_b64encode(b"[" * 50_000).decode().rstrip("=")
    short = base64.urlsafe_b64encode(b"[" * 5_000).decode().rstrip("=")[:990]
    connections = [
        "query($c: String) { topics(after: $c) { totalCount } }",
        "query($c: String) { inbox(after: $c) { totalCount } }",
        "query($c: String) { crossLevelTopics(after: $c) { totalCount } }",
        "query($c: String) { units(after: $c) { totalCount } }",
        "query($c: String) { me { unit { children(after: $c) { totalCount } } } }",
        "query($c: String, $id: ID!) { timeline(topicId: $id, after: $c) { totalCount } }",
        "query($c: String, $id: ID!) { topic(id: $id) { timeline(after: $c) { totalCount } } }",
    ]
    for query in connections:
        for cursor in (nested, "[" * 50_000, short):
            response = server.post(query, c=cursor, id=server.topic_id)
            assert _errors(response) == [("BAD_INPUT", "INVALID_CURSOR")], (query, response.text)
            assert len(response.json()["errors"][0]["message"]) < 200


# -- 15: list caps, one definition for both protocols -------------------------------------


def test_a_list_over_the_cap_gets_the_same_rule_on_both_protocols(server: Server) -> None:
    head = server.head()
    panel = [{"name": p["name"], "kind": p["kind"], "memberId": p["member_id"]} for p in FULL_PANEL]
    crowd = (panel * 5000)[: MAX_ITEMS + 1]
    schedule = {
        "topicId": server.topic_id,
        "scheduledAt": "2026-09-01T09:00:00+08:00",
        "place": "社区会议室",
        "format": "议事会",
        "participants": crowd,
    }
    record = {"attendance": ["王委员"] * (MAX_ITEMS + 1), "minutes": "m", "recommendations": []}
    rest = f"{server.live.url}/api/v1/topics/{server.topic_id}"
    headers = server.live.headers(VILLAGE)

    graphql_schedule = server.post(
        "mutation($i: ScheduleDeliberationInput!) { scheduleDeliberation(input: $i) { position } }",
        i=schedule,
    )
    graphql_record = server.post(
        "mutation($i: RecordDeliberationInput!) { recordDeliberation(input: $i) { position } }",
        i={"topicId": server.topic_id, "meetingId": "M1", **record},
    )
    rest_schedule = server.http.post(
        f"{rest}/deliberations",
        json={k: v for k, v in schedule.items() if k != "topicId"},
        headers=headers,
    )
    rest_record = server.http.post(f"{rest}/deliberations/M1/record", json=record, headers=headers)

    for response in (graphql_schedule, graphql_record):
        assert _errors(response) == [("BAD_INPUT", "TOO_MANY_ITEMS")], response.text
    for response in (rest_schedule, rest_record):
        assert response.status_code == 400, response.text
        assert (response.json()["code"], response.json()["rule"]) == ("BAD_INPUT", "TOO_MANY_ITEMS")
    expected = f"participants has 101 entries; at most {MAX_ITEMS} are allowed"
    assert graphql_schedule.json()["errors"][0]["message"] == expected
    assert rest_schedule.json()["detail"] == expected
    assert rest_record.json()["detail"] == graphql_record.json()["errors"][0]["message"]
    assert server.head() == head
    documented = server.http.get(server.live.url + "/openapi.json").json()["components"]["schemas"]
    assert documented["ScheduleDeliberationBody"]["properties"]["participants"]["maxItems"] == 100


# -- 10: the payload shows the topic as the command left it --------------------------------


def test_concurrent_mutations_each_report_the_topic_at_their_own_version(server: Server) -> None:
    created = server.post(SUBMIT, i=_submission("并发评论")).json()["data"]["submitTopic"]
    topic_id = created["topic"]["topicId"]
    answers: list[tuple[str, int]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def comment(writer: int) -> None:
        headers = server.live.headers(VILLAGE)
        with httpx.Client(timeout=60) as http:
            for n in range(3):
                text = f"评论 {writer}-{n}"
                body = http.post(
                    server.url,
                    json={
                        "query": COMMENT,
                        "variables": {"i": {"topicId": topic_id, "text": text}},
                    },
                    headers=headers,
                ).json()
                with lock:
                    if "errors" in body:
                        failures.append(str(body["errors"]))
                    else:
                        answers.append((text, body["data"]["addComment"]["topic"]["version"]))

    writers = [threading.Thread(target=comment, args=(w,)) for w in range(8)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    assert not [f for f in failures if "CONCURRENT_UPDATE" not in f], failures
    app = server.live.server.state.runtime.app
    events = {e.originator_version: e for e in app.events_of(uuid.UUID(topic_id))}
    versions = [version for _, version in answers]
    assert len(set(versions)) == len(versions), sorted(versions)
    for text, version in answers:  # the event at the reported version is its own comment
        assert getattr(events[version], "text", None) == text, (text, version)


# -- 6: a committed mutation answers its result; idempotency keys --------------------------


def _stopped_server_pool(conninfo: str) -> ConnectionPool[Any]:
    """A pool on a PostgreSQL address where no server runs any more."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return ConnectionPool(
        make_conninfo(conninfo, host="127.0.0.1", port=port),
        min_size=0,
        max_size=1,
        timeout=1,
        kwargs={"autocommit": True},
        open=True,
        name="stopped",
    )


def test_a_committed_mutation_answers_its_result_when_the_read_models_cannot_be_read(
    live: Live,
) -> None:
    state = live.server.state
    app = state.runtime.app
    principal = state.tokens.verify(live.token(VILLAGE))
    topic = state.commands.run(
        principal, command_of("submitTopic", None, submission(title="停电"))
    ).topic_id
    query = "mutation($i: CommentInput!) { addComment(input: $i) { position duplicate } }"
    variables = {"i": {"topicId": str(topic), "text": "断电期间的评论"}}
    reads, state.reads = state.reads, _stopped_server_pool(state.runtime.database.conninfo)
    try:
        response = httpx.post(
            live.url + "/graphql",
            json={"query": query, "variables": variables},
            headers=live.headers(VILLAGE),
            timeout=60,
        )
    finally:
        stopped, state.reads = state.reads, reads
        stopped.close()

    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["addComment"]["position"] == app.head_position()
    assert body["extensions"]["readModels"] is None
    assert "could not be read" in body["extensions"]["readModelsUnavailable"]
    texts = [getattr(e, "text", None) for e in app.events_of(topic)]
    assert texts.count("断电期间的评论") == 1


def test_a_mutation_retried_with_its_idempotency_key_runs_once(server: Server) -> None:
    key = f"retry-{uuid.uuid4()}"
    user = f"u-{uuid.uuid4().hex[:8]}"
    headers = {**server.live.headers(VILLAGE, user=user), "Idempotency-Key": key}
    variables = {"i": {"topicId": server.topic_id, "text": "只应记录一次"}}
    app = server.live.server.state.runtime.app

    def comments() -> int:
        texts = [getattr(e, "text", None) for e in app.events_of(uuid.UUID(server.topic_id))]
        return texts.count("只应记录一次")

    first = server.post(COMMENT, headers, **variables)
    again = server.post(COMMENT, headers, **variables)
    other = server.post(COMMENT, headers, i={"topicId": server.topic_id, "text": "另一条"})
    # the same user id in another unit, or with other roles, has keys of its own
    elsewhere = server.post(
        COMMENT, {**server.live.headers(COUNTY, user=user), "Idempotency-Key": key}, **variables
    )
    leader = {**server.live.headers(VILLAGE, Role.LEADER, user=user), "Idempotency-Key": key}
    as_leader = server.post(COMMENT, leader, **variables)

    assert first.status_code == 200, first.text
    assert "errors" not in first.json(), first.text
    assert again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.json()["data"] == first.json()["data"]
    assert "readModels" in again.json()["extensions"]
    assert other.status_code == 409
    assert _errors(other) == [("CONFLICT", "IDEMPOTENCY_KEY_REUSED")]
    assert "errors" not in elsewhere.json(), elsewhere.text
    assert "errors" not in as_leader.json(), as_leader.text
    assert "Idempotent-Replayed" not in elsewhere.headers
    assert "Idempotent-Replayed" not in as_leader.headers
    assert comments() == 3  # the first, the county's and the leader's: not the retry


def test_a_refused_mutation_is_not_stored_under_its_key(server: Server) -> None:
    headers = {**server.live.headers(VILLAGE), "Idempotency-Key": f"k-{uuid.uuid4()}"}
    hidden = server.post(COMMENT, headers, i={"topicId": str(uuid.uuid4()), "text": "无"})
    blank = server.post(COMMENT, headers, i={"topicId": server.topic_id, "text": "  "})
    long_key = server.post(
        COMMENT,
        {**server.live.headers(VILLAGE), "Idempotency-Key": "k" * 201},
        i={"topicId": server.topic_id, "text": "t"},
    )

    assert _errors(hidden) == [("NOT_FOUND", "TOPIC_NOT_FOUND")]
    assert _errors(blank) == [("BAD_INPUT", "FIELD_REQUIRED")]  # re-judged, not replayed
    assert long_key.status_code == 400
    assert _errors(long_key) == [("BAD_INPUT", "IDEMPOTENCY_KEY_INVALID")]


# -- readModels only for a valid token --------------------------------------------------------


def test_an_answer_without_a_valid_token_carries_no_read_model_position(server: Server) -> None:
    forged = server.live.token(VILLAGE)[:-4] + "AAAA"
    anonymous: list[dict[str, str]] = [{}, {"Authorization": f"Bearer {forged}"}]
    for headers in anonymous:
        for request in (
            {"json": {"query": "{ me { userId } }"}},
            {"json": {"query": COMMENT, "variables": {"i": {"topicId": "x", "text": "t"}}}},
            {"json": {"query": "query A { me { userId } } query B { me { userId } }"}},
            {"json": [1, 2]},
            {"json": {"query": ATTACK}},
        ):
            response = server.http.post(server.url, headers=headers, **request)
            body = response.json()
            assert "errors" in body, body
            assert "readModels" not in body.get("extensions", {}), (headers, request, body)
            assert str(server.head()) not in str(body.get("extensions", ""))
    signed_in = server.post("{ me { userId } }").json()
    assert signed_in["extensions"]["readModels"]["head"] == server.head()
