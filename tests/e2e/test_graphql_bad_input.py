"""Bad GraphQL over real HTTP: never a 500, always an error with a code.

Raw httpx on purpose: gql parses and may validate a document before sending it, and
these requests must reach the server as they are. For every case: the status is
below 500, the body is JSON without a Python traceback, every error carries
`extensions.code` (the first one in the case's allowed set), a refused command
recorded nothing, and the server still answers a valid query afterwards.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Live
from tests.utils.factories import COUNTY, PROVINCE, TOWNSHIP
from tests.utils.graphql import GraphQLSession, live_small_slice

PLACEHOLDER = re.compile(r"__TOPIC:([a-z0-9-]+)__")


def topic(name: str = "main") -> str:
    """Stands for the id of a topic COUNTY owns, one per name: a command that is
    wrongly accepted then changes only its own topic, not the other cases'."""
    return f"__TOPIC:{name}__"


TOPIC = topic()
NIL = "00000000-0000-0000-0000-000000000000"


@dataclass
class Server:
    live: Live
    topic_ids: dict[str, str]  # placeholder name -> topicId
    http: httpx.Client
    headers: dict[str, str]

    @property
    def topic_id(self) -> str:
        return self.topic_ids["main"]

    @property
    def url(self) -> str:
        return self.live.url + "/graphql"

    def head(self) -> int:
        return self.live.server.state.runtime.app.head_position()

    def answers(self) -> bool:
        response = self.http.post(
            self.url, json={"query": "{ me { unit { code } } }"}, headers=self.headers
        )
        return response.status_code == 200 and response.json()["data"] == {
            "me": {"unit": {"code": COUNTY}}
        }


SUBMIT_TOPIC = (
    "mutation($i: SubmitTopicInput!) { submitTopic(input: $i) { position topic { topicId } } }"
)
MAIN_TITLE = "城关区主干道积水"


@pytest.fixture(scope="module")
def server(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    names = sorted({"main"} | {n for case in CASES for n in PLACEHOLDER.findall(repr(case))})
    with live_small_slice(pg_admin, tmp_path_factory.mktemp("bad") / "home") as live:
        headers = live.headers(COUNTY)
        with GraphQLSession(live.url, headers) as county, httpx.Client(timeout=30) as http:
            topic_ids, position = {}, 0
            for name in names:
                payload = county.run(
                    SUBMIT_TOPIC,
                    i={
                        "title": MAIN_TITLE if name == "main" else f"测试议题 {name}",
                        "description": "雨后主干道积水严重。",
                        "category": "市政",
                        "source": "GRID",
                        "locationUnit": COUNTY,
                    },
                )["submitTopic"]
                topic_ids[name], position = payload["topic"]["topicId"], payload["position"]
            county.run("query($p: Int) { topics(consistentWith: $p) { totalCount } }", p=position)
            yield Server(live, topic_ids, http, headers)


@dataclass(frozen=True)
class Case:
    name: str
    codes: frozenset[str]
    query: str | None = None  # a GraphQL document, POSTed as JSON
    variables: dict[str, Any] | None = None
    body: Any = None  # any other JSON body (when `query` is None)
    content: bytes | None = None  # or raw bytes
    content_type: str = "application/json"
    method: str = "POST"
    rule: str | None = None
    status: int | None = None
    may_answer: bool = False  # a plain answer (e.g. null) is as good as an error
    extra: dict[str, Any] = field(default_factory=dict)

    def send(self, server: Server) -> httpx.Response:
        headers = {**server.headers, "Accept": "application/json"}
        if self.method != "POST":
            params = {"query": self.query} if self.query else None
            return server.http.request(self.method, server.url, params=params, headers=headers)
        content = self.content
        if content is None:
            body = self.body
            if self.query is not None:
                body = {"query": self.query, **self.extra}
                if self.variables is not None:
                    body["variables"] = self.variables
            text = json.dumps(body)
            content = PLACEHOLDER.sub(lambda m: server.topic_ids[m.group(1)], text).encode()
        return server.http.post(
            server.url, content=content, headers={**headers, "Content-Type": self.content_type}
        )


BAD = frozenset({"BAD_INPUT"})
MISSING = frozenset({"BAD_INPUT", "NOT_FOUND"})
REFUSED = frozenset({"BAD_INPUT", "RULE_VIOLATION"})


def bad(name: str, query: str, rule: str | None = None, **kwargs: Any) -> Case:
    return Case(name, BAD, query=query, rule=rule, **kwargs)


def deep(levels: int) -> str:
    return '{ unit(code: "620102") { ' + "parent { " * levels + "code" + " }" * levels + " } }"


CHILDREN_15 = (
    "{ me { unit { children { edges { node { children { edges { node { children { edges {"
    " node { children { edges { node { code } } } } } } } } } } } } } } }"
)
CHILDREN_VIA_FRAGMENTS = (
    "query { me { unit { ...L1 } } } "
    + " ".join(
        f"fragment L{i} on Unit {{ children {{ edges {{ node {{ ...L{i + 1} }} }} }} }}"
        for i in range(1, 6)
    )
    + " fragment L6 on Unit { code }"
)
ALIASES_31 = "{ " + " ".join(f"a{i}: me {{ userId }}" for i in range(31)) + " }"
ALIASES_IN_FRAGMENTS = (
    "fragment F on Query { "
    + " ".join(f"a{i}: me {{ userId }}" for i in range(16))
    + " } { ...F ... on Query { "
    + " ".join(f"b{i}: me {{ userId }}" for i in range(16))
    + " } }"
)
ALIASES_ONE_FRAGMENT_FOUR_TIMES = (
    "fragment F on Unit { "
    + " ".join(f"c{i}: code" for i in range(10))
    + " } { me { u1: unit { ...F } u2: unit { ...F } u3: unit { ...F } } }"
)
TOKENS_4100 = "{ me { " + "userId " * 4100 + "} }"
SUBMIT = "mutation($i: SubmitTopicInput!) { submitTopic(input: $i) { position } }"


def submission(**overrides: str) -> dict[str, Any]:
    return {
        "i": {
            "title": "路灯不亮",
            "description": "小巷路灯坏了一个月。",
            "category": "市政",
            "source": "VISIT",
            "locationUnit": COUNTY,
            **overrides,
        }
    }


def unit_code_cases(code: str, label: str, slug: str) -> list[Case]:
    """A bad unit code in every place that takes one."""
    literal = json.dumps(code)
    return [
        Case(f"stats(unit: {label})", MISSING, query=f"{{ stats(unit: {literal}) {{ total }} }}"),
        Case(
            f"topics(filter: {{unit: {label}}})",
            MISSING,
            query=f"{{ topics(filter: {{unit: {literal}}}) {{ totalCount }} }}",
        ),
        Case(
            f"inbox(unit: {label})", MISSING, query=f"{{ inbox(unit: {literal}) {{ totalCount }} }}"
        ),
        Case(
            f"crossLevelTopics(unit: {label})",
            MISSING,
            query=f"{{ crossLevelTopics(unit: {literal}) {{ totalCount }} }}",
        ),
        Case(
            f"units(parent: {label})",
            MISSING,
            query=f"{{ units(parent: {literal}) {{ totalCount }} }}",
        ),
        Case(
            f"unit(code: {label})",
            MISSING,
            query=f"{{ unit(code: {literal}) {{ code }} }}",
            may_answer=True,
        ),
        Case(
            f"submitTopic(locationUnit: {label})",
            MISSING,
            query=SUBMIT,
            variables=submission(locationUnit=code),
        ),
        Case(
            f"escalateTopic(toUnit: {label})",
            MISSING,
            query=("mutation($i: EscalateTopicInput!) { escalateTopic(input: $i) { position } }"),
            variables={
                "i": {"topicId": topic(f"escalate-{slug}"), "toUnit": code, "reason": "协调"}
            },
        ),
    ]


def first_cases(first: int) -> list[Case]:
    rule = "FIRST_OUT_OF_RANGE"
    return [
        bad(f"topics(first: {first})", f"{{ topics(first: {first}) {{ totalCount }} }}", rule),
        bad(f"inbox(first: {first})", f"{{ inbox(first: {first}) {{ totalCount }} }}", rule),
        bad(
            f"crossLevelTopics(first: {first})",
            f"{{ crossLevelTopics(first: {first}) {{ totalCount }} }}",
            rule,
        ),
        bad(f"units(first: {first})", f"{{ units(first: {first}) {{ totalCount }} }}", rule),
        bad(
            f"timeline(first: {first})",
            f'{{ timeline(topicId: "{TOPIC}", first: {first}) {{ totalCount }} }}',
            rule,
        ),
        bad(
            f"Unit.children(first: {first})",
            f"{{ me {{ unit {{ children(first: {first}) {{ totalCount }} }} }} }}",
            rule,
        ),
        bad(
            f"Topic.timeline(first: {first})",
            f'{{ topic(id: "{TOPIC}") {{ timeline(first: {first}) {{ totalCount }} }} }}',
            rule,
        ),
    ]


def consistency_cases(position: int) -> list[Case]:
    rule = "POSITION_OUT_OF_RANGE"
    p = position
    return [
        bad(
            f"topics(consistentWith: {p})",
            f"{{ topics(consistentWith: {p}) {{ totalCount }} }}",
            rule,
        ),
        bad(
            f"topic(consistentWith: {p})",
            f'{{ topic(id: "{TOPIC}", consistentWith: {p}) {{ title }} }}',
            rule,
        ),
        bad(
            f"inbox(consistentWith: {p})",
            f"{{ inbox(consistentWith: {p}) {{ totalCount }} }}",
            rule,
        ),
        bad(
            f"crossLevelTopics(consistentWith: {p})",
            f"{{ crossLevelTopics(consistentWith: {p}) {{ totalCount }} }}",
            rule,
        ),
        bad(
            f"stats(consistentWith: {p})",
            f'{{ stats(unit: "{COUNTY}", consistentWith: {p}) {{ total }} }}',
            rule,
        ),
    ]


def cursor(*values: object) -> str:
    """A cursor-looking token of our own making (base64 of a JSON list)."""
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def unit_id(key: str) -> str:
    return base64.urlsafe_b64encode(f"Unit:{key}".encode()).decode().rstrip("=")


CASES: list[Case] = [
    # -- not GraphQL ------------------------------------------------------------------
    bad("syntax error", "{ me { userId "),
    bad("unknown field", "{ me { userId shoeSize } }"),
    bad("unknown root field", "{ everything { id } }"),
    bad("unknown argument", '{ me(unit: "62") { userId } }'),
    bad("string for Int", '{ topics(first: "ten") { totalCount } }'),
    bad("int for String", "{ unit(code: 620102) { code } }"),
    bad("float for Int", "{ topics(first: 1.5) { totalCount } }"),
    bad("Int beyond 32 bits", "{ topics(consistentWith: 1099511627776) { totalCount } }"),
    bad(
        "string for Int in a variable",
        "query($f: Int!) { topics(first: $f) { totalCount } }",
        variables={"f": "ten"},
    ),
    bad(
        "null for a non-null variable",
        "query($f: Int!) { topics(first: $f) { totalCount } }",
        variables={"f": None},
    ),
    bad("missing required argument", "{ stats { total } }"),
    bad("missing required input field", 'mutation { addComment(input: {text: "x"}) { position } }'),
    bad(
        "missing required input fields in a variable",
        SUBMIT,
        variables={"i": {"title": "只有标题"}},
    ),
    bad(
        "unknown input field in a variable",
        SUBMIT,
        variables={"i": {**submission()["i"], "priority": "URGENT"}},
    ),
    bad("invalid enum value", "{ topics(filter: {scope: EVERYTHING}) { totalCount } }"),
    bad("invalid Level", "{ units(level: HAMLET) { totalCount } }"),
    bad(
        "invalid enum value in a variable",
        SUBMIT,
        variables=submission(source="FAX"),
    ),
    bad("subscription", "subscription { me { userId } }"),
    bad("cyclic fragments", "{ me { unit { ...P } } } fragment P on Unit { parent { ...P } }"),
    bad("unknown fragment", "{ me { ...Nowhere } }"),
    # -- limits ---------------------------------------------------------------------------
    bad("over-deep parent chain", deep(14)),
    bad("over-deep children", CHILDREN_15),
    bad("over-deep through fragments", CHILDREN_VIA_FRAGMENTS),
    bad("31 aliases", ALIASES_31),
    bad("32 aliases through fragments", ALIASES_IN_FRAGMENTS),
    bad("33 aliases: one fragment spread three times", ALIASES_ONE_FRAGMENT_FOUR_TIMES),
    bad("4100 tokens", TOKENS_4100),
    bad("4100 tokens of directives", "{ me " + "@skip(if: false) " * 700 + "{ userId } }"),
    *first_cases(1000),
    *first_cases(-1),
    bad(
        "stuckDays out of range",
        "{ crossLevelTopics(stuckDays: -1) { totalCount } }",
        "STUCK_DAYS_OUT_OF_RANGE",
    ),
    # -- huge strings -----------------------------------------------------------------------
    Case(
        "a 2 MB body",
        BAD,
        query="{ me { userId } }",
        variables={"padding": "x" * 2_000_000},
        rule="REQUEST_TOO_LARGE",
        status=413,
    ),
    bad("a 100 kB title", SUBMIT, "FIELD_TOO_LONG", variables=submission(title="长" * 100_000)),
    bad(
        "a 100 kB description",
        SUBMIT,
        "FIELD_TOO_LONG",
        variables=submission(description="x" * 100_000),
    ),
    bad(
        "a 300 kB search text",
        "query($t: String) { topics(filter: {text: $t}) { totalCount } }",
        "TEXT_TOO_LONG",
        variables={"t": "x" * 300_000},
    ),
    # -- unit codes ---------------------------------------------------------------------------
    *unit_code_cases("abc", "'abc'", "letters"),
    *unit_code_cases("", "''", "empty"),
    *unit_code_cases("62010200100100", "'62010200100100'", "too-long"),
    *unit_code_cases("62\x00", "'62\\0'", "nul"),
    # -- dates --------------------------------------------------------------------------------
    bad("asOf yesterday", f'{{ topic(id: "{TOPIC}", asOf: "yesterday") {{ title }} }}'),
    bad("asOf month 13", f'{{ topic(id: "{TOPIC}", asOf: "2026-13-45T00:00:00Z") {{ title }} }}'),
    bad(
        "asOf without offset",
        f'{{ topic(id: "{TOPIC}", asOf: "2026-03-02T09:30:00") {{ title }} }}',
    ),
    bad(
        "asOf without offset in a variable",
        f'query($at: DateTime) {{ topic(id: "{TOPIC}", asOf: $at) {{ title }} }}',
        variables={"at": "2026-03-02T09:30:00"},
    ),
    bad("asOf a number", f'{{ topic(id: "{TOPIC}", asOf: 1772415000) {{ title }} }}'),
    bad("stats from a bare date", f'{{ stats(unit: "{COUNTY}", from: "2026-03-02") {{ total }} }}'),
    bad(
        "stats from after to",
        f'{{ stats(unit: "{COUNTY}", from: "2026-05-01T00:00:00Z",'
        ' to: "2026-01-01T00:00:00Z") { total } }',
        "DATE_RANGE_INVERTED",
    ),
    Case(
        "stats to the year 9999",
        BAD,
        query=f'{{ stats(unit: "{COUNTY}", to: "9999-12-31T23:59:59Z") {{ total }} }}',
        may_answer=True,
    ),
    Case(
        "stats from the year 1 east of UTC",
        BAD,
        query=f'{{ stats(unit: "{COUNTY}", from: "0001-01-01T00:00:00+14:00") {{ total }} }}',
        may_answer=True,
    ),
    Case(
        "delegation due in the year 1 east of UTC",
        REFUSED,
        query="mutation($i: DelegateTopicInput!) { delegateTopic(input: $i) { position } }",
        variables={
            "i": {
                "topicId": topic("delegate-year-1"),
                "toUnit": TOWNSHIP,
                "instructions": "请街道办理",
                "due": "0001-01-01T00:00:00+14:00",
            }
        },
    ),
    bad(
        "delegation due tomorrow (in words)",
        "mutation($i: DelegateTopicInput!) { delegateTopic(input: $i) { position } }",
        variables={
            "i": {
                "topicId": topic("delegate-tomorrow"),
                "toUnit": TOWNSHIP,
                "instructions": "办理",
                "due": "tomorrow",
            }
        },
    ),
    # -- ids ----------------------------------------------------------------------------------
    bad("topic(id: not-a-uuid)", '{ topic(id: "not-a-uuid") { title } }'),
    bad("timeline(topicId: not-a-uuid)", '{ timeline(topicId: "not-a-uuid") { totalCount } }'),
    bad("node(id: not-a-uuid)", '{ node(id: "not-a-uuid") { id } }'),
    Case(
        "node(id: a Unit id holding a NUL)",
        MISSING,
        query=f'{{ node(id: "{unit_id(chr(0))}") {{ id }} }}',
        may_answer=True,
    ),
    bad(
        "addComment(topicId: not-a-uuid)",
        'mutation { addComment(input: {topicId: "not-a-uuid", text: "x"}) { position } }',
    ),
    bad(
        "mergeTopic(intoTopicId: not-a-uuid)",
        f'mutation {{ mergeTopic(input: {{topicId: "{topic("merge")}", intoTopicId: "zzz",'
        ' reason: "x"}) { position } }',
    ),
    # -- consistentWith -------------------------------------------------------------------------
    *consistency_cases(-1),
    *consistency_cases(2**31 - 1),
    # -- cursors ----------------------------------------------------------------------------------
    bad(
        "topics(after: garbage)", '{ topics(after: "garbage!!") { totalCount } }', "INVALID_CURSOR"
    ),
    bad("inbox(after: garbage)", '{ inbox(after: "xyz") { totalCount } }', "INVALID_CURSOR"),
    bad(
        "crossLevelTopics(after: garbage)",
        '{ crossLevelTopics(after: "%%%") { totalCount } }',
        "INVALID_CURSOR",
    ),
    bad("units(after: garbage)", '{ units(after: "xyz") { totalCount } }', "INVALID_CURSOR"),
    bad(
        "timeline(after: garbage)",
        f'{{ timeline(topicId: "{TOPIC}", after: "xyz") {{ totalCount }} }}',
        "INVALID_CURSOR",
    ),
    bad(
        "Unit.children(after: garbage)",
        '{ me { unit { children(after: "xyz") { totalCount } } } }',
        "INVALID_CURSOR",
    ),
    bad(
        "topics(after: a cursor with a bad time)",
        f'{{ topics(after: "{cursor("topics", "not-a-time", NIL)}") {{ totalCount }} }}',
        "INVALID_CURSOR",
    ),
    bad(
        "units(after: a cursor holding a NUL)",
        f'{{ units(after: "{cursor("units", chr(0))}") {{ totalCount }} }}',
        "INVALID_CURSOR",
    ),
    # -- NUL and unpaired surrogates (PostgreSQL text cannot hold them) ----------------------
    bad(
        "topics(filter: {text: with a NUL})",
        '{ topics(filter: {text: "a\\u0000b"}) { totalCount } }',
    ),
    Case(
        "topics(filter: {category: NUL})",
        BAD,
        query='{ topics(filter: {category: "\\u0000"}) { totalCount } }',
        may_answer=True,
    ),
    bad(
        "a title holding a NUL",
        SUBMIT,
        "FIELD_UNSTORABLE_CHARACTER",
        variables=submission(title="路灯\x00不亮"),
    ),
    bad(
        "a title holding an unpaired surrogate",
        SUBMIT,
        "FIELD_UNSTORABLE_CHARACTER",
        variables=submission(title="路灯\ud800不亮"),
    ),
    Case(
        "stats(unit: an unpaired surrogate)",
        MISSING,
        query="query($u: String!) { stats(unit: $u) { total } }",
        variables={"u": "62\ud800"},
    ),
    # -- not a GraphQL request ------------------------------------------------------------------
    Case("a body that is not JSON", BAD, content=b"{ me { userId } ", status=400),
    Case("an empty body", BAD, content=b"", status=400),
    Case("bytes that are not UTF-8", BAD, content=b"\xff\xfe\x00", status=400),
    Case("a JSON string body", BAD, body="{ me { userId } }"),
    Case("a JSON number body", BAD, body=42),
    Case("a JSON null body", BAD, content=b"null"),
    Case("a JSON true body", BAD, content=b"true"),
    Case("an empty JSON list body (batching is off)", BAD, body=[]),
    Case(
        "a deeply nested JSON body",
        BAD,
        content=b'{"query": "{ me { userId } }", "variables": {"x": '
        + b"[" * 50_000
        + b"]" * 50_000
        + b"}}",
    ),
    Case("no query", BAD, body={}, status=400),
    Case("query is a number", BAD, body={"query": 5}, status=400),
    Case("variables are a list", BAD, body={"query": "{ me { userId } }", "variables": [1]}),
    Case(
        "an unknown operationName",
        BAD,
        query="query A { me { userId } }",
        extra={"operationName": "B"},
        status=400,
    ),
    Case(
        "two queries and no operationName",
        BAD,
        query="query A { me { userId } } query B { me { roles } }",
    ),
    Case(
        "a mutation and a query and no operationName",
        BAD,
        query=(
            'mutation M { submitTopic(input: {title: "两个操作", description: "d", category: "c",'
            f' source: VISIT, locationUnit: "{COUNTY}"}}) {{ position }} }}'
            " query Q { me { userId } }"
        ),
    ),
    Case("text/plain", BAD, content=b'{"query": "{ me { userId } }"}', content_type="text/plain"),
    Case(
        "a form",
        BAD,
        content=b"query=%7B+me+%7B+userId+%7D+%7D",
        content_type="application/x-www-form-urlencoded",
    ),
    Case(
        "application/graphql",
        BAD,
        content=b"{ me { userId } }",
        content_type="application/graphql",
    ),
    Case("a query by GET", BAD, query="{ me { userId } }", method="GET"),
    Case(
        "a mutation by GET",
        BAD,
        query=f'mutation {{ addComment(input: {{topicId: "{NIL}", text: "x"}}) {{ position }} }}',
        method="GET",
    ),
    Case("PUT", BAD, body={"query": "{ me { userId } }"}, method="PUT", status=405),
]


def _id(case: Case) -> str:
    return case.name


def _first_error(body: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(GraphQL errors, problem document) of a response body."""
    if not isinstance(body, dict):
        return [], None
    if "errors" in body:
        return list(body["errors"] or []), None
    if "code" in body and "rule" in body:  # application/problem+json (RFC 9457)
        return [], body
    return [], None


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_bad_input_is_answered_with_a_code(server: Server, case: Case) -> None:
    head = server.head()
    response = case.send(server)
    text = response.text
    assert response.status_code < 500, text[:500]
    assert "Traceback" not in text, text[:2000]
    assert 'File "' not in text, text[:2000]
    if case.status is not None:
        assert response.status_code == case.status, text[:500]
    body = response.json()
    errors, problem = _first_error(body)
    if problem is not None:
        found = [(problem["code"], problem["rule"])]
    else:
        found = [
            ((e.get("extensions") or {}).get("code"), (e.get("extensions") or {}).get("rule"))
            for e in errors
        ]
    if not found:
        assert case.may_answer, f"no error for {case.name}: {text[:500]}"
    else:
        assert all(code and rule for code, rule in found), found
        assert found[0][0] in case.codes, found
        if case.rule is not None:
            assert found[0][1] == case.rule, found
    if not case.may_answer:
        assert server.head() == head, "a refused request recorded an event"
    assert server.answers()


def test_a_2_mb_body_streamed_without_a_length_is_refused(server: Server) -> None:
    head = server.head()

    def chunks() -> Iterator[bytes]:
        yield b'{"query": "{ me { userId } }", "variables": {"padding": "'
        for _ in range(40):
            yield b"x" * 50_000
        yield b'"}}'

    response = server.http.post(
        server.url,
        content=chunks(),
        headers={**server.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["code"], problem["rule"], problem["status"]) == (
        "BAD_INPUT",
        "REQUEST_TOO_LARGE",
        413,
    )
    assert server.head() == head
    assert server.answers()


def test_a_cursor_of_another_list_is_bad_input(server: Server) -> None:
    units = server.http.post(
        server.url,
        json={"query": "{ units(first: 1) { edges { cursor } } }"},
        headers=server.headers,
    ).json()["data"]["units"]["edges"]
    borrowed = units[0]["cursor"]
    for query in (
        "query($c: String) { topics(after: $c) { totalCount } }",
        "query($c: String) { inbox(after: $c) { totalCount } }",
        "query($c: String, $id: ID!) { timeline(topicId: $id, after: $c) { totalCount } }",
    ):
        body = server.http.post(
            server.url,
            json={"query": query, "variables": {"c": borrowed, "id": server.topic_id}},
            headers=server.headers,
        ).json()
        assert [e["extensions"] for e in body["errors"]] == [
            {"code": "BAD_INPUT", "rule": "INVALID_CURSOR"}
        ], query


@pytest.mark.parametrize(
    "query",
    [
        deep(9),  # unit, 9 parents and code: 11 levels
        "{ me { unit { children(first: 10) { edges { node { children(first: 10) { edges { node {"
        " children(first: 10) { edges { node { code } } } } } } } } } } } }",  # 12 levels (and
        # small pages: 100 children of 100 children of 100 would cost too much)
        "{ " + " ".join(f"a{i}: me {{ userId }}" for i in range(30)) + " }",
        "{ topics(first: 100) { totalCount } units(first: 0) { totalCount } }",
        f'{{ stats(unit: "{COUNTY}", consistentWith: 0) {{ total }} }}',
    ],
    ids=["depth 11", "depth 12", "30 aliases", "first 100 and 0", "consistentWith 0"],
)
def test_the_limits_themselves_are_allowed(server: Server, query: str) -> None:
    body = server.http.post(server.url, json={"query": query}, headers=server.headers).json()
    assert "errors" not in body, body


def test_refused_requests_still_report_the_read_models(server: Server) -> None:
    """Every GraphQL response carries `extensions.readModels` (DESIGN §6), those
    refused before execution included."""
    head = server.head()
    for case in CASES:
        if case.name in ("no query", "a body that is not JSON", "text/plain", "a query by GET"):
            body = case.send(server).json()
            assert body.get("extensions", {}).get("readModels") == {
                "position": head,
                "head": head,
                "lag": 0,
            }, (case.name, body)


def test_the_server_still_answers_after_all_of_them(server: Server) -> None:
    for headers in (server.headers, server.live.headers(PROVINCE)):
        body = server.http.post(
            server.url,
            json={
                "query": "query($id: ID!) { topic(id: $id) { title } }",
                "variables": {"id": server.topic_id},
            },
            headers=headers,
        ).json()
        assert body["data"] == {"topic": {"title": MAIN_TITLE}}, body
