"""References, merge targets, unit codes and blank text against an attacker (issue 15,
items 1, 3, 12 and 19), over real HTTP: GraphQL and REST on one live server.

* An `externalRef` is unique per submitting unit: a sibling village sending another
  village's reference gets a new topic of its own, never the hidden one (nor its id),
  and cannot block the owner's later submission; the same unit twice is a duplicate.
* A merge target the caller cannot see is answered exactly as a missing topic.
* A location outside the caller's area reads exactly as an unknown unit code.
* A title of zero-width characters is blank, as one of spaces.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from domain.topic import Role
from tests.e2e.conftest import Live
from tests.utils.factories import (
    COUNTY,
    SIBLING_TOWNSHIP,
    SIBLING_VILLAGE,
    SMALL_HIERARCHY,
    VILLAGE,
    submission,
)
from tests.utils.graphql import GraphQLSession, codes, live_small_slice

SUBMIT = """mutation($i: SubmitTopicInput!) { submitTopic(input: $i) {
  duplicate topic { topicId title locationUnit { code } version } } }"""
MERGE = """mutation($i: MergeTopicInput!) { mergeTopic(input: $i) { topic { topicId stage } } }"""
TAKE_OVER = """mutation($i: TopicReasonInput!) { takeOverTopic(input: $i) { position } }"""
UNKNOWN_UNIT = "620102001999"
NAMES = {r.code: r.name for r in SMALL_HIERARCHY}
INVISIBLE = ["\u200b\u200b\u200b", "\u200c\u200d", "\u2060\ufeff", " \u200b\u3000\u200b "]


@dataclass
class World:
    live: Live
    http: httpx.Client
    sessions: dict[tuple[str, Role], GraphQLSession] = field(default_factory=dict)

    def gql(self, unit: str, role: Role = Role.STAFF) -> GraphQLSession:
        if (unit, role) not in self.sessions:
            self.sessions[unit, role] = GraphQLSession(self.live.url, self.live.headers(unit, role))
        return self.sessions[unit, role]

    def rest(self, unit: str, path: str, body: Any, role: Role = Role.STAFF) -> httpx.Response:
        return self.http.post(path, json=body, headers=self.live.headers(unit, role))

    def submit(self, unit: str, location: str, role: Role = Role.STAFF, **extra: Any) -> Any:
        payload = self.gql(unit, role).run(SUBMIT, i=submit_input(location, **extra))
        return payload["submitTopic"]

    def head(self) -> int:
        return self.live.server.state.runtime.app.head_position()


def submit_input(location: str, **overrides: Any) -> dict[str, Any]:
    values = submission(location)
    body = {
        "title": values["title"],
        "description": values["description"],
        "category": values["category"],
        "source": values["source"],
        "locationUnit": location,
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
def world(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with (
        live_small_slice(pg_admin, tmp_path_factory.mktemp("refs") / "home") as live,
        httpx.Client(base_url=f"{live.url}/api/v1", timeout=30) as http,
    ):
        built = World(live, http)
        try:
            yield built
        finally:
            for session in built.sessions.values():
                session.close()


def _message(error: Any) -> str:
    return str((error.errors or [{}])[0]["message"])


# -- item 1: externalRef ------------------------------------------------------------------


def test_a_sibling_villages_reference_over_graphql_is_a_new_topic_not_the_hidden_one(
    world: World,
) -> None:
    ref = "12345-20261201-000101"
    mine = world.submit(VILLAGE, VILLAGE, Role.INTAKE, externalRef=ref, title="畅家巷路灯不亮")

    theirs = world.submit(
        SIBLING_VILLAGE, SIBLING_VILLAGE, Role.INTAKE, externalRef=ref, title="张家园积水"
    )

    assert theirs["duplicate"] is False
    assert theirs["topic"]["topicId"] != mine["topic"]["topicId"]
    assert theirs["topic"]["title"] == "张家园积水"
    assert theirs["topic"]["locationUnit"]["code"] == SIBLING_VILLAGE
    # the hidden topic stays hidden and untouched
    hidden = world.gql(SIBLING_VILLAGE).run(
        "query($id: ID!) { topic(id: $id) { topicId } }", id=mine["topic"]["topicId"]
    )
    assert hidden["topic"] is None
    again = world.submit(VILLAGE, VILLAGE, Role.INTAKE, externalRef=ref)
    assert again["duplicate"] is True
    assert again["topic"] == mine["topic"]  # version 1: nothing was written into it


def test_a_sibling_villages_reference_over_rest_never_returns_the_hidden_topics_id(
    world: World,
) -> None:
    ref, batch_ref = "12345-20261201-000202", "12345-20261201-000203"
    body = submit_input(VILLAGE, externalRef=ref)
    mine = world.rest(VILLAGE, "/topics", body, Role.INTAKE)
    batch = world.rest(
        VILLAGE, "/topics:batch", {"items": [submit_input(VILLAGE, externalRef=batch_ref)]}
    )
    assert (mine.status_code, batch.status_code) == (201, 200), mine.text + batch.text
    hidden = {mine.json()["topicId"], batch.json()["results"][0]["topicId"]}

    single = world.rest(
        SIBLING_VILLAGE, "/topics", submit_input(SIBLING_VILLAGE, externalRef=ref), Role.INTAKE
    )
    items = [submit_input(SIBLING_VILLAGE, externalRef=r) for r in (ref, batch_ref, batch_ref)]
    many = world.rest(SIBLING_VILLAGE, "/topics:batch", {"items": items}, Role.INTAKE)

    assert single.status_code == 201, single.text
    assert single.json()["duplicate"] is False
    assert many.status_code == 200, many.text
    results = many.json()["results"]
    assert [r["status"] for r in results] == ["DUPLICATE", "CREATED", "DUPLICATE"]
    assert results[0]["topicId"] == single.json()["topicId"]  # its own, found again
    assert results[2]["topicId"] == results[1]["topicId"]
    for answer in (single, many):
        for topic_id in hidden:
            assert topic_id not in answer.text


def test_guessed_references_neither_locate_nor_block_another_areas_appeals(
    world: World,
) -> None:
    """The attack of the issue: an intake token posts guessed sequential references
    before the real appeals arrive from their own area."""
    refs = [f"12345-20261202-{n:06d}" for n in range(1, 6)]
    guesses = [submit_input(SIBLING_VILLAGE, externalRef=r) for r in refs]
    squatted = world.rest(SIBLING_VILLAGE, "/topics:batch", {"items": guesses}, Role.INTAKE)
    assert {r["status"] for r in squatted.json()["results"]} == {"CREATED"}

    real = [submit_input(VILLAGE, externalRef=r) for r in refs]
    answer = world.rest(VILLAGE, "/topics:batch", {"items": real}, Role.INTAKE).json()

    assert {r["status"] for r in answer["results"]} == {"CREATED"}
    squatters = {r["topicId"] for r in squatted.json()["results"]}
    assert squatters.isdisjoint(r["topicId"] for r in answer["results"])


def test_the_same_reference_from_the_same_unit_is_a_duplicate_on_both_protocols(
    world: World,
) -> None:
    ref = "12345-20261201-000303"
    first = world.rest(COUNTY, "/topics", submit_input(VILLAGE, externalRef=ref), Role.INTAKE)
    head = world.head()
    again = world.rest(COUNTY, "/topics", submit_input(VILLAGE, externalRef=ref), Role.INTAKE)
    batch = world.rest(
        COUNTY, "/topics:batch", {"items": [submit_input(VILLAGE, externalRef=ref)]}, Role.INTAKE
    )
    graphql = world.submit(COUNTY, VILLAGE, Role.INTAKE, externalRef=ref)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True
    assert again.json()["topicId"] == first.json()["topicId"]
    assert batch.json()["results"][0]["status"] == "DUPLICATE"
    assert batch.json()["results"][0]["topicId"] == first.json()["topicId"]
    assert graphql["duplicate"] is True
    assert graphql["topic"]["version"] == 1
    assert world.head() == head


# -- item 3: merge targets -----------------------------------------------------------------


@pytest.fixture(scope="module")
def hidden_target(world: World) -> str:
    """A topic owned by COUNTY but located in SIBLING_TOWNSHIP: VILLAGE cannot see it,
    though it is held by VILLAGE's ancestor."""
    topic_id: str = world.submit(COUNTY, SIBLING_TOWNSHIP)["topic"]["topicId"]
    world.gql(COUNTY, Role.LEADER).run(TAKE_OVER, i={"topicId": topic_id, "reason": "区里统筹"})
    return topic_id


def test_merging_into_a_hidden_ancestors_topic_over_graphql_reads_as_a_missing_topic(
    world: World, hidden_target: str
) -> None:
    source = world.submit(VILLAGE, VILLAGE)["topic"]["topicId"]
    missing = str(uuid.uuid4())
    head = world.head()

    hidden = world.gql(VILLAGE).refusal(
        MERGE, i={"topicId": source, "intoTopicId": hidden_target, "reason": "同一诉求"}
    )
    unknown = world.gql(VILLAGE).refusal(
        MERGE, i={"topicId": source, "intoTopicId": missing, "reason": "同一诉求"}
    )

    assert codes(hidden) == codes(unknown) == [("NOT_FOUND", "TOPIC_NOT_FOUND")]
    assert _message(hidden).replace(hidden_target, "?") == _message(unknown).replace(missing, "?")
    assert world.head() == head


def test_merging_into_a_hidden_ancestors_topic_over_rest_reads_as_a_missing_topic(
    world: World, hidden_target: str
) -> None:
    source = world.submit(VILLAGE, VILLAGE)["topic"]["topicId"]
    missing = str(uuid.uuid4())
    head = world.head()

    hidden = world.rest(
        VILLAGE, f"/topics/{source}/merge", {"intoTopicId": hidden_target, "reason": "同一诉求"}
    )
    unknown = world.rest(
        VILLAGE, f"/topics/{source}/merge", {"intoTopicId": missing, "reason": "同一诉求"}
    )

    assert (hidden.status_code, unknown.status_code) == (404, 404)
    assert hidden.json()["rule"] == unknown.json()["rule"] == "TOPIC_NOT_FOUND"
    assert hidden.json()["detail"].replace(hidden_target, "?") == unknown.json()["detail"].replace(
        missing, "?"
    )
    assert world.head() == head


# -- item 12: unit codes out of reach ------------------------------------------------------


def test_a_location_outside_the_area_reads_as_an_unknown_code_on_both_protocols(
    world: World,
) -> None:
    outside = world.gql(VILLAGE).refusal(SUBMIT, i=submit_input(SIBLING_VILLAGE))
    unknown = world.gql(VILLAGE).refusal(SUBMIT, i=submit_input(UNKNOWN_UNIT))
    assert codes(outside) == codes(unknown) == [("NOT_FOUND", "UNIT_NOT_FOUND")]
    assert _message(outside).replace(SIBLING_VILLAGE, "?") == _message(unknown).replace(
        UNKNOWN_UNIT, "?"
    )
    assert NAMES[SIBLING_VILLAGE] not in _message(outside)

    rest_outside = world.rest(VILLAGE, "/topics", submit_input(SIBLING_VILLAGE))
    rest_unknown = world.rest(VILLAGE, "/topics", submit_input(UNKNOWN_UNIT))
    assert (rest_outside.status_code, rest_unknown.status_code) == (404, 404)
    problems = [rest_outside.json(), rest_unknown.json()]
    assert [(p["code"], p["rule"]) for p in problems] == [("NOT_FOUND", "UNIT_NOT_FOUND")] * 2
    assert problems[0]["detail"].replace(SIBLING_VILLAGE, "?") == problems[1]["detail"].replace(
        UNKNOWN_UNIT, "?"
    )
    assert NAMES[SIBLING_VILLAGE] not in rest_outside.text


# -- item 19: invisible text ---------------------------------------------------------------


@pytest.mark.parametrize("title", INVISIBLE, ids=lambda t: "+".join(f"U{ord(c):04X}" for c in t))
def test_a_title_of_invisible_characters_is_blank_on_both_protocols(
    world: World, title: str
) -> None:
    head = world.head()
    graphql = world.gql(VILLAGE).refusal(SUBMIT, i=submit_input(VILLAGE, title=title))
    rest = world.rest(VILLAGE, "/topics", submit_input(VILLAGE, title=title))
    spaces = world.rest(VILLAGE, "/topics", submit_input(VILLAGE, title="   "))

    assert codes(graphql) == [("BAD_INPUT", "FIELD_REQUIRED")]
    assert "title must not be blank" in _message(graphql)
    assert rest.status_code == spaces.status_code == 400
    assert (rest.json()["rule"], rest.json()["detail"]) == (
        spaces.json()["rule"],
        spaces.json()["detail"],
    )
    assert world.head() == head
