"""What involvement grants once it ended (issue 15), over real HTTP and GraphQL.

One scenario, built through mutations by the units entitled to them:

* HELD — submitted at TOWNSHIP, delegated to VILLAGE and accepted, escalated back
  to TOWNSHIP and accepted: VILLAGE is a former holder. SIBLING_TOWNSHIP is invited
  as co-organiser. TOWNSHIP comments after VILLAGE left.
* REFUSED — submitted at TOWNSHIP, delegated to SIBLING_VILLAGE, which returns it.
* FED — COUNTY's own topic (located at COUNTY); VILLAGE merges its topic into it.
* FED_BELOW — COUNTY's topic located at TOWNSHIP; a topic of SIBLING_VILLAGE,
  escalated to TOWNSHIP, is merged into it by TOWNSHIP: SIBLING_VILLAGE is the
  merged topic's location, not the unit that merged it.

An ended involvement (former holder, refuser, merged topic's location and owner)
reads the topic and its whole timeline but may not comment (FORBIDDEN /
INVOLVEMENT_ENDED); a current one comments; a unit never involved is answered
exactly as for a random id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from psycopg import sql

from tests.e2e.conftest import Live
from tests.utils.factories import (
    COUNTY,
    COUSIN_VILLAGE,
    SIBLING_TOWNSHIP,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
)
from tests.utils.graphql import GraphQLSession, codes, live_small_slice
from tests.utils.views import read_model_tables

COMMAND = "mutation($input: {type}!) {{ {name}(input: $input) {{ position topic {{ topicId }} }} }}"
TOPIC = "query($id: ID!, $p: Int) { topic(id: $id, consistentWith: $p) { topicId stage } }"
# the root `timeline` and, to wait for the read models, the topic's nested one
TIMELINE = (
    "query($id: ID!) { timeline(topicId: $id, first: 100) {"
    " totalCount edges { node { type actor { unit { code } } } } } }"
)
NESTED_TIMELINE = (
    "query($id: ID!, $p: Int) { topic(id: $id, consistentWith: $p) {"
    " timeline(first: 100) { totalCount edges { node { type actor { unit { code } } } } } } }"
)
INVOLVED = (
    "query($p: Int) { topics(filter: {scope: INVOLVED}, first: 100, consistentWith: $p)"
    " { edges { node { topicId } } } }"
)
COMMENT = "addComment"


@dataclass
class Scenario:
    live: Live
    ids: dict[str, str] = field(default_factory=dict)
    position: int = 0
    sessions: dict[str, GraphQLSession] = field(default_factory=dict)

    def session(self, unit: str) -> GraphQLSession:
        if unit not in self.sessions:
            self.sessions[unit] = GraphQLSession(self.live.url, self.live.headers(unit))
        return self.sessions[unit]

    def command(self, by: str, name: str, type_: str, **input_: Any) -> dict[str, Any]:
        query = COMMAND.format(name=name, type=type_)
        payload: dict[str, Any] = self.session(by).run(query, input=input_)[name]
        self.position = max(self.position, payload["position"])
        return payload

    def submit(self, unit: str, location: str, title: str) -> str:
        payload = self.command(
            unit,
            "submitTopic",
            "SubmitTopicInput",
            title=title,
            description=f"{title}：居民多次反映，请协商解决。",
            category="城市管理",
            source="HOTLINE_12345",
            locationUnit=location,
        )
        topic_id: str = payload["topic"]["topicId"]
        return topic_id

    def topic(self, unit: str, nickname: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.session(unit).run(
            TOPIC, id=self.ids[nickname], p=self.position
        )["topic"]
        return found

    def timeline(self, unit: str, nickname: str) -> list[tuple[str, str]]:
        """The topic's timeline as `unit` reads it, once the read models caught up;
        the root `timeline` query must answer the same."""
        tid, session = self.ids[nickname], self.session(unit)
        nested = session.run(NESTED_TIMELINE, id=tid, p=self.position)["topic"]["timeline"]
        page = session.run(TIMELINE, id=tid)["timeline"]
        assert page == nested
        assert page["totalCount"] == len(page["edges"])
        return [(e["node"]["type"], e["node"]["actor"]["unit"]["code"]) for e in page["edges"]]

    def comment_refusal(self, unit: str, topic_id: str) -> Any:
        query = COMMAND.format(name=COMMENT, type="CommentInput")
        return self.session(unit).refusal(query, input={"topicId": topic_id, "text": "留言"})

    def head(self) -> int:
        return self.live.server.state.runtime.app.head_position()

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()


def build(s: Scenario) -> None:
    held = s.ids["held"] = s.submit(TOWNSHIP, TOWNSHIP, "酒泉路街道背街小巷路灯不亮")
    s.command(
        TOWNSHIP,
        "delegateTopic",
        "DelegateTopicInput",
        topicId=held,
        toUnit=VILLAGE,
        instructions="请社区先行摸排",
    )
    s.command(VILLAGE, "acceptTransfer", "TopicNoteInput", topicId=held)
    s.command(VILLAGE, "escalateTopic", "EscalateTopicInput", topicId=held, reason="需街道协调")
    s.command(TOWNSHIP, "acceptTransfer", "TopicNoteInput", topicId=held)
    s.command(
        TOWNSHIP, "inviteCoOrganizer", "InviteCoOrganizerInput", topicId=held, unit=SIBLING_TOWNSHIP
    )
    s.command(TOWNSHIP, COMMENT, "CommentInput", topicId=held, text="街道已联系供电所")

    refused = s.ids["refused"] = s.submit(TOWNSHIP, TOWNSHIP, "酒泉路街道农贸市场占道经营")
    s.command(
        TOWNSHIP,
        "delegateTopic",
        "DelegateTopicInput",
        topicId=refused,
        toUnit=SIBLING_VILLAGE,
        instructions="请社区办理",
    )
    s.command(
        SIBLING_VILLAGE, "returnTransfer", "TopicReasonInput", topicId=refused, reason="不在辖区"
    )
    s.command(TOWNSHIP, COMMENT, "CommentInput", topicId=refused, text="街道另行安排")

    fed = s.ids["fed"] = s.submit(COUNTY, COUNTY, "城关区老旧小区二次供水改造")
    # a merge target must be visible: VILLAGE sees `fed` while COUNTY's delegation of it
    # is pending, and COUNTY cancels it after the merge (the merge is all that is left)
    s.command(
        COUNTY,
        "delegateTopic",
        "DelegateTopicInput",
        topicId=fed,
        toUnit=VILLAGE,
        instructions="请核实",
    )
    source = s.ids["source"] = s.submit(VILLAGE, VILLAGE, "畅家巷6号楼二次供水水压不足")
    s.command(
        VILLAGE, "mergeTopic", "MergeTopicInput", topicId=source, intoTopicId=fed, reason="同一诉求"
    )
    s.command(COUNTY, "cancelTransfer", "TopicReasonInput", topicId=fed, reason="区里统筹")
    s.command(COUNTY, COMMENT, "CommentInput", topicId=fed, text="区里统一改造")

    below = s.ids["fed_below"] = s.submit(COUNTY, TOWNSHIP, "酒泉路街道供暖管网改造")
    fed_in = s.ids["source_below"] = s.submit(
        SIBLING_VILLAGE, SIBLING_VILLAGE, "张家园小区暖气不热"
    )
    s.command(
        SIBLING_VILLAGE, "escalateTopic", "EscalateTopicInput", topicId=fed_in, reason="需街道"
    )
    s.command(TOWNSHIP, "acceptTransfer", "TopicNoteInput", topicId=fed_in)
    s.command(
        TOWNSHIP,
        "mergeTopic",
        "MergeTopicInput",
        topicId=fed_in,
        intoTopicId=below,
        reason="同属供暖管网",
    )


@pytest.fixture(scope="module")
def scenario(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    with live_small_slice(pg_admin, tmp_path_factory.mktemp("involvement") / "home") as live:
        built = Scenario(live)
        try:
            build(built)
            yield built
        finally:
            built.close()


def assert_comment_refused_as_ended(s: Scenario, unit: str, nickname: str, event: str) -> None:
    head = s.head()
    refused = s.comment_refusal(unit, s.ids[nickname])
    assert codes(refused) == [("FORBIDDEN", "INVOLVEMENT_ENDED")]
    message = (refused.errors or [{}])[0]["message"]
    for named in (unit, s.ids[nickname], event, "no longer comment"):
        assert named in message, message
    assert refused.data is None
    assert s.head() == head, "a refused comment recorded an event"


# -- (a) involvement that ended: read-only ----------------------------------------------


def test_a_former_holder_reads_the_topic_and_its_later_events_but_may_not_comment(
    scenario: Scenario,
) -> None:
    s = scenario
    assert s.topic(VILLAGE, "held") == {"topicId": s.ids["held"], "stage": "COLLECTED"}
    timeline = s.timeline(VILLAGE, "held")
    assert timeline[-2:] == [("CoOrganizerInvited", TOWNSHIP), ("CommentAdded", TOWNSHIP)]
    assert_comment_refused_as_ended(s, VILLAGE, "held", "TransferAccepted")


def test_a_unit_that_returned_a_transfer_reads_the_topic_but_may_not_comment(
    scenario: Scenario,
) -> None:
    s = scenario
    assert s.topic(SIBLING_VILLAGE, "refused") == {
        "topicId": s.ids["refused"],
        "stage": "COLLECTED",
    }
    timeline = s.timeline(SIBLING_VILLAGE, "refused")
    assert [t for t, _ in timeline] == [
        "TopicSubmitted",
        "DelegationRequested",
        "TransferReturned",
        "CommentAdded",
    ]
    listed = s.session(SIBLING_VILLAGE).run(INVOLVED, p=s.position)["topics"]["edges"]
    assert s.ids["refused"] in {e["node"]["topicId"] for e in listed}
    assert_comment_refused_as_ended(s, SIBLING_VILLAGE, "refused", "TransferReturned")


def test_a_current_co_organiser_still_comments(scenario: Scenario) -> None:
    s = scenario
    payload = s.command(
        SIBLING_TOWNSHIP, COMMENT, "CommentInput", topicId=s.ids["held"], text="张掖路街道配合"
    )
    assert payload["topic"]["topicId"] == s.ids["held"]
    assert s.timeline(SIBLING_TOWNSHIP, "held")[-1] == ("CommentAdded", SIBLING_TOWNSHIP)


def test_a_unit_never_involved_gets_exactly_the_answer_for_a_random_id(
    scenario: Scenario,
) -> None:
    s = scenario
    missing = str(uuid.uuid4())
    unknown = s.comment_refusal(COUSIN_VILLAGE, missing)
    for nickname in ("held", "refused", "fed", "fed_below"):
        assert s.topic(COUSIN_VILLAGE, nickname) is None
        refused = s.comment_refusal(COUSIN_VILLAGE, s.ids[nickname])
        assert codes(refused) == codes(unknown) == [("NOT_FOUND", "TOPIC_NOT_FOUND")]
        message = (refused.errors or [{}])[0]["message"]
        expected = (unknown.errors or [{}])[0]["message"]
        assert message.replace(s.ids[nickname], "?") == expected.replace(missing, "?")


# -- (b) a merged topic's units keep sight of the topic it fed ---------------------------


def test_a_village_that_merged_its_topic_reads_the_target_but_may_not_comment(
    scenario: Scenario,
) -> None:
    s = scenario
    assert s.topic(VILLAGE, "fed") == {"topicId": s.ids["fed"], "stage": "COLLECTED"}
    assert s.timeline(VILLAGE, "fed") == [
        ("TopicSubmitted", COUNTY),
        ("DelegationRequested", COUNTY),
        ("TopicAbsorbed", VILLAGE),
        ("TransferCancelled", COUNTY),
        ("CommentAdded", COUNTY),
    ]
    assert_comment_refused_as_ended(s, VILLAGE, "fed", "TopicAbsorbed")
    for sibling in (SIBLING_VILLAGE, COUSIN_VILLAGE):
        assert s.topic(sibling, "fed") is None
        assert codes(s.comment_refusal(sibling, s.ids["fed"])) == [("NOT_FOUND", "TOPIC_NOT_FOUND")]


def test_the_location_of_a_topic_merged_by_its_holder_keeps_sight_of_the_target(
    scenario: Scenario,
) -> None:
    s = scenario
    assert s.topic(SIBLING_VILLAGE, "fed_below") == {
        "topicId": s.ids["fed_below"],
        "stage": "COLLECTED",
    }
    assert s.timeline(SIBLING_VILLAGE, "fed_below")[-1] == ("TopicAbsorbed", TOWNSHIP)
    assert_comment_refused_as_ended(s, SIBLING_VILLAGE, "fed_below", "TopicAbsorbed")
    assert s.topic(VILLAGE, "fed_below") is None


def test_the_visibility_rows_after_a_rebuild_equal_the_incremental_ones(
    scenario: Scenario,
) -> None:
    s = scenario
    assert s.topic(COUNTY, "fed") is not None  # the views have the whole scenario
    runtime = s.live.server.state.runtime
    with runtime.database.connect() as conn:
        rows = conn.execute(
            sql.SQL("SELECT unit, kind FROM topic_visibility WHERE topic_id = %s ORDER BY 1, 2"),
            (s.ids["fed"],),
        ).fetchall()
    assert (VILLAGE, "E") in [tuple(r) for r in rows]
    incremental = read_model_tables(runtime)
    runtime.projections.rebuild("topics", lambda schema: runtime.database.datastore(schema=schema))
    assert read_model_tables(runtime) == incremental
