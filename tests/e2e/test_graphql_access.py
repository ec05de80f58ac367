"""Who sees what through the GraphQL API, over real HTTP with a real client.

One scenario is built through mutations, each by the unit and role entitled to it:

* A — submitted at VILLAGE, escalated to TOWNSHIP and accepted, determined,
  deliberated, task T1 assigned to SIBLING_TOWNSHIP, commented on by that handler;
* B — submitted at COUSIN_VILLAGE and never moved; FAR_TOWNSHIP (another county)
  invited as co-organiser;
* C — submitted at FAR_VILLAGE, deliberated, task T1 assigned to COUSIN_VILLAGE
  (another county);
* D — submitted at SIBLING_TOWNSHIP, delegation to COUSIN_VILLAGE pending.

Then every unit of the slice reads through every query, and units and roles try
commands they may not give. The expectations below are written by hand from the
rule of DESIGN §6: a token sees its unit's subtree plus the topics its unit is or
was involved in (on the route, co-organiser, task handler, pending transfer target).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql.transport.exceptions import TransportQueryError
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    Undefined,
    build_schema,
)

from api.auth import TokenService
from domain.topic import Role
from tests.e2e.conftest import Live
from tests.utils.factories import (
    CITY,
    COUNTY,
    COUSIN_VILLAGE,
    FAR_TOWNSHIP,
    FAR_VILLAGE,
    FULL_PANEL,
    OTHER_CITY,
    PROVINCE,
    SIBLING_COUNTY,
    SIBLING_TOWNSHIP,
    SIBLING_VILLAGE,
    SMALL_HIERARCHY,
    TOWNSHIP,
    VILLAGE,
)
from tests.utils.graphql import GraphQLSession, codes, live_small_slice

ALL_UNITS = tuple(u.code for u in SMALL_HIERARCHY)
LEVELS = ("PROVINCE", "CITY", "COUNTY", "TOWNSHIP", "VILLAGE")
TITLES = {
    "A": "甲议题：畅家巷6号楼二次供水水压不足",
    "B": "乙议题：陇西路背街小巷路灯不亮",
    "C": "丙议题：下西园农贸市场占道经营",
    "D": "丁议题：张掖路街道老旧小区加装电梯",
}
LOCATIONS = {"A": VILLAGE, "B": COUSIN_VILLAGE, "C": FAR_VILLAGE, "D": SIBLING_TOWNSHIP}
TIMELINES = {
    "A": [
        "TopicSubmitted",
        "EscalationRequested",
        "TransferAccepted",
        "TopicDetermined",
        "DeliberationScheduled",
        "DeliberationHeld",
        "TaskAssigned",
        "CommentAdded",
    ],
    "B": ["TopicSubmitted", "CoOrganizerInvited"],
    "C": [
        "TopicSubmitted",
        "TopicDetermined",
        "DeliberationScheduled",
        "DeliberationHeld",
        "TaskAssigned",
    ],
    "D": ["TopicSubmitted", "DelegationRequested"],
}
CHILDREN = {
    PROVINCE: {CITY, OTHER_CITY},
    CITY: {COUNTY, SIBLING_COUNTY},
    COUNTY: {TOWNSHIP, SIBLING_TOWNSHIP},
    SIBLING_COUNTY: {FAR_TOWNSHIP},
    TOWNSHIP: {VILLAGE, SIBLING_VILLAGE},
    SIBLING_TOWNSHIP: {COUSIN_VILLAGE},
    FAR_TOWNSHIP: {FAR_VILLAGE},
}


@dataclass(frozen=True)
class Sight:
    """What a token of `unit` must see (topics by letter)."""

    unit: str
    subtree_units: frozenset[str]  # the unit and its descendants
    above: frozenset[str]  # its ancestors
    visible: str  # topic(id) answers
    subtree: str  # topics(filter: {scope: SUBTREE})
    involved: str  # topics(filter: {scope: INVOLVED})
    owned: str  # topics(filter: {scope: OWNED})
    cross_level: str  # crossLevelTopics
    inbox: frozenset[tuple[str, str]]  # (topic, reason)
    total: int  # stats(unit: own).total
    children_totals: dict[str, int] = field(default_factory=dict)  # stats(...).children

    @property
    def in_sight(self) -> frozenset[str]:
        return self.subtree_units | self.above


def units(*codes: str) -> frozenset[str]:
    return frozenset(codes)


def inbox(*items: str) -> frozenset[tuple[str, str]]:
    return frozenset((item[0], item[2:]) for item in items)


SIGHTS = [
    Sight(
        PROVINCE,
        subtree_units=units(*ALL_UNITS),
        above=units(),
        visible="ABCD",
        subtree="ABCD",
        involved="",
        owned="",
        cross_level="A",
        inbox=inbox(),
        total=4,
        children_totals={CITY: 4, OTHER_CITY: 0},
    ),
    Sight(
        CITY,
        subtree_units=units(
            CITY,
            COUNTY,
            SIBLING_COUNTY,
            TOWNSHIP,
            SIBLING_TOWNSHIP,
            FAR_TOWNSHIP,
            VILLAGE,
            SIBLING_VILLAGE,
            COUSIN_VILLAGE,
            FAR_VILLAGE,
        ),
        above=units(PROVINCE),
        visible="ABCD",
        subtree="ABCD",
        involved="",
        owned="",
        cross_level="A",
        inbox=inbox(),
        total=4,
        children_totals={COUNTY: 3, SIBLING_COUNTY: 1},
    ),
    Sight(
        OTHER_CITY,
        subtree_units=units(OTHER_CITY),
        above=units(PROVINCE),
        visible="",
        subtree="",
        involved="",
        owned="",
        cross_level="",
        inbox=inbox(),
        total=0,
    ),
    Sight(
        COUNTY,
        subtree_units=units(
            COUNTY, TOWNSHIP, SIBLING_TOWNSHIP, VILLAGE, SIBLING_VILLAGE, COUSIN_VILLAGE
        ),
        above=units(PROVINCE, CITY),
        visible="ABD",
        subtree="ABD",
        involved="",
        owned="",
        cross_level="A",
        inbox=inbox(),
        total=3,
        children_totals={TOWNSHIP: 1, SIBLING_TOWNSHIP: 2},
    ),
    Sight(
        SIBLING_COUNTY,
        subtree_units=units(SIBLING_COUNTY, FAR_TOWNSHIP, FAR_VILLAGE),
        above=units(PROVINCE, CITY),
        visible="C",
        subtree="C",
        involved="",
        owned="",
        cross_level="",
        inbox=inbox(),
        total=1,
        children_totals={FAR_TOWNSHIP: 1},
    ),
    Sight(
        TOWNSHIP,
        subtree_units=units(TOWNSHIP, VILLAGE, SIBLING_VILLAGE),
        above=units(PROVINCE, CITY, COUNTY),
        visible="A",
        subtree="A",
        involved="A",
        owned="A",
        cross_level="A",
        inbox=inbox("A OWNED"),
        total=1,
        children_totals={VILLAGE: 1, SIBLING_VILLAGE: 0},
    ),
    Sight(
        SIBLING_TOWNSHIP,
        subtree_units=units(SIBLING_TOWNSHIP, COUSIN_VILLAGE),
        above=units(PROVINCE, CITY, COUNTY),
        visible="ABD",
        subtree="BD",
        involved="AD",
        owned="D",
        cross_level="",
        inbox=inbox("A TASK_TO_SIGN", "D OWNED"),
        total=2,
        children_totals={COUSIN_VILLAGE: 1},
    ),
    Sight(
        FAR_TOWNSHIP,
        subtree_units=units(FAR_TOWNSHIP, FAR_VILLAGE),
        above=units(PROVINCE, CITY, SIBLING_COUNTY),
        visible="BC",
        subtree="C",
        involved="B",
        owned="",
        cross_level="",
        inbox=inbox(),
        total=1,
        children_totals={FAR_VILLAGE: 1},
    ),
    Sight(
        VILLAGE,
        subtree_units=units(VILLAGE),
        above=units(PROVINCE, CITY, COUNTY, TOWNSHIP),
        visible="A",
        subtree="A",
        involved="A",
        owned="",
        cross_level="A",
        inbox=inbox(),
        total=1,
    ),
    Sight(
        SIBLING_VILLAGE,
        subtree_units=units(SIBLING_VILLAGE),
        above=units(PROVINCE, CITY, COUNTY, TOWNSHIP),
        visible="",
        subtree="",
        involved="",
        owned="",
        cross_level="",
        inbox=inbox(),
        total=0,
    ),
    Sight(
        COUSIN_VILLAGE,
        subtree_units=units(COUSIN_VILLAGE),
        above=units(PROVINCE, CITY, COUNTY, SIBLING_TOWNSHIP),
        visible="BCD",
        subtree="B",
        involved="BCD",
        owned="B",
        cross_level="",
        inbox=inbox("B OWNED", "C TASK_TO_SIGN", "D TRANSFER_PENDING"),
        total=1,
    ),
    Sight(
        FAR_VILLAGE,
        subtree_units=units(FAR_VILLAGE),
        above=units(PROVINCE, CITY, SIBLING_COUNTY, FAR_TOWNSHIP),
        visible="C",
        subtree="C",
        involved="C",
        owned="C",
        cross_level="",
        inbox=inbox("C OWNED"),
        total=1,
    ),
]
BY_UNIT = {s.unit: s for s in SIGHTS}


# -- the scenario ----------------------------------------------------------------------


@dataclass
class World:
    live: Live
    topic_ids: dict[str, str]  # letter -> topicId (UUID)
    node_ids: dict[str, str]  # letter -> global id
    unit_ids: dict[str, str]  # unit code -> global id
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    sessions: dict[tuple[str, str], GraphQLSession] = field(default_factory=dict)

    def session(self, unit: str, role: str = "STAFF") -> GraphQLSession:
        key = (unit, role)
        if key not in self.sessions:
            self.sessions[key] = GraphQLSession(self.live.url, self.live.headers(unit, role))
        return self.sessions[key]

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.http.close()

    def head(self) -> int:
        return self.live.server.state.runtime.app.head_position()

    def letter(self, topic_id: str) -> str:
        return next(k for k, v in self.topic_ids.items() if v == topic_id)


COMMAND = (
    "mutation($input: {type}!) {{ {name}(input: $input) {{"
    " position createdId topic {{ id topicId }} }} }}"
)


def command(session: GraphQLSession, name: str, type_: str, **input_: Any) -> dict[str, Any]:
    payload: dict[str, Any] = session.run(COMMAND.format(name=name, type=type_), input=input_)[name]
    return payload


def _future(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _submit(world: World, letter: str) -> None:
    payload = command(
        world.session(LOCATIONS[letter]),
        "submitTopic",
        "SubmitTopicInput",
        title=TITLES[letter],
        description=f"{TITLES[letter]}：居民多次反映，请协商解决。",
        category="城市管理",
        source="HOTLINE_12345",
        locationUnit=LOCATIONS[letter],
    )
    world.topic_ids[letter] = payload["topic"]["topicId"]
    world.node_ids[letter] = payload["topic"]["id"]


def _deliberate_and_assign(world: World, owner: str, letter: str, handler_unit: str) -> None:
    session, tid = world.session(owner), world.topic_ids[letter]
    command(session, "determineTopic", "TopicNoteInput", topicId=tid)
    meeting = command(
        session,
        "scheduleDeliberation",
        "ScheduleDeliberationInput",
        topicId=tid,
        scheduledAt=_future(1),
        place="社区议事厅",
        format="议事协商会",
        participants=[
            {"name": p["name"], "kind": p["kind"], "memberId": p["member_id"]} for p in FULL_PANEL
        ],
    )["createdId"]
    command(
        session,
        "recordDeliberation",
        "RecordDeliberationInput",
        topicId=tid,
        meetingId=meeting,
        attendance=[str(p["name"]) for p in FULL_PANEL],
        minutes="与会各方同意分工办理。",
        recommendations=["限期整改"],
    )
    task = command(
        session,
        "assignTask",
        "AssignTaskInput",
        topicId=tid,
        handlerUnit=handler_unit,
        handler="办事员",
        requirement="按协商建议办理并反馈",
        due=_future(30),
    )
    assert task["createdId"] == "T1"


def build_world(live: Live) -> World:
    world = World(live, {}, {}, {})
    for letter in "ABCD":
        _submit(world, letter)
    a, b, d = (world.topic_ids[k] for k in "ABD")
    command(
        world.session(VILLAGE),
        "escalateTopic",
        "EscalateTopicInput",
        topicId=a,
        reason="需街道协调",
    )
    command(world.session(TOWNSHIP), "acceptTransfer", "TopicNoteInput", topicId=a)
    _deliberate_and_assign(world, TOWNSHIP, "A", SIBLING_TOWNSHIP)
    command(
        world.session(SIBLING_TOWNSHIP), "addComment", "CommentInput", topicId=a, text="已收到任务"
    )
    command(
        world.session(COUSIN_VILLAGE),
        "inviteCoOrganizer",
        "InviteCoOrganizerInput",
        topicId=b,
        unit=FAR_TOWNSHIP,
    )
    _deliberate_and_assign(world, FAR_VILLAGE, "C", COUSIN_VILLAGE)
    last = command(
        world.session(SIBLING_TOWNSHIP),
        "delegateTopic",
        "DelegateTopicInput",
        topicId=d,
        toUnit=COUSIN_VILLAGE,
        instructions="请社区先行摸排",
    )["position"]
    # read your writes: once this answers, every read model has the whole scenario
    world.session(PROVINCE).run(
        "query($p: Int) { topics(consistentWith: $p) { totalCount } }", p=last
    )
    levels = " ".join(
        f'{level.lower()}: units(parent: "{PROVINCE}", level: {level})'
        " { edges { node { id code } } }"
        for level in LEVELS[1:]
    )
    found = world.session(PROVINCE).run(
        f'{{ province: unit(code: "{PROVINCE}") {{ id code }} {levels} }}'
    )
    world.unit_ids[PROVINCE] = found["province"]["id"]
    for level in LEVELS[1:]:
        for edge in found[level.lower()]["edges"]:
            world.unit_ids[edge["node"]["code"]] = edge["node"]["id"]
    assert set(world.unit_ids) == set(ALL_UNITS)
    return world


@pytest.fixture(scope="module")
def world(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with live_small_slice(pg_admin, tmp_path_factory.mktemp("access") / "home") as live:
        built = build_world(live)
        try:
            yield built
        finally:
            built.close()


def letters(world: World, edges: list[dict[str, Any]]) -> str:
    return "".join(sorted(world.letter(e["node"]["topicId"]) for e in edges))


def by_unit(sight: Sight) -> str:
    return sight.unit


def assert_hidden_in(message: str, world: World, topic_id: str | None = None) -> None:
    """The message names no title and no unit code (the id the caller sent aside)."""
    stripped = message.replace(topic_id, "<id>") if topic_id else message
    assert not any(title in stripped for title in TITLES.values()), message
    assert not any(code in stripped for code in ALL_UNITS), message


# -- reads, unit by unit -----------------------------------------------------------------

TOPIC = "query($id: ID!) { topic(id: $id) { topicId title locationUnit { code } } }"
TOPIC_AS_OF = "query($id: ID!, $at: DateTime) { topic(id: $id, asOf: $at) { topicId title } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on Topic { topicId } ... on Unit { code } } }"


@pytest.mark.parametrize("sight", SIGHTS, ids=by_unit)
def test_topic_and_node_answer_only_the_topics_in_sight(world: World, sight: Sight) -> None:
    session = world.session(sight.unit)
    now = datetime.now(UTC).isoformat()
    for letter in "ABCD":
        tid, nid = world.topic_ids[letter], world.node_ids[letter]
        answers = [
            session.run(TOPIC, id=tid)["topic"],
            session.run(TOPIC, id=nid)["topic"],
            session.run(TOPIC_AS_OF, id=tid, at=now)["topic"],
        ]
        node = session.run(NODE, id=nid)["node"]
        if letter in sight.visible:
            assert all(a is not None and a["topicId"] == tid for a in answers), (letter, answers)
            assert answers[0]["title"] == TITLES[letter]
            assert answers[0]["locationUnit"]["code"] == LOCATIONS[letter]
            assert node == {"id": nid, "topicId": tid}
        else:
            assert answers == [None, None, None], (letter, answers)
            assert node is None, letter


LISTS = """
query {
  subtree: topics(filter: {scope: SUBTREE}) { totalCount edges { node { topicId } } }
  involved: topics(filter: {scope: INVOLVED}) { totalCount edges { node { topicId } } }
  owned: topics(filter: {scope: OWNED}) { totalCount edges { node { topicId } } }
  plain: topics { totalCount edges { node { topicId } } }
  crossLevel: crossLevelTopics { totalCount edges { node { topicId } } }
  inbox { totalCount edges { node { reason topic { topicId title } } } }
}
"""


@pytest.mark.parametrize("sight", SIGHTS, ids=by_unit)
def test_lists_counts_and_inbox_hold_only_the_topics_in_sight(world: World, sight: Sight) -> None:
    data = world.session(sight.unit).run(LISTS)
    got = {
        name: (letters(world, data[name]["edges"]), data[name]["totalCount"])
        for name in ("subtree", "involved", "owned", "plain", "crossLevel")
    }
    assert got == {
        "subtree": (sight.subtree, len(sight.subtree)),
        "involved": (sight.involved, len(sight.involved)),
        "owned": (sight.owned, len(sight.owned)),
        "plain": (sight.subtree, len(sight.subtree)),  # SUBTREE is the default scope
        "crossLevel": (sight.cross_level, len(sight.cross_level)),
    }
    items = {
        (world.letter(e["node"]["topic"]["topicId"]), e["node"]["reason"])
        for e in data["inbox"]["edges"]
    }
    assert items == sight.inbox
    assert data["inbox"]["totalCount"] == len(sight.inbox)


STATS = """
query($unit: String!) {
  stats(unit: $unit) { unit { code } total open children { unit { code } total } }
}
"""


@pytest.mark.parametrize("sight", SIGHTS, ids=by_unit)
def test_stats_of_the_own_unit(world: World, sight: Sight) -> None:
    stats = world.session(sight.unit).run(STATS, unit=sight.unit)["stats"]
    assert (stats["unit"]["code"], stats["total"], stats["open"]) == (
        sight.unit,
        sight.total,
        sight.total,
    )
    children = {c["unit"]["code"]: c["total"] for c in stats["children"]}
    assert children == sight.children_totals


AS_UNIT = """
query($unit: String!) {
  subtree: topics(filter: {unit: $unit}) { totalCount edges { node { topicId } } }
  involved: topics(filter: {unit: $unit, scope: INVOLVED}) { totalCount edges { node { topicId } } }
  crossLevel: crossLevelTopics(unit: $unit) { totalCount edges { node { topicId } } }
  inbox(unit: $unit) { totalCount edges { node { reason topic { topicId } } } }
  stats(unit: $unit) { total }
}
"""
# one at a time: the first failing root field nulls the whole response
UNIT_ARGUMENT_QUERIES = {
    line.split(":")[0].strip(): "query($unit: String!) { " + line.strip() + " }"
    for line in AS_UNIT.strip().splitlines()[1:-1]
}
assert len(UNIT_ARGUMENT_QUERIES) == 5


@pytest.mark.parametrize("sight", SIGHTS, ids=by_unit)
def test_a_unit_argument_reaches_the_subtree_and_nothing_else(world: World, sight: Sight) -> None:
    """Within the subtree, another unit's lists are still cut to what this token
    sees; outside it (ancestors included), the unit does not exist."""
    session = world.session(sight.unit)
    unknown = {name: session.refusal(q, unit="629999") for name, q in UNIT_ARGUMENT_QUERIES.items()}
    for code in ALL_UNITS:
        if code in sight.subtree_units:
            data = session.run(AS_UNIT, unit=code)
            other = BY_UNIT[code]

            def cut(topics: str) -> str:
                return "".join(t for t in topics if t in sight.visible)

            assert (
                letters(world, data["subtree"]["edges"]),
                letters(world, data["involved"]["edges"]),
                letters(world, data["crossLevel"]["edges"]),
                data["stats"]["total"],
            ) == (cut(other.subtree), cut(other.involved), cut(other.cross_level), other.total), (
                code
            )
            items = {
                (world.letter(e["node"]["topic"]["topicId"]), e["node"]["reason"])
                for e in data["inbox"]["edges"]
            }
            assert items == {i for i in other.inbox if i[0] in sight.visible}, code
            assert data["inbox"]["totalCount"] == len(items), code
        else:
            for name, one in UNIT_ARGUMENT_QUERIES.items():
                refused = session.refusal(one, unit=code)
                assert refused.data is None, (name, code)
                assert codes(refused) == [("NOT_FOUND", "UNIT_NOT_FOUND")], (name, code)
                # the same words as for a code that does not exist at all
                assert [e["message"].replace(code, "?") for e in refused.errors or []] == [
                    e["message"].replace("629999", "?") for e in unknown[name].errors or []
                ], (name, code)


TIMELINE = """
query($id: ID!) {
  timeline(topicId: $id) { totalCount edges { node { type actor { unit { code } } } } }
}
"""
NESTED_TIMELINE = "query($id: ID!) { topic(id: $id) { timeline { edges { node { type } } } } }"


@pytest.mark.parametrize("sight", SIGHTS, ids=by_unit)
def test_timeline_of_a_topic_out_of_sight_is_not_found(world: World, sight: Sight) -> None:
    session = world.session(sight.unit)
    missing = str(uuid.uuid4())
    unknown = session.refusal(TIMELINE, id=missing)
    for letter in "ABCD":
        tid = world.topic_ids[letter]
        if letter in sight.visible:
            timeline = session.run(TIMELINE, id=tid)["timeline"]
            assert [e["node"]["type"] for e in timeline["edges"]] == TIMELINES[letter]
            assert timeline["totalCount"] == len(TIMELINES[letter])
            nested = session.run(NESTED_TIMELINE, id=world.node_ids[letter])["topic"]
            assert [e["node"]["type"] for e in nested["timeline"]["edges"]] == TIMELINES[letter]
        else:
            refused = session.refusal(TIMELINE, id=tid)
            assert codes(refused) == [("NOT_FOUND", "TOPIC_NOT_FOUND")], letter
            message = (refused.errors or [{}])[0]["message"]
            assert message.replace(tid, "<id>") == (unknown.errors or [{}])[0]["message"].replace(
                missing, "<id>"
            )
            assert_hidden_in(message, world, tid)


# small pages: three nested pages of 100 children cost far over the limit (QUERY_TOO_COSTLY)
UNIT_TREE = """
query {
  unit(code: "62") {
    code
    children(first: 10) { totalCount edges { node {
      code
      children(first: 10) { totalCount edges { node {
        code
        children(first: 10) { totalCount edges { node { code } } }
      } } }
    } } }
  }
}
"""


def _tree_codes(node: dict[str, Any] | None) -> set[str]:
    if node is None:
        return set()
    found = {node["code"]}
    children = node.get("children")
    if children:
        assert children["totalCount"] == len(children["edges"])
        for edge in children["edges"]:
            found |= _tree_codes(edge["node"])
    return found


@pytest.mark.parametrize("sight", SIGHTS, ids=by_unit)
def test_units_are_browsed_within_sight_only(world: World, sight: Sight) -> None:
    """The viewer's subtree and its ancestors: `unit`, `node`, `units(parent:)`,
    `units(level:)` and nested `children` list nothing else."""
    session = world.session(sight.unit)
    for code in ALL_UNITS:
        unit = session.run("query($c: String!) { unit(code: $c) { code } }", c=code)["unit"]
        node = session.run(NODE, id=world.unit_ids[code])["node"]
        if code in sight.in_sight:
            assert unit == {"code": code}
            assert node == {"id": world.unit_ids[code], "code": code}
            page = session.run(
                "query($p: String) { units(parent: $p) { totalCount edges { node { code } } } }",
                p=code,
            )["units"]
            listed = {e["node"]["code"] for e in page["edges"]}
            assert listed == CHILDREN.get(code, set()) & sight.in_sight, code
            assert page["totalCount"] == len(listed)
        else:
            assert (unit, node) == (None, None), code
            refused = session.refusal(
                "query($p: String) { units(parent: $p) { edges { node { code } } } }", p=code
            )
            assert codes(refused) == [("NOT_FOUND", "UNIT_NOT_FOUND")], code
    # the province's tree three levels down, as this viewer may browse it
    tree = _tree_codes(session.run(UNIT_TREE)["unit"])
    assert tree == {c for c in sight.in_sight if len(c) <= len(TOWNSHIP)}
    # descendants by level, from the viewer's own unit
    queries = " ".join(
        f"{lv.lower()}: units(level: {lv}) {{ edges {{ node {{ code }} }} }}" for lv in LEVELS
    )
    by_level = session.run(f"{{ {queries} }}")
    below = {e["node"]["code"] for lv in LEVELS for e in by_level[lv.lower()]["edges"]}
    # (whether `level:` lists the parent itself at its own level is not the point here)
    assert below - {sight.unit} == sight.subtree_units - {sight.unit}


NESTED_UNITS = """
query($id: ID!) {
  topic(id: $id) {
    locationUnit { code children { edges { node { code } } } }
    owner { code children { edges { node { code } } } }
    route { unit { code children { edges { node { code } } } } }
    tasks { handlerUnit { code children { edges { node { code } } } } }
    coOrganizers { code children { edges { node { code } } } }
    pendingTransfer { toUnit { code children { edges { node { code } } } } }
  }
}
"""


def _children_listed(value: Any) -> set[str]:
    """Every code listed in a `children` connection anywhere inside `value`."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "children":
                found |= {e["node"]["code"] for e in inner["edges"]}
            else:
                found |= _children_listed(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _children_listed(inner)
    return found


@pytest.mark.parametrize("sight", SIGHTS, ids=by_unit)
def test_units_named_by_a_visible_topic_list_no_children_out_of_sight(
    world: World, sight: Sight
) -> None:
    """A visible topic names units outside the viewer's sight (a handler elsewhere,
    a former owner); their `children` still list only units in sight, and asking
    for them does not break the topic."""
    session = world.session(sight.unit)
    for letter in sight.visible:
        try:
            topic = session.run(NESTED_UNITS, id=world.topic_ids[letter])["topic"]
        except TransportQueryError as exc:
            pytest.fail(f"topic {letter} read by {sight.unit} failed: {exc.errors}")
        assert topic is not None
        assert _children_listed(topic) <= sight.in_sight, letter


# -- commands ------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    unit: str
    role: str
    name: str  # the mutation
    topic: str  # letter, or "" for submitTopic
    code: str
    rule: str


MUTATION_INPUTS: dict[str, tuple[str, dict[str, Any]]] = {
    "addComment": ("CommentInput", {"text": "我们也想跟进"}),
    "escalateTopic": ("EscalateTopicInput", {"reason": "请上级协调"}),
    "determineTopic": ("TopicNoteInput", {}),
    "takeOverTopic": ("TopicReasonInput", {"reason": "提级办理"}),
    "signTask": ("TaskInput", {"taskId": "T1"}),
    "acceptTransfer": ("TopicNoteInput", {}),
    "cancelTransfer": ("TopicReasonInput", {"reason": "撤回"}),
    "assignTask": (
        "AssignTaskInput",
        {
            "handlerUnit": COUSIN_VILLAGE,
            "handler": "某人",
            "requirement": "办理",
            "due": _future(9),
        },
    ),
    "mergeTopic": ("MergeTopicInput", {"reason": "同一诉求"}),
    "submitTopic": (
        "SubmitTopicInput",
        {"description": "描述", "category": "其他", "source": "VISIT", "title": "越权提交"},
    ),
}

NOT_FOUND = ("NOT_FOUND", "TOPIC_NOT_FOUND")
REFUSALS = [
    # out of sight: refused exactly as a topic that does not exist
    Refusal(TOWNSHIP, "STAFF", "addComment", "B", *NOT_FOUND),
    Refusal(SIBLING_VILLAGE, "STAFF", "addComment", "A", *NOT_FOUND),
    Refusal(OTHER_CITY, "LEADER", "addComment", "A", *NOT_FOUND),
    Refusal(SIBLING_COUNTY, "STAFF", "addComment", "D", *NOT_FOUND),
    Refusal(COUNTY, "STAFF", "determineTopic", "C", *NOT_FOUND),
    Refusal(COUNTY, "LEADER", "takeOverTopic", "C", *NOT_FOUND),
    Refusal(VILLAGE, "STAFF", "escalateTopic", "B", *NOT_FOUND),
    Refusal(SIBLING_VILLAGE, "HANDLER", "signTask", "A", *NOT_FOUND),
    Refusal(FAR_TOWNSHIP, "STAFF", "acceptTransfer", "D", *NOT_FOUND),
    Refusal(SIBLING_VILLAGE, "AUDITOR", "addComment", "A", *NOT_FOUND),
    Refusal(COUSIN_VILLAGE, "STAFF", "mergeTopic", "B>A", *NOT_FOUND),  # into A, unseen
    # in sight, but not this unit's to decide
    Refusal(VILLAGE, "STAFF", "escalateTopic", "A", "FORBIDDEN", "NOT_OWNER"),  # former owner
    Refusal(COUNTY, "STAFF", "escalateTopic", "A", "FORBIDDEN", "NOT_OWNER"),
    Refusal(SIBLING_TOWNSHIP, "STAFF", "determineTopic", "B", "FORBIDDEN", "NOT_OWNER"),
    Refusal(FAR_TOWNSHIP, "STAFF", "determineTopic", "B", "FORBIDDEN", "NOT_OWNER"),  # co-org
    Refusal(PROVINCE, "STAFF", "determineTopic", "C", "FORBIDDEN", "NOT_OWNER"),
    Refusal(SIBLING_TOWNSHIP, "STAFF", "assignTask", "A", "FORBIDDEN", "NOT_OWNER"),
    Refusal(TOWNSHIP, "HANDLER", "signTask", "A", "FORBIDDEN", "NOT_TASK_HANDLER"),
    Refusal(SIBLING_TOWNSHIP, "LEADER", "takeOverTopic", "A", "FORBIDDEN", "TAKEOVER_NOT_ANCESTOR"),
    Refusal(COUNTY, "STAFF", "acceptTransfer", "D", "FORBIDDEN", "NOT_TRANSFER_TARGET"),
    Refusal(COUSIN_VILLAGE, "STAFF", "cancelTransfer", "D", "FORBIDDEN", "NOT_TRANSFER_REQUESTER"),
    # a place outside the area reads as an unknown code (naming nothing of the unit)
    Refusal(VILLAGE, "STAFF", "submitTopic", "", "NOT_FOUND", "UNIT_NOT_FOUND"),
    # the right unit, the wrong role
    Refusal(TOWNSHIP, "AUDITOR", "escalateTopic", "A", "FORBIDDEN", "ROLE_NOT_PERMITTED"),
    Refusal(TOWNSHIP, "AUDITOR", "addComment", "A", "FORBIDDEN", "ROLE_NOT_PERMITTED"),
    Refusal(COUSIN_VILLAGE, "AUDITOR", "determineTopic", "B", "FORBIDDEN", "ROLE_NOT_PERMITTED"),
    Refusal(SIBLING_TOWNSHIP, "AUDITOR", "signTask", "A", "FORBIDDEN", "ROLE_NOT_PERMITTED"),
    Refusal(COUSIN_VILLAGE, "AUDITOR", "submitTopic", "", "FORBIDDEN", "ROLE_NOT_PERMITTED"),
    Refusal(TOWNSHIP, "INTAKE", "addComment", "A", "FORBIDDEN", "ROLE_NOT_PERMITTED"),
    Refusal(TOWNSHIP, "HANDLER", "escalateTopic", "A", "FORBIDDEN", "ROLE_NOT_PERMITTED"),
    Refusal(COUNTY, "STAFF", "takeOverTopic", "A", "FORBIDDEN", "ROLE_NOT_PERMITTED"),
    Refusal(COUSIN_VILLAGE, "MEMBER", "acceptTransfer", "D", "FORBIDDEN", "ROLE_NOT_PERMITTED"),
]


def _input(world: World, refusal: Refusal, topic_id: str | None = None) -> dict[str, Any]:
    values = dict(MUTATION_INPUTS[refusal.name][1])
    if refusal.name == "submitTopic":
        values["locationUnit"] = COUSIN_VILLAGE
    elif refusal.name == "mergeTopic":
        source, into = refusal.topic.split(">")
        values["topicId"] = world.topic_ids[source]
        values["intoTopicId"] = topic_id or world.topic_ids[into]
    else:
        values["topicId"] = topic_id or world.topic_ids[refusal.topic]
    return values


def _refusal_id(refusal: Refusal) -> str:
    return f"{refusal.name}-{refusal.topic or 'new'}-{refusal.unit}-{refusal.role}"


@pytest.mark.parametrize("refusal", REFUSALS, ids=_refusal_id)
def test_a_refused_command_records_nothing(world: World, refusal: Refusal) -> None:
    session = world.session(refusal.unit, refusal.role)
    query = COMMAND.format(name=refusal.name, type=MUTATION_INPUTS[refusal.name][0])
    head = world.head()
    refused = session.refusal(query, input=_input(world, refusal))
    assert codes(refused) == [(refusal.code, refusal.rule)]
    assert refused.data is None
    assert world.head() == head, "a refused command recorded an event"
    if refusal.rule == "TOPIC_NOT_FOUND":
        hidden = refusal.topic.split(">")[-1]
        tid = world.topic_ids[hidden]
        message = (refused.errors or [{}])[0]["message"]
        assert_hidden_in(message, world, tid)
        # word for word what a topic that never existed gets
        missing = str(uuid.uuid4())
        unknown = session.refusal(query, input=_input(world, refusal, missing))
        assert codes(unknown) == [NOT_FOUND]
        assert message.replace(tid, "<id>") == (unknown.errors or [{}])[0]["message"].replace(
            missing, "<id>"
        )
        assert world.head() == head


# -- tokens ----------------------------------------------------------------------------

SCHEMA = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text())


def _sample(type_: GraphQLInputType, world: World) -> Any:
    """A well-formed value of an input type (for requests that must fail on the token)."""
    if isinstance(type_, GraphQLNonNull):
        return _sample(type_.of_type, world)
    if isinstance(type_, GraphQLList):
        return [_sample(type_.of_type, world)]
    if isinstance(type_, GraphQLInputObjectType):
        return {
            name: _sample(f.type, world)
            for name, f in type_.fields.items()
            if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
        }
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    assert isinstance(type_, GraphQLScalarType)
    return {
        "ID": world.node_ids["A"],
        "String": VILLAGE,
        "Int": 1,
        "Float": 1.0,
        "Boolean": True,
        "DateTime": _future(3),
        "JSON": {},
    }[type_.name]


def _root_request(operation: str, name: str, root: GraphQLField, world: World) -> dict[str, Any]:
    required = {arg: a.type for arg, a in root.args.items() if isinstance(a.type, GraphQLNonNull)}
    declared = ", ".join(f"${arg}: {t}" for arg, t in required.items())
    passed = ", ".join(f"{arg}: ${arg}" for arg in required)
    query = (
        f"{operation}{f'({declared})' if declared else ''}"
        f" {{ {name}{f'({passed})' if passed else ''} {{ __typename }} }}"
    )
    return {"query": query, "variables": {arg: _sample(t, world) for arg, t in required.items()}}


ROOT_FIELDS = [("query", name) for name in SCHEMA.query_type.fields] + [  # type: ignore[union-attr]
    ("mutation", name)
    for name in SCHEMA.mutation_type.fields  # type: ignore[union-attr]
]


def _post(world: World, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return world.http.post(world.live.url + "/graphql", json=body, headers=headers)


def test_without_a_token_every_root_field_is_unauthenticated(world: World) -> None:
    assert len(ROOT_FIELDS) > 35
    head = world.head()
    wrong = {}
    for operation, name in ROOT_FIELDS:
        root_type = SCHEMA.query_type if operation == "query" else SCHEMA.mutation_type
        assert root_type is not None
        body = _root_request(operation, name, root_type.fields[name], world)
        for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
            response = _post(world, body, headers)
            errors = response.json().get("errors") or [{}]
            got = [(e.get("extensions") or {}).get("code") for e in errors]
            rules = {(e.get("extensions") or {}).get("rule") for e in errors}
            if (
                response.status_code != 200
                or got != ["UNAUTHENTICATED"]
                or rules != {"TOKEN_MISSING"}
            ):
                wrong[(name, str(headers))] = (response.status_code, response.text[:300])
            assert not any((response.json().get("data") or {}).values()), name
    assert wrong == {}
    assert world.head() == head


ME = "{ me { userId unit { code } } }"
COMMENT = COMMAND.format(name="addComment", type="CommentInput")


@pytest.mark.parametrize(
    ("label", "rule"),
    [
        ("expired hours ago", "TOKEN_EXPIRED"),
        ("expired a second ago", "TOKEN_EXPIRED"),
        ("signed with another secret", "TOKEN_INVALID"),
        ("not a token", "TOKEN_INVALID"),
        ("tampered unit", "TOKEN_INVALID"),
    ],
)
def test_a_bad_token_is_unauthenticated(world: World, label: str, rule: str) -> None:
    tokens = world.live.server.state.tokens
    now = datetime.now(UTC)
    token = {
        "expired hours ago": tokens.issue(TOWNSHIP, [Role.STAFF], now=now - timedelta(hours=9)),
        "expired a second ago": tokens.issue(
            TOWNSHIP, [Role.STAFF], ttl=timedelta(seconds=1), now=now - timedelta(seconds=2)
        ),
        "signed with another secret": TokenService("x" * 40, None).issue(TOWNSHIP, [Role.STAFF]),
        "not a token": "not-a-jwt",
        "tampered unit": _tampered(tokens.issue(VILLAGE, [Role.STAFF])),
    }[label]
    head = world.head()
    with GraphQLSession(world.live.url, {"Authorization": f"Bearer {token}"}) as session:
        for query, variables in (
            (ME, {}),
            (TOPIC, {"id": world.topic_ids["A"]}),
            (LISTS, {}),
            (COMMENT, {"input": {"topicId": world.topic_ids["A"], "text": "过期了"}}),
        ):
            refused = session.refusal(query, **variables)
            assert set(codes(refused)) == {("UNAUTHENTICATED", rule)}, (label, query)
            # nothing is answered: a nullable root field (topic) reads null
            assert not any((refused.data or {}).values()), (label, query)
            assert_hidden_in(str(refused.errors), world)
    assert world.head() == head


def _tampered(token: str) -> str:
    """The token with its payload's unit swapped for the province (signature kept)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["unit"] = PROVINCE
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def test_every_response_reports_where_the_read_models_stand(world: World) -> None:
    head = world.head()
    for headers in (world.live.headers(COUNTY), world.live.headers(SIBLING_VILLAGE), {}):
        for body in (
            {"query": LISTS},
            {"query": TOPIC, "variables": {"id": world.topic_ids["A"]}},
            {"query": TIMELINE, "variables": {"id": world.topic_ids["C"]}},
        ):
            answer = _post(world, body, headers).json()
            if not headers:  # the global head is nothing for a caller without a token
                assert "readModels" not in answer.get("extensions", {}), answer
                continue
            extensions = answer["extensions"]["readModels"]
            assert extensions == {"position": head, "head": head, "lag": 0}
