"""The annual consultation plan over real GraphQL: drafted, approved as jointly
issued, adjusted with a reason, linked to a topic, DONE when its deliberation is
held, overdue (every period used is over: the test needs no clock), rolled up at
a city over two counties; a sibling sees nothing, and bad input is BAD_INPUT with
the rule's name, never INTERNAL."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import openpyxl
import pytest

from domain.topic import Role
from tests.e2e.conftest import Live
from tests.utils.factories import CITY, COUNTY, FULL_PANEL, SIBLING_COUNTY, TOWNSHIP
from tests.utils.graphql import GraphQLSession, codes, live_small_slice

PLAN = """plan { id planId state issuedBy unit { code } progress { kind planned done }
  items { itemId kind title plannedFor state overdue meetingIds doneAt
          topics { topicId } adjustments { change reason actor { userId role } } } }"""
PAYLOAD = "{ position createdId " + PLAN + " }"


@pytest.fixture(scope="module")
def live(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_small_slice(pg_admin, tmp_path_factory.mktemp("plans") / "home") as server:
        yield server


_OPEN: list[GraphQLSession] = []


@pytest.fixture(autouse=True)
def _close_sessions() -> Iterator[None]:
    """Every session a test opened is closed after it (no socket left behind)."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def session(live: Live, unit: str, *roles: Role) -> GraphQLSession:
    opened = GraphQLSession(live.url, live.headers(unit, *roles))
    _OPEN.append(opened)
    return opened


def mutate(s: GraphQLSession, name: str, **input: Any) -> dict[str, Any]:
    data = s.run(
        f"mutation($input: {_input(name)}!) {{ {name}(input: $input) {PAYLOAD} }}", input=input
    )
    result: dict[str, Any] = data[name]
    return result


def _input(name: str) -> str:
    return {
        "draftPlan": "DraftPlanInput",
        "addPlanItem": "PlanItemInput",
        "submitPlan": "PlanRefInput",
        "approvePlan": "ApprovePlanInput",
        "adjustPlanItem": "AdjustPlanItemInput",
        "linkPlanItem": "LinkPlanItemInput",
        "completePlanItem": "PlanItemRefInput",
        "cancelPlanItem": "PlanItemReasonInput",
    }[name]


def held_topic(s: GraphQLSession) -> str:
    """A topic of COUNTY whose deliberation is held."""
    topic = s.run(
        """mutation($i: SubmitTopicInput!) { submitTopic(input: $i) { topic { topicId } } }""",
        i={
            "title": "老旧小区加装电梯",
            "description": "多个小区居民反映加装电梯协调难。",
            "category": "城建",
            "source": "MEMBER_PROPOSAL",
            "locationUnit": COUNTY,
        },
    )["submitTopic"]["topic"]["topicId"]
    s.run(
        "mutation($i: TopicNoteInput!) { determineTopic(input: $i) { position } }",
        i={"topicId": topic},
    )
    participants = [
        {"name": p["name"], "kind": p["kind"], "memberId": p["member_id"]} for p in FULL_PANEL
    ]
    meeting = s.run(
        "mutation($i: ScheduleDeliberationInput!) "
        "{ scheduleDeliberation(input: $i) { createdId } }",
        i={
            "topicId": topic,
            "scheduledAt": "2026-05-20T09:00:00+08:00",
            "place": "区政协会议室",
            "format": "双月协商座谈会",
            "participants": participants,
        },
    )["scheduleDeliberation"]["createdId"]
    s.run(
        "mutation($i: RecordDeliberationInput!) { recordDeliberation(input: $i) { position } }",
        i={
            "topicId": topic,
            "meetingId": meeting,
            "attendance": [p["name"] for p in FULL_PANEL],
            "minutes": "与会各方就加装电梯资金分摊达成共识。",
            "recommendations": ["设立加装电梯专项补贴"],
        },
    )
    return str(topic)


def test_a_county_plan_from_draft_to_done_and_the_city_rollup(live: Live) -> None:
    staff, leader = session(live, COUNTY, Role.STAFF), session(live, COUNTY, Role.LEADER)
    drafted = mutate(staff, "draftPlan", unit=COUNTY, year=2026)
    plan_id = drafted["createdId"]
    assert drafted["plan"]["state"] == "DRAFT"
    assert drafted["plan"]["planId"] == plan_id
    items = [
        ("BIMONTHLY", "老旧小区加装电梯双月协商", "2026-05"),
        ("SPECIAL", "优化营商环境专题协商", "2026-Q2"),
        ("RESEARCH", "乡村振兴调研", "2026-02"),
    ]
    for kind, title, period in items:
        added = mutate(
            staff,
            "addPlanItem",
            planId=plan_id,
            kind=kind,
            title=title,
            plannedFor=period,
            leadCommittee="经济委",
            origin="党委点题",
        )
    assert added["createdId"] == "I3"
    mutate(staff, "submitPlan", planId=plan_id)
    approved = mutate(
        leader, "approvePlan", planId=plan_id, issuedBy=["区委办", "区政府办", "区政协办"]
    )
    assert approved["plan"]["state"] == "APPROVED"
    assert approved["plan"]["issuedBy"] == ["区委办", "区政府办", "区政协办"]

    adjusted = mutate(
        leader,
        "adjustPlanItem",
        planId=plan_id,
        itemId="I2",
        plannedFor="2026-Q3",
        reason="报请区委同意后调整",
    )
    (adjustment,) = adjusted["plan"]["items"][1]["adjustments"]
    assert adjustment["reason"] == "报请区委同意后调整"
    assert "2026-Q2 → 2026-Q3" in adjustment["change"]
    assert adjustment["actor"]["role"] == "LEADER"

    topic = held_topic(staff)
    linked = mutate(staff, "linkPlanItem", planId=plan_id, itemId="I1", topicId=topic)
    first = linked["plan"]["items"][0]
    assert first["topics"] == [{"topicId": topic}]
    assert first["state"] == "DONE"
    assert first["doneAt"] is not None
    research = linked["plan"]["items"][2]
    assert research["state"] == "PLANNED"
    assert research["overdue"] is True
    progress = {p["kind"]: (p["planned"], p["done"]) for p in linked["plan"]["progress"]}
    assert progress == {"BIMONTHLY": (1, 1), "SPECIAL": (1, 0), "RESEARCH": (1, 0)}

    # the sibling county drafts its own; the city sees both in one table
    sibling = session(live, SIBLING_COUNTY, Role.STAFF)
    other = mutate(sibling, "draftPlan", unit=SIBLING_COUNTY, year=2026)["createdId"]
    mutate(
        sibling, "addPlanItem", planId=other, kind="SECTOR", title="界别协商", plannedFor="2026-11"
    )
    city = session(live, CITY, Role.STAFF)
    rows = city.run(
        f'{{ planProgress(unit: "{CITY}", year: 2026) '
        "{ unit { code } planned done overdue plan { planId } } }"
    )["planProgress"]
    table = {r["unit"]["code"]: (r["planned"], r["done"], r["overdue"]) for r in rows}
    assert rows[0]["unit"]["code"] == CITY
    assert rows[0]["plan"] is None
    assert table == {CITY: (0, 0, 0), COUNTY: (3, 1, 2), SIBLING_COUNTY: (1, 0, 1)}

    # a sibling county sees nothing of the plan; the township below reads it
    query = f'{{ consultationPlan(unit: "{COUNTY}", year: 2026) {{ planId }} }}'
    assert sibling.run(query) == {"consultationPlan": None}
    township = session(live, TOWNSHIP, Role.STAFF)
    assert township.run(query) == {"consultationPlan": {"planId": plan_id}}
    # node(id) answers the plan in sight, and reads a sibling's as missing
    node_id = approved["plan"]["id"]
    node = f'{{ node(id: "{node_id}") {{ ... on ConsultationPlan {{ planId year }} }} }}'
    assert township.run(node) == {"node": {"planId": plan_id, "year": 2026}}
    assert sibling.run(node) == {"node": None}
    refused = sibling.refusal(
        f'mutation {{ submitPlan(input: {{planId: "{plan_id}"}}) {{ position }} }}'
    )
    assert codes(refused) == [("NOT_FOUND", "PLAN_NOT_FOUND")]


@pytest.mark.parametrize(
    ("unit", "roles", "name", "input", "expected"),
    [
        (
            TOWNSHIP,
            (Role.STAFF,),
            "addPlanItem",
            {"kind": "SPECIAL", "title": "t", "plannedFor": "2026-13"},
            ("BAD_INPUT", "PERIOD_INVALID"),
        ),
        (
            TOWNSHIP,
            (Role.STAFF,),
            "addPlanItem",
            {"kind": "SPECIAL", "title": "t", "plannedFor": "2026-Q5"},
            ("BAD_INPUT", "PERIOD_INVALID"),
        ),
        (
            TOWNSHIP,
            (Role.STAFF,),
            "addPlanItem",
            {"kind": "SPECIAL", "title": "t", "plannedFor": "2027-01"},
            ("BAD_INPUT", "PLAN_ITEM_OUTSIDE_YEAR"),
        ),
        (
            TOWNSHIP,
            (Role.STAFF,),
            "addPlanItem",
            {"kind": "PICNIC", "title": "t", "plannedFor": "2026-05"},
            ("BAD_INPUT", "GRAPHQL_INVALID"),
        ),
        (
            TOWNSHIP,
            (Role.LEADER,),
            "approvePlan",
            {"issuedBy": ["镇党委办"]},
            ("RULE_VIOLATION", "PLAN_NOT_SUBMITTED"),
        ),
        (
            TOWNSHIP,
            (Role.STAFF,),
            "linkPlanItem",
            {"itemId": "I1", "topicId": "00000000-0000-4000-8000-000000000000"},
            ("NOT_FOUND", "TOPIC_NOT_FOUND"),
        ),
    ],
)
def test_bad_plan_input_is_answered_with_its_rule(
    live: Live,
    unit: str,
    roles: tuple[Role, ...],
    name: str,
    input: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    staff = session(live, unit, Role.STAFF)
    plan_id = _township_plan(staff)
    s = session(live, unit, *roles)
    refused = s.refusal(
        f"mutation($input: {_input(name)}!) {{ {name}(input: $input) {{ position }} }}",
        input={"planId": plan_id, **input},
    )
    assert codes(refused) == [expected]


def test_a_second_draft_is_refused_naming_unit_and_year(live: Live) -> None:
    staff = session(live, TOWNSHIP, Role.STAFF)
    _township_plan(staff)
    refused = staff.refusal(
        f'mutation {{ draftPlan(input: {{unit: "{TOWNSHIP}", year: 2026}}) {{ position }} }}'
    )
    assert codes(refused) == [("CONFLICT", "PLAN_EXISTS")]
    assert TOWNSHIP in str(refused.errors)
    assert "2026" in str(refused.errors)


def _township_plan(staff: GraphQLSession) -> str:
    query = (
        f'{{ consultationPlan(unit: "{TOWNSHIP}", year: 2026) {{ planId items {{ itemId }} }} }}'
    )
    found = staff.run(query)["consultationPlan"]
    if found is None:
        plan_id = mutate(staff, "draftPlan", unit=TOWNSHIP, year=2026)["createdId"]
        mutate(
            staff,
            "addPlanItem",
            planId=plan_id,
            kind="GRASSROOTS",
            title="小微协商",
            plannedFor="2026-06",
        )
        return str(plan_id)
    return str(found["planId"])


def test_the_plan_exports_as_issued_in_xlsx_and_csv_with_its_sight(live: Live) -> None:
    unit = TOWNSHIP
    staff, leader = session(live, unit, Role.STAFF), session(live, unit, Role.LEADER)
    plan_id = mutate(staff, "draftPlan", unit=unit, year=2027)["createdId"]
    mutate(
        staff,
        "addPlanItem",
        planId=plan_id,
        kind="GRASSROOTS",
        title="背街小巷路灯小微协商",
        plannedFor="2027-03",
        leadLeader="王主席",
        origin="社会征题",
    )
    mutate(staff, "submitPlan", planId=plan_id)
    mutate(leader, "approvePlan", planId=plan_id, issuedBy=["街道党工委办", "办事处"])
    url = f"{live.url}/api/v1/plans/{unit}/2027/export"
    with httpx.Client(timeout=60) as client:
        xlsx = client.get(url, headers=live.headers(unit), params={"format": "xlsx"})
        assert xlsx.status_code == 200, xlsx.text
        assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
        sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert "2027年度协商计划（已批准）" in str(rows[0][0])
        assert "街道党工委办、办事处" in str(rows[0][0])
        assert rows[1][:4] == ["序号", "协商形式", "议题名称", "计划时间"]
        assert rows[2][:8] == [
            1, "小微协商", "背街小巷路灯小微协商", "2027-03", "王主席", None, "社会征题", "计划中"
        ]  # fmt: skip

        csv = client.get(url, headers=live.headers(CITY), params={"format": "csv"})
        assert csv.status_code == 200, csv.text
        assert csv.content.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads UTF-8
        lines = csv.content.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("序号,协商形式,议题名称,计划时间")
        assert lines[1].startswith("1,小微协商,背街小巷路灯小微协商,2027-03,王主席")

        hidden = client.get(url, headers=live.headers(SIBLING_COUNTY), params={"format": "csv"})
        missing = client.get(
            f"{live.url}/api/v1/plans/{unit}/2031/export", headers=live.headers(unit)
        )
        for response in (hidden, missing):
            assert response.status_code == 404, response.text
            assert response.json()["rule"] == "PLAN_NOT_FOUND"
        assert hidden.json()["detail"].replace("2027", "2031") == missing.json()["detail"]
        bad = client.get(url, headers=live.headers(unit), params={"format": "pdf"})
        assert bad.status_code == 400
        assert bad.json()["rule"] == "INVALID_FORMAT"
        assert "pdf" in bad.json()["detail"]
