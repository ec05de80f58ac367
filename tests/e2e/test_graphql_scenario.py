"""The six steps of one topic through GraphQL over real HTTP, escalated village →
township → county, with each level's inbox, stats, cross-level list and timeline
read back (read-your-writes through `consistentWith`), and `asOf` at every step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport

from tests.e2e.conftest import Live
from tests.utils.factories import (
    COUNTY,
    FULL_PANEL,
    PROVINCE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
)

TOPIC_FIELDS = """
  topicId title stage version overdue asOf
  owner { code name level }
  locationUnit { code }
  pendingTransfer { kind fromUnit { code } toUnit { code } reason }
  route { unit { code } via reason leftAt }
  tasks { taskId status handlerUnit { code } handler overdue supervisions }
  meetings { meetingId participants { kind } recommendations heldAt }
  returnVisits { satisfaction }
  feedback
"""


class Session:
    """A GraphQL client acting for one unit and role."""

    def __init__(self, live: Live, unit: str, role: str = "STAFF") -> None:
        transport = HTTPXTransport(url=live.url + "/graphql", headers=live.headers(unit, role))
        self.client = Client(transport=transport, fetch_schema_from_transport=False)
        self.unit = unit
        self.position = 0  # the last position this session wrote

    def run(self, query: str, **variables: Any) -> dict[str, Any]:
        request = GraphQLRequest(query, variable_values=variables or None)
        result: dict[str, Any] = self.client.execute(request)
        return result

    def command(self, name: str, input_type: str, **input_: Any) -> dict[str, Any]:
        data = self.run(
            f"mutation($input: {input_type}!) {{ {name}(input: $input) {{"
            f" position createdId topic {{ {TOPIC_FIELDS} }} }} }}",
            input=input_,
        )[name]
        assert data["position"] > self.position
        self.position = data["position"]
        payload: dict[str, Any] = data
        return payload

    def inbox(self, at: int) -> list[tuple[str, str]]:
        data = self.run(
            "query($p: Int) { inbox(consistentWith: $p) { totalCount"
            " edges { node { reason overdue topic { title } } } } }",
            p=at,
        )["inbox"]
        assert data["totalCount"] == len(data["edges"])
        return [(e["node"]["reason"], e["node"]["topic"]["title"]) for e in data["edges"]]


@pytest.fixture
def sessions(live: Live) -> dict[str, Session]:
    return make_sessions(live)


def make_sessions(live: Live) -> dict[str, Session]:
    """One session per level and role the scenario uses (also for distributed mode)."""
    return {
        "village": Session(live, VILLAGE),
        "township": Session(live, TOWNSHIP),
        "county": Session(live, COUNTY),
        "county_leader": Session(live, COUNTY, "LEADER"),
        "handler": Session(live, TOWNSHIP, "HANDLER"),
        "province": Session(live, PROVINCE),
        "sibling": Session(live, SIBLING_VILLAGE),
    }


def iso(at: datetime) -> str:
    return at.isoformat()


def test_a_topic_goes_through_six_steps_escalated_village_township_county(
    live: Live, sessions: dict[str, Session]
) -> None:
    village, township, county = sessions["village"], sessions["township"], sessions["county"]
    now = datetime.now(UTC)
    instants: list[tuple[datetime, dict[str, Any]]] = []  # (after a step, the topic then)

    def step(session: Session, name: str, input_type: str, **input_: Any) -> dict[str, Any]:
        payload = session.command(name, input_type, **input_)
        instants.append((datetime.now(UTC), payload["topic"]))
        return payload

    # 1. collect (收集议题) at the village
    submitted = step(
        village,
        "submitTopic",
        "SubmitTopicInput",
        title="老旧小区二次供水改造",
        description="6号楼高层住户早晚用水高峰水压不足，热水器无法点火。",
        category="供水",
        source="HOTLINE_12345",
        locationUnit=VILLAGE,
    )
    tid = submitted["topic"]["topicId"]
    assert submitted["topic"]["stage"] == "COLLECTED"
    assert village.inbox(village.position) == [("OWNED", "老旧小区二次供水改造")]

    # escalated: the village cannot settle a pipe network question
    step(
        village,
        "escalateTopic",
        "EscalateTopicInput",
        topicId=tid,
        reason="涉及管网改造，社区无力解决",
    )
    assert township.inbox(village.position) == [("TRANSFER_PENDING", "老旧小区二次供水改造")]
    step(township, "acceptTransfer", "TopicNoteInput", topicId=tid, note="街道受理")
    step(township, "escalateTopic", "EscalateTopicInput", topicId=tid, reason="需区水务局协调")
    accepted = step(county, "acceptTransfer", "TopicNoteInput", topicId=tid)
    assert accepted["topic"]["owner"]["code"] == COUNTY
    assert [h["unit"]["code"] for h in accepted["topic"]["route"]] == [VILLAGE, TOWNSHIP, COUNTY]
    assert [h["via"] for h in accepted["topic"]["route"]] == [None, "ESCALATION", "ESCALATION"]
    assert county.inbox(county.position) == [("OWNED", "老旧小区二次供水改造")]
    assert township.inbox(county.position) == []
    assert village.inbox(county.position) == []

    # 2. determine (确定议题), 3. research (议前调研)
    step(county, "determineTopic", "TopicNoteInput", topicId=tid, note="区委同意列入协商")
    step(county, "startResearch", "ResearchInput", topicId=tid, text="走访住户与供水公司")
    step(county, "reportResearch", "ResearchInput", topicId=tid, text="加压泵站老化")

    # 4. deliberate (协商议事, 4+X)
    participants = [
        {"name": p["name"], "kind": p["kind"], "memberId": p["member_id"]} for p in FULL_PANEL
    ]
    scheduled = step(
        county,
        "scheduleDeliberation",
        "ScheduleDeliberationInput",
        topicId=tid,
        scheduledAt=iso(now + timedelta(days=3)),
        place="城关区政协协商议事厅",
        format="OFFLINE",
        participants=participants,
    )
    meeting = scheduled["createdId"]
    step(
        county,
        "recordDeliberation",
        "RecordDeliberationInput",
        topicId=tid,
        meetingId=meeting,
        attendance=[p["name"] for p in FULL_PANEL],
        minutes="各方同意更换加压泵",
        recommendations=["更换加压泵", "错峰供水公告"],
    )

    # 5. handle (办理实施): assign to the township, which signs and completes
    assigned = step(
        county,
        "assignTask",
        "AssignTaskInput",
        topicId=tid,
        handlerUnit=TOWNSHIP,
        handler="酒泉路街道城建办",
        requirement="30日内更换加压泵",
        due=iso(now + timedelta(days=30)),
    )
    task = assigned["createdId"]
    assert township.inbox(county.position) == [("TASK_TO_SIGN", "老旧小区二次供水改造")]
    handler = sessions["handler"]
    step(handler, "signTask", "TaskInput", topicId=tid, taskId=task)
    step(sessions["county_leader"], "superviseTask", "TaskNoteInput", topicId=tid, taskId=task,
         note="请按期完成")  # fmt: skip
    done = step(handler, "completeTask", "CompleteTaskInput", topicId=tid, taskId=task,
                result="已更换加压泵")  # fmt: skip
    assert done["topic"]["tasks"][0]["status"] == "COMPLETED"
    assert done["topic"]["tasks"][0]["supervisions"] == 1

    # 6. feed back (结果反馈) and the residents' verdict
    step(
        county, "giveFeedback", "FeedbackInput", topicId=tid, reply="加压泵已更换", channel="公示栏"
    )
    step(county, "recordReturnVisit", "ReturnVisitInput", topicId=tid, contacted=True,
         solved=True, satisfaction="SATISFIED", comment="水压正常了")  # fmt: skip
    closed = step(county, "closeTopic", "CloseTopicInput", topicId=tid, summary="办结")
    assert closed["topic"]["stage"] == "CLOSED"
    check_every_level(sessions, tid, county.position, steps=len(instants))
    check_as_of(village, tid, now, instants)


def check_every_level(sessions: dict[str, Session], tid: str, last: int, steps: int) -> None:
    """Each level's inbox, stats, cross-level list and timeline after the close."""
    village, township, county = sessions["village"], sessions["township"], sessions["county"]
    for session in (village, township, county):
        assert session.inbox(last) == []
    stats_query = (
        "query($u: String!, $p: Int) { stats(unit: $u, consistentWith: $p) {"
        " total open closed overdue satisfactionRate responseRate resolutionRate"
        " children { unit { code } total closed } } }"
    )
    county_stats = county.run(stats_query, u=COUNTY, p=last)["stats"]
    assert (county_stats["total"], county_stats["open"], county_stats["closed"]) == (1, 0, 1)
    assert county_stats["satisfactionRate"] == pytest.approx(1.0)
    assert {c["unit"]["code"]: c["total"] for c in county_stats["children"]}[TOWNSHIP] == 1
    province_stats = sessions["province"].run(stats_query, u=PROVINCE, p=last)["stats"]
    assert (province_stats["total"], province_stats["closed"]) == (1, 1)
    with pytest.raises(TransportQueryError) as refused:
        village.run(stats_query, u=COUNTY, p=last)  # the county is above the village
    assert refused.value.errors
    assert refused.value.errors[0]["extensions"]["code"] == "NOT_FOUND"

    cross = sessions["province"].run(
        "query($p: Int) { crossLevelTopics(consistentWith: $p) { totalCount edges { node {"
        " topicId route { unit { level } days } } } } }",
        p=last,
    )["crossLevelTopics"]
    assert cross["totalCount"] == 1
    assert [h["unit"]["level"] for h in cross["edges"][0]["node"]["route"]] == [
        "VILLAGE",
        "TOWNSHIP",
        "COUNTY",
    ]

    timeline = village.run(
        "query($t: ID!) { timeline(topicId: $t, first: 100) { totalCount edges { node {"
        " version type reason actor { userId role unit { code } } } } } }",
        t=tid,
    )["timeline"]
    events = [e["node"] for e in timeline["edges"]]
    assert timeline["totalCount"] == len(events) == steps
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert events[1]["type"] == "EscalationRequested"
    assert events[1]["reason"] == "涉及管网改造，社区无力解决"
    assert (events[1]["actor"]["unit"]["code"], events[1]["actor"]["role"]) == (VILLAGE, "STAFF")
    assert events[-1]["type"] == "TopicClosed"
    assert events[-1]["actor"]["unit"]["code"] == COUNTY

    # a sibling village sees none of it
    hidden = sessions["sibling"].run(
        "query($t: ID!, $p: Int) { topic(id: $t, consistentWith: $p) { title } }", t=tid, p=last
    )
    assert hidden["topic"] is None


def check_as_of(
    village: Session, tid: str, now: datetime, instants: list[tuple[datetime, dict[str, Any]]]
) -> None:
    """The topic as it stood after each step, and null before it existed."""
    as_of_query = (
        f"query($t: ID!, $at: DateTime!) {{ topic(id: $t, asOf: $at) {{ {TOPIC_FIELDS} }} }}"
    )
    before = village.run(as_of_query, t=tid, at=iso(now - timedelta(minutes=1)))
    assert before["topic"] is None
    for at, expected in instants:
        past = village.run(as_of_query, t=tid, at=iso(at))["topic"]
        assert past["asOf"] is not None
        for key in ("stage", "version", "owner", "route", "tasks", "pendingTransfer"):
            assert past[key] == expected[key], (key, expected["version"])
