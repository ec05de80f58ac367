"""Tokens, idempotency keys and body limits against an attacker (issue 15, items 7, 11,
13, 14 and 16): over real HTTP on a live server, and the real `linkage` command."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from api.app import MAX_BODY_BYTES
from api.auth import ALGORITHM
from domain.topic import Role
from infra.bootstrap import build_runtime
from infra.database import Database
from infra.secret import signing_secret
from infra.settings import Settings
from tests.e2e.conftest import Live
from tests.utils.factories import (
    COUNTY,
    FAR_TOWNSHIP,
    FAR_VILLAGE,
    SMALL_HIERARCHY,
    VILLAGE,
    submission,
)
from tests.utils.graphql import live_small_slice
from tests.utils.units import load_units

PROBLEM_JSON = "application/problem+json"
ME = "{ me { userId unit { code } } }"
TOPICS = "{ topics(first: 5) { totalCount } }"
COMMENT = """mutation($i: CommentInput!) {
  addComment(input: $i) { position topic { topicId version } } }"""


@dataclass
class Server:
    live: Live
    http: httpx.Client
    topic_id: str  # submitted by VILLAGE

    def rest(self, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        method = "GET" if path.startswith("/audit") else "POST"
        return self.http.request(method, f"{self.live.url}/api/v1{path}", headers=headers, **kwargs)

    def graphql(
        self, query: str, token: str, headers: dict[str, str] | None = None, **variables: Any
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query, "variables": variables}
        sent = {"Authorization": f"Bearer {token}", **(headers or {})}
        return self.http.post(f"{self.live.url}/graphql", json=body, headers=sent)

    def signed(self, claims: dict[str, Any]) -> str:
        """A token signed with the server's own key: valid, whatever its claims hold."""
        secret = signing_secret(self.live.server.state.runtime.settings)
        return jwt.encode(claims, secret, algorithm=ALGORITHM)

    def comments(self, text: str) -> int:
        app = self.live.server.state.runtime.app
        events = app.events_of(uuid.UUID(self.topic_id))
        return [getattr(e, "text", None) for e in events].count(text)


@pytest.fixture(scope="module")
def server(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with (
        live_small_slice(pg_admin, tmp_path_factory.mktemp("sec-auth") / "home") as live,
        httpx.Client(timeout=60) as http,
    ):
        created = http.post(
            f"{live.url}/api/v1/topics", json=_submission(VILLAGE), headers=live.headers(VILLAGE)
        )
        assert created.status_code == 201, created.text
        yield Server(live, http, str(created.json()["topicId"]))


def _submission(location: str) -> dict[str, Any]:
    values = submission(title="路灯不亮")
    return {
        "title": values["title"],
        "description": values["description"],
        "category": values["category"],
        "source": values["source"],
        "locationUnit": location,
    }


def _problem(response: httpx.Response, status: int, code: str, rule: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert (body["code"], body["rule"], body["status"]) == (code, rule, status)
    return str(body["detail"])


def _graphql_error(response: httpx.Response) -> tuple[str, str, str]:
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    extensions = errors[0]["extensions"]
    return extensions["code"], extensions["rule"], errors[0]["message"]


# -- 7: a validly signed token with claims of the wrong type ---------------------------


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "linkage",
        "sub": "li.ming",
        "unit": VILLAGE,
        "roles": ["STAFF"],
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
    }
    for name, value in changes.items():
        if value is MISSING:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


MISSING = object()
IN_AN_HOUR = str(int(time.time()) + 3600)
WRONG_CLAIMS = [
    pytest.param("exp", IN_AN_HOUR, id="exp a numeric string"),
    pytest.param("exp", 10**20, id="exp beyond any calendar"),
    pytest.param("exp", float(IN_AN_HOUR), id="exp a float"),
    pytest.param("iat", str(int(time.time())), id="iat a numeric string"),
    pytest.param("iat", True, id="iat a boolean"),
    pytest.param("roles", "STAFF", id="roles a string"),
    pytest.param("roles", {"STAFF": True}, id="roles an object"),
    pytest.param("roles", [["STAFF"]], id="roles a nested list"),
    pytest.param("roles", MISSING, id="roles missing"),
    pytest.param("unit", int(VILLAGE), id="unit a number"),
    pytest.param("unit", MISSING, id="unit missing"),
    pytest.param("sub", ["li.ming"], id="sub a list"),
    pytest.param("sub", MISSING, id="sub missing"),
    pytest.param("jti", 7, id="jti a number"),
]


@pytest.mark.parametrize(("claim", "value"), WRONG_CLAIMS)
def test_a_signed_token_with_a_claim_of_the_wrong_type_is_refused_naming_it_everywhere(
    server: Server, claim: str, value: object
) -> None:
    token = server.signed(_claims(**{claim: value}))

    write = server.rest(f"/topics/{server.topic_id}/comments", token, json={"text": "评论"})
    read = server.rest("/audit/export", token, params={"unit": VILLAGE})
    query = server.graphql(ME, token)
    mutation = server.graphql(COMMENT, token, i={"topicId": server.topic_id, "text": "评论"})

    for response in (write, read):
        detail = _problem(response, 401, "UNAUTHENTICATED", "TOKEN_INVALID")
        assert f"'{claim}'" in detail or f'"{claim}"' in detail, detail
    for response in (query, mutation):
        code, rule, message = _graphql_error(response)
        assert (code, rule) == ("UNAUTHENTICATED", "TOKEN_INVALID")
        assert f"'{claim}'" in message or f'"{claim}"' in message, message
    assert server.comments("评论") == 0


def test_a_refused_claim_leaves_the_keep_alive_connection_open(server: Server) -> None:
    bad = server.signed(_claims(exp=IN_AN_HOUR))
    good = server.live.token(VILLAGE)
    host, port = server.live.url.removeprefix("http://").split(":")

    with socket.create_connection((host, int(port)), timeout=30) as conn:
        first = _exchange(conn, host, bad)
        second = _exchange(conn, host, good)  # the same connection, still open

    assert first[0] == 200  # GraphQL answers a refusal as an error of the answer
    assert json.loads(first[1])["errors"][0]["extensions"]["rule"] == "TOKEN_INVALID"
    assert second[0] == 200
    assert json.loads(second[1])["data"]["me"]["unit"]["code"] == VILLAGE


def _exchange(conn: socket.socket, host: str, token: str) -> tuple[int, bytes]:
    """One HTTP/1.1 request on an open connection, and its answer (status, body)."""
    body = json.dumps({"query": ME}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    conn.sendall(head.encode() + body)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(65536)
        assert chunk, "the server closed the connection"
        received += chunk
    header, _, rest = received.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert fields.get("connection") != "close", lines
    length = int(fields["content-length"])
    while len(rest) < length:
        chunk = conn.recv(65536)
        assert chunk, "the server closed the connection"
        rest += chunk
    return int(lines[0].split()[1]), rest[:length]


# -- 11: idempotency keys are scoped to user, unit, roles and route ---------------------


def test_a_rest_idempotency_key_replays_only_to_the_same_user_unit_and_roles(
    server: Server,
) -> None:
    live, user, key = server.live, f"u-{uuid.uuid4().hex[:8]}", f"k-{uuid.uuid4()}"
    text = f"只记一次 {key}"
    path, body = f"/topics/{server.topic_id}/comments", {"text": text}

    def post(unit: str, *roles: Role) -> httpx.Response:
        token = live.token(unit, *roles, user=user)
        return server.rest(path, token, json=body, headers={"Idempotency-Key": key})

    first = post(VILLAGE, Role.STAFF, Role.LEADER)
    same_roles_reordered = post(VILLAGE, Role.LEADER, Role.STAFF)
    other_unit = post(COUNTY, Role.STAFF, Role.LEADER)
    other_roles = post(VILLAGE, Role.STAFF)
    auditor = post(VILLAGE, Role.AUDITOR)

    assert first.status_code == 200, first.text
    assert same_roles_reordered.headers.get("Idempotent-Replayed") == "true"
    assert same_roles_reordered.content == first.content
    for fresh in (other_unit, other_roles):
        assert fresh.status_code == 200, fresh.text
        assert "Idempotent-Replayed" not in fresh.headers
        assert fresh.json()["position"] != first.json()["position"]
    _problem(auditor, 403, "FORBIDDEN", auditor.json()["rule"])  # judged, not replayed
    assert "Idempotent-Replayed" not in auditor.headers
    assert server.comments(text) == 3  # the first, the county's, the staff-only one


def test_a_graphql_idempotency_key_replays_only_to_the_same_scope_and_never_across_protocols(
    server: Server,
) -> None:
    live, user, key = server.live, f"u-{uuid.uuid4().hex[:8]}", f"k-{uuid.uuid4()}"
    text = f"只记一次 {key}"
    variables = {"topicId": server.topic_id, "text": text}
    sent = {"Idempotency-Key": key}

    def mutate(unit: str, *roles: Role) -> httpx.Response:
        return server.graphql(COMMENT, live.token(unit, *roles, user=user), sent, i=variables)

    first = mutate(VILLAGE, Role.STAFF)
    again = mutate(VILLAGE, Role.STAFF)
    other_unit = mutate(COUNTY, Role.STAFF)
    auditor = mutate(VILLAGE, Role.AUDITOR)
    over_rest = server.rest(
        f"/topics/{server.topic_id}/comments",
        live.token(VILLAGE, Role.STAFF, user=user),
        json={"text": text},
        headers=sent,
    )

    assert "errors" not in first.json(), first.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["data"] == first.json()["data"]
    assert "errors" not in other_unit.json(), other_unit.text
    assert "Idempotent-Replayed" not in other_unit.headers
    assert _graphql_error(auditor)[0] == "FORBIDDEN"
    assert "Idempotent-Replayed" not in auditor.headers
    assert over_rest.status_code == 200, over_rest.text  # REST's keys are its own
    assert "Idempotent-Replayed" not in over_rest.headers
    assert server.comments(text) == 3


# -- 13: a token of a retired or unknown unit -------------------------------------------


def test_a_token_of_a_unit_retired_after_it_was_issued_is_refused_on_every_read_and_write(
    server: Server,
) -> None:
    live = server.live
    staff, auditor = live.token(FAR_VILLAGE), live.token(FAR_VILLAGE, Role.AUDITOR)
    own = server.rest("/topics", staff, json=_submission(FAR_VILLAGE))
    assert own.status_code == 201, own.text
    assert server.graphql(ME, staff).json()["data"]["me"]["unit"]["code"] == FAR_VILLAGE
    topic = own.json()["topicId"]

    load_units(live.server.state.runtime, [r for r in SMALL_HIERARCHY if r.code != FAR_VILLAGE])

    refusals = [
        server.rest(f"/topics/{topic}/comments", staff, json={"text": "退役后"}),
        server.rest("/topics", staff, json=_submission(FAR_TOWNSHIP)),
        server.rest("/audit/export", auditor, params={"unit": FAR_VILLAGE}),
    ]
    for response in refusals:
        detail = _problem(response, 401, "UNAUTHENTICATED", "TOKEN_UNIT_RETIRED")
        assert f"{FAR_VILLAGE} (下西园社区居委会)" in detail, detail
        assert "retired" in detail
    for query, variables in [
        (ME, {}),
        (TOPICS, {}),
        (COMMENT, {"i": {"topicId": topic, "text": "退役后"}}),
    ]:
        code, rule, message = _graphql_error(server.graphql(query, staff, **variables))
        assert (code, rule) == ("UNAUTHENTICATED", "TOKEN_UNIT_RETIRED")
        assert FAR_VILLAGE in message
    # the parent and its tokens are untouched
    assert server.graphql(ME, live.token(FAR_TOWNSHIP)).json()["data"]["me"] is not None


def test_a_token_of_a_unit_not_in_the_hierarchy_is_refused_on_both_protocols(
    server: Server,
) -> None:
    token = server.live.token("629999")

    detail = _problem(
        server.rest(f"/topics/{server.topic_id}/comments", token, json={"text": "无"}),
        401,
        "UNAUTHENTICATED",
        "TOKEN_UNIT_UNKNOWN",
    )
    code, rule, message = _graphql_error(server.graphql(ME, token))

    assert "'629999'" in detail
    assert (code, rule) == ("UNAUTHENTICATED", "TOKEN_UNIT_UNKNOWN")
    assert message == detail


# -- 16: a streamed body over the limit ---------------------------------------------------


def _chunked(size: int) -> Iterator[bytes]:
    """A JSON body of `size` bytes or more, sent in 64 KB chunks with no length."""
    yield b'{"text": "'
    for _ in range(size // 65536 + 1):
        yield b"x" * 65536
    yield b'"}'


@pytest.mark.parametrize("path", ["/api/v1/topics", "/graphql"])
def test_a_chunked_body_over_the_limit_is_refused_with_413(server: Server, path: str) -> None:
    headers = {**server.live.headers(VILLAGE), "Content-Type": "application/json"}

    response = server.http.post(
        server.live.url + path, content=_chunked(2_000_000), headers=headers
    )

    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    detail = _problem(response, 413, "BAD_INPUT", "REQUEST_TOO_LARGE")
    assert f"the limit is {MAX_BODY_BYTES:,}" in detail
    assert MAX_BODY_BYTES == 1_000_000


def test_a_chunked_body_within_the_limit_is_answered_as_usual(server: Server) -> None:
    body = json.dumps(_submission(VILLAGE)).encode()
    headers = {**server.live.headers(VILLAGE), "Content-Type": "application/json"}

    def pieces() -> Iterator[bytes]:
        yield from (body[i : i + 7] for i in range(0, len(body), 7))

    response = server.http.post(
        f"{server.live.url}/api/v1/topics", content=pieces(), headers=headers
    )

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 201, response.text


# -- 13 and 14: `linkage token issue` ------------------------------------------------------


SECRET = "a-test-signing-secret-of-32-chars-or-more"


def _linkage(database: Database, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LINKAGE_DATABASE_URL": database.conninfo_url,
        "LINKAGE_HOME": str(home),
        "LINKAGE_SECRET": SECRET,
    }
    return subprocess.run(
        [sys.executable, "-m", "api.entry.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_token_issue_refuses_a_retired_unit_in_one_line(database: Database, tmp_path: Path) -> None:
    settings = Settings.from_env({"LINKAGE_HOME": str(tmp_path / "setup")})
    with build_runtime(database, settings) as runtime:
        load_units(runtime, SMALL_HIERARCHY)
        load_units(runtime, [r for r in SMALL_HIERARCHY if r.code != FAR_VILLAGE])

    retired = _linkage(
        database, tmp_path, "token", "issue", "--unit", FAR_VILLAGE, "--role", "staff"
    )
    active = _linkage(
        database, tmp_path, "token", "issue", "--unit", FAR_TOWNSHIP, "--role", "staff"
    )

    assert retired.returncode == 1
    assert retired.stdout == ""
    assert retired.stderr == (
        f"linkage: error: UNIT_RETIRED: unit {FAR_VILLAGE} (下西园社区居委会) was retired by a "
        "hierarchy import; a token is issued only for an active unit\n"
    )
    assert active.returncode == 0, active.stderr
    assert active.stdout.count(".") == 2  # one JWT


@pytest.mark.parametrize(
    ("ttl", "shown"),
    [
        pytest.param("99999999999d", "'99999999999d'", id="beyond any calendar"),
        pytest.param("31d", "'31d'", id="a day too long"),
        pytest.param("2592001s", "'2592001s'", id="a second too long"),
        pytest.param("0s", "'0s'", id="no time at all"),
    ],
)
def test_token_issue_with_a_lifetime_out_of_range_is_a_one_line_usage_error(
    database: Database, tmp_path: Path, ttl: str, shown: str
) -> None:
    done = _linkage(
        database, tmp_path, "token", "issue", "--unit", "62", "--role", "staff", "--ttl", ttl
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"linkage: error: TOKEN_TTL_OUT_OF_RANGE: --ttl {shown} is out of range: "
        "a token lives between 1 s and 30 days (30d)\n"
    )
