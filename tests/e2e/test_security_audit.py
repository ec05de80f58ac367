"""Issue 15, items 2 and 14 (part): the auditors' reads see no more than the caller, and
`linkage audit … | head` ends without a traceback.

Item 2, over real HTTP: a village of county B (FAR_VILLAGE, under SIBLING_COUNTY) is
involved in four topics of county A (located at VILLAGE, under COUNTY), each in one
way — co-organiser, task handler, pending transfer target, former holder (it held
the topic and sent it on) — and has one topic of its own. County B's auditors and
leaders exporting their village must get only what their own token sees through
`topic(id)`: the village's own topic, all of it, and nothing of county A's (whose
comments are internal). Whoever may see a topic gets it whole.

Item 14, with real processes: `linkage audit export`/`history` writing into a pipe
whose reader takes one line and closes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from domain.topic_commands import (
    AcceptTransfer,
    AddComment,
    AssignTask,
    DelegateTopic,
    DetermineTopic,
    EscalateTopic,
    InviteCoOrganizer,
    RecordDeliberation,
    ScheduleDeliberation,
)
from tests.e2e.conftest import Live
from tests.utils.factories import (
    CITY,
    COUNTY,
    FAR_TOWNSHIP,
    FAR_VILLAGE,
    FULL_PANEL,
    PROVINCE,
    SIBLING_COUNTY,
    SIBLING_VILLAGE,
    VILLAGE,
    staff,
    submission,
)
from tests.utils.graphql import GraphQLSession, live_small_slice

INTERNAL = "内部意见：此事暂不对外，涉及区财政预算调整"
INVOLVEMENTS = ("co-organiser", "task handler", "transfer target", "former holder")
TOPIC = "query($id: ID!) { topic(id: $id) { topicId timeline(first: 100) { totalCount } } }"
LONG_COMMENTS, LONG_TEXT = 40, "居民反映" * 1500  # about 720 kB in all: far beyond a pipe


@dataclass
class World:
    live: Live
    client: httpx.Client
    involved: dict[str, uuid.UUID]  # county A's topics, by FAR_VILLAGE's involvement
    own: uuid.UUID  # FAR_VILLAGE's own topic
    long: uuid.UUID  # a topic of many long comments (the pipe tests)
    sessions: dict[tuple[str, str], GraphQLSession] = field(default_factory=dict)

    def export(self, as_unit: str, role: str, unit: str) -> list[dict[str, object]]:
        response = self.client.get(
            f"{self.live.url}/api/v1/audit/export",
            params={"unit": unit, "format": "jsonl"},
            headers=self.live.headers(as_unit, role),
        )
        assert response.status_code == 200, response.text
        return [json.loads(line) for line in response.text.splitlines()]

    def history(self, as_unit: str, role: str, topic: uuid.UUID) -> httpx.Response:
        return self.client.get(
            f"{self.live.url}/api/v1/topics/{topic}/history",
            headers=self.live.headers(as_unit, role),
        )

    def seen(self, as_unit: str, role: str, topic: uuid.UUID) -> int | None:
        """The events `topic(id)` shows this token (None: the topic reads as null)."""
        session = self.sessions.get((as_unit, role))
        if session is None:
            session = self.sessions[as_unit, role] = GraphQLSession(
                self.live.url, self.live.headers(as_unit, role)
            )
        found = session.run(TOPIC, id=str(topic))["topic"]
        return None if found is None else int(found["timeline"]["totalCount"])

    @property
    def topics(self) -> list[uuid.UUID]:
        return [*self.involved.values(), self.own, self.long]


def build(live: Live, client: httpx.Client) -> World:
    runtime = live.server.state.runtime
    app = runtime.app
    now = datetime.now(UTC)
    village, city, far = staff(VILLAGE), staff(CITY), staff(FAR_VILLAGE)

    def submit(location: str, title: str) -> uuid.UUID:
        return app.submit_topic(staff(location), **submission(location, title=title)).topic_id

    co = submit(VILLAGE, "城关区议题：协办")
    app.handle(village, InviteCoOrganizer(topic_id=co, unit=FAR_VILLAGE, note="请下西园社区协办"))
    app.handle(village, AddComment(topic_id=co, text=INTERNAL))

    task = submit(VILLAGE, "城关区议题：承办任务")
    app.handle(village, DetermineTopic(topic_id=task))
    meeting = app.handle(
        village,
        ScheduleDeliberation(
            topic_id=task,
            scheduled_at=now + timedelta(days=1),
            place="社区议事厅",
            format="议事协商会",
            participants=FULL_PANEL,
        ),
    ).created_id
    assert meeting is not None
    app.handle(
        village,
        RecordDeliberation(
            topic_id=task,
            meeting_id=meeting,
            attendance=[str(p["name"]) for p in FULL_PANEL],
            minutes="同意分工办理。",
            recommendations=["整改"],
        ),
    )
    app.handle(
        village,
        AssignTask(
            topic_id=task,
            handler_unit=FAR_VILLAGE,
            handler="下西园社区",
            requirement="按协商建议办理",
            due=now + timedelta(days=30),
        ),
    )
    app.handle(village, AddComment(topic_id=task, text=INTERNAL))

    def sent_to_far_village(title: str) -> uuid.UUID:
        topic = submit(VILLAGE, title)
        app.handle(
            village, EscalateTopic(topic_id=topic, to_unit=CITY, reason="跨区协调，需市级统筹")
        )
        app.handle(city, AcceptTransfer(topic_id=topic))
        app.handle(
            city,
            DelegateTopic(topic_id=topic, to_unit=FAR_VILLAGE, instructions="请下西园社区协助办理"),
        )
        app.handle(city, AddComment(topic_id=topic, text=INTERNAL))
        return topic

    pending = sent_to_far_village("城关区议题：待接收的交办")
    former = sent_to_far_village("城关区议题：曾经承接")
    app.handle(far, AcceptTransfer(topic_id=former, note="社区受理"))
    app.handle(
        far, EscalateTopic(topic_id=former, to_unit=CITY, reason="社区无力解决，退回市级统筹")
    )
    app.handle(city, AcceptTransfer(topic_id=former))
    app.handle(city, AddComment(topic_id=former, text=INTERNAL + "（移交之后）"))

    own = submit(FAR_VILLAGE, "七里河区议题：下西园农贸市场占道经营")
    app.handle(far, EscalateTopic(topic_id=own, reason="需街道协调执法"))
    app.handle(staff(FAR_TOWNSHIP), AcceptTransfer(topic_id=own))
    app.handle(staff(FAR_TOWNSHIP), AddComment(topic_id=own, text="街道已安排执法队"))

    long = submit(SIBLING_VILLAGE, "城关区议题：长篇意见")
    for n in range(LONG_COMMENTS):
        app.handle(staff(SIBLING_VILLAGE), AddComment(topic_id=long, text=f"{n}：{LONG_TEXT}"))

    runtime.projections.wait_for(app.head_position(), timeout=60)
    involved = dict(zip(INVOLVEMENTS, (co, task, pending, former), strict=True))
    return World(live, client, involved, own, long)


@pytest.fixture(scope="module")
def world(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("security-audit") / "home"
    with live_small_slice(pg_admin, home) as live, httpx.Client(timeout=60) as client:
        built = build(live, client)
        try:
            yield built
        finally:
            for session in built.sessions.values():
                session.close()


def events_by_topic(rows: list[dict[str, object]]) -> dict[str, list[object]]:
    found: dict[str, list[object]] = {}
    for row in rows:
        found.setdefault(str(row["topic_id"]), []).append(row["version"])
    return found


# -- item 2: an export is what the caller sees ------------------------------------------


@pytest.mark.parametrize("involvement", INVOLVEMENTS)
@pytest.mark.parametrize("role", ["AUDITOR", "LEADER"])
def test_a_foreign_county_exporting_its_involved_village_gets_none_of_that_topic(
    world: World, involvement: str, role: str
) -> None:
    topic = world.involved[involvement]
    # the village itself is involved, so it sees the topic; its county does not
    assert world.seen(FAR_VILLAGE, "STAFF", topic) is not None
    assert world.seen(SIBLING_COUNTY, role, topic) is None
    assert world.history(SIBLING_COUNTY, role, topic).status_code == 404

    rows = world.export(SIBLING_COUNTY, role, FAR_VILLAGE)
    text = json.dumps(rows, ensure_ascii=False)
    assert str(topic) not in text
    assert INTERNAL not in text
    # exactly what the token sees through topic(id), and each topic whole
    assert events_by_topic(rows) == {
        str(world.own): list(range(1, int(world.seen(SIBLING_COUNTY, role, world.own) or 0) + 1))
    }


def test_every_export_is_the_exported_units_topics_that_the_token_sees_through_topic_id(
    world: World,
) -> None:
    cases = [
        (SIBLING_COUNTY, FAR_TOWNSHIP),
        (SIBLING_COUNTY, SIBLING_COUNTY),
        (FAR_TOWNSHIP, FAR_VILLAGE),
        (FAR_VILLAGE, FAR_VILLAGE),  # the village's own auditor: its involvements too
        (CITY, FAR_VILLAGE),  # the city sees county A's topics: the village's all
        (PROVINCE, PROVINCE),
        (COUNTY, VILLAGE),
    ]
    for viewer, unit in cases:
        exported = events_by_topic(world.export(viewer, "AUDITOR", unit))
        expected: dict[str, list[object]] = {}
        for topic in world.topics:
            by_viewer = world.seen(viewer, "AUDITOR", topic)
            by_unit = world.seen(unit, "AUDITOR", topic)
            if by_viewer is not None and by_unit is not None:
                expected[str(topic)] = list(range(1, by_viewer + 1))
        assert exported == expected, (viewer, unit)
    everything = events_by_topic(world.export(CITY, "AUDITOR", FAR_VILLAGE))
    assert set(everything) == {str(t) for t in [*world.involved.values(), world.own]}


def test_a_county_auditors_own_subtree_is_exported_completely_internal_comments_included(
    world: World,
) -> None:
    rows = world.export(COUNTY, "AUDITOR", COUNTY)
    topics = events_by_topic(rows)
    assert set(topics) == {str(t) for t in [*world.involved.values(), world.long]}
    for topic in world.involved.values():
        assert topics[str(topic)] == list(
            range(1, int(world.seen(COUNTY, "AUDITOR", topic) or 0) + 1)
        )
        history = world.history(COUNTY, "AUDITOR", topic)
        assert history.status_code == 200, history.text
        assert [h["version"] for h in history.json()["history"]] == topics[str(topic)]
    assert sum(INTERNAL in json.dumps(r["data"], ensure_ascii=False) for r in rows) == 5


# -- item 14: a reader that closes the pipe early ---------------------------------------


def cli_env(world: World) -> dict[str, str]:
    """The environment of a `linkage` process on the world's database."""
    runtime = world.live.server.state.runtime
    return {
        **os.environ,
        "LINKAGE_DATABASE_URL": runtime.database.conninfo_url,
        "LINKAGE_HOME": str(runtime.settings.home),
        "LINKAGE_SECRET": "a-test-signing-secret-of-32-chars-or-more",
    }


def run_into_closing_reader(world: World, *args: str) -> tuple[bytes, int, str]:
    """Run `linkage audit ARGS` with its output piped into a reader that takes one line
    and closes the pipe; (that line, exit status, standard error)."""
    with subprocess.Popen(
        [sys.executable, "-m", "api.entry.cli", "audit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(world),
        cwd=Path(__file__).resolve().parents[2],
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        line = process.stdout.readline()
        process.stdout.close()  # the reader goes away, as `head -1` does
        stderr = process.stderr.read().decode("utf-8")
        status = process.wait(timeout=300)
    return line, status, stderr


@pytest.mark.parametrize(
    "args",
    [
        ["export", "--unit", PROVINCE, "--format", "jsonl"],
        ["export", "--unit", PROVINCE, "--format", "csv"],
        ["history", "{long}"],
        ["history", "{long}", "--format", "json"],
        ["history", "{long}", "--format", "csv"],
    ],
    ids=["export-jsonl", "export-csv", "history-text", "history-json", "history-csv"],
)
def test_audit_output_piped_into_a_reader_that_closes_early_ends_in_one_line_and_status_1(
    world: World, args: list[str]
) -> None:
    line, status, stderr = run_into_closing_reader(
        world, *(a.format(long=world.long) for a in args)
    )
    assert line  # it did write
    assert "Traceback" not in stderr, stderr
    assert "BrokenPipeError" not in stderr
    assert "Exception ignored" not in stderr
    errors = [s for s in stderr.splitlines() if s.startswith("linkage: error:")]
    assert errors == [
        "linkage: error: standard output was closed before the output was complete (broken pipe)"
    ], stderr
    assert status == 1


def test_audit_output_read_to_the_end_still_exits_0(world: World) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.entry.cli",
            "audit",
            "history",
            str(world.long),
            "--format",
            "json",
        ],
        env=cli_env(world),
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["history"]) == LONG_COMMENTS + 1
    assert b"error" not in done.stderr
