"""Submitters' personal data end to end (PIPL, DESIGN §10): sealed per person, read
only by the owning unit's staff and leaders over GraphQL, found and erased with
`linkage privacy` as an operator runs it; afterwards no query and no table holds
the name or phone in clear, while the history still replays unchanged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from infra.bootstrap import Runtime
from infra.secret import signing_secret
from tests.e2e.conftest import Live
from tests.utils.factories import SIBLING_VILLAGE, TOWNSHIP, VILLAGE
from tests.utils.graphql import GraphQLSession

NAME, PHONE = "赵秀兰", "13800138000"
OTHER_NAME, OTHER_PHONE = "钱多多", "13900139000"
TITLE = "畅家巷6号楼二次供水水压不足"

SUBMIT = (
    "mutation($input: SubmitTopicInput!) { submitTopic(input: $input) {"
    " position topic { topicId } } }"
)
SUBMITTED = (
    "query($t: ID!, $p: Int) { topic(id: $t, consistentWith: $p) {"
    " timeline(first: 1) { edges { node { type data } } } } }"
)
TOPIC_TIMELINE = (
    "query($t: ID!, $at: DateTime) { topic(id: $t, asOf: $at) { title version asOf"
    " timeline(first: 1) { edges { node { type data } } } } }"
)


def submit(session: GraphQLSession, title: str, name: str, phone: str) -> tuple[str, int]:
    done = session.run(
        SUBMIT,
        input={
            "title": title,
            "description": "6号楼高层住户早晚用水高峰水压不足，热水器无法点火。",
            "category": "供水",
            "source": "HOTLINE_12345",
            "locationUnit": VILLAGE,
            "submitterName": name,
            "submitterPhone": phone,
        },
    )["submitTopic"]
    return done["topic"]["topicId"], done["position"]


def submitter(session: GraphQLSession, topic: str, position: int) -> Any:
    """The TopicSubmitted event's `submitter` as this session sees it (TypeError if the
    topic is invisible to it)."""
    edges = session.run(SUBMITTED, t=topic, p=position)["topic"]["timeline"]["edges"]
    assert edges[0]["node"]["type"] == "TopicSubmitted"
    return edges[0]["node"]["data"]["submitter"]


def linkage(runtime: Runtime, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LINKAGE_DATABASE_URL": runtime.database.conninfo_url,
        "LINKAGE_HOME": str(home),
        "LINKAGE_SECRET": signing_secret(runtime.settings),
    }
    return subprocess.run(
        [sys.executable, "-m", "api.entry.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tables_containing(runtime: Runtime, text: str) -> list[str]:
    """Every user table with a row whose text contains `text`, in clear or as the
    hex of its UTF-8 bytes (how a bytea column such as the events' state prints)."""
    found = []
    with psycopg.connect(runtime.database.conninfo, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert len(tables) >= 5
        for schema, table in tables:
            query = sql.SQL(
                "SELECT count(*) FROM {}.{} t WHERE t::text LIKE %s OR t::text LIKE %s"
            ).format(sql.Identifier(schema), sql.Identifier(table))
            row = conn.execute(query, (f"%{text}%", f"%{text.encode().hex()}%")).fetchone()
            if row and row[0]:
                found.append(f"{schema}.{table}")
    return found


def stored_events(runtime: Runtime) -> list[tuple[Any, ...]]:
    with psycopg.connect(runtime.database.conninfo, autocommit=True) as conn:
        return conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM linkage_events ORDER BY notification_id"
        ).fetchall()


@pytest.fixture
def sessions(live: Live) -> Iterator[dict[str, GraphQLSession]]:
    made = {
        "village": GraphQLSession(live.url, live.headers(VILLAGE)),
        "village_leader": GraphQLSession(live.url, live.headers(VILLAGE, "LEADER")),
        "village_member": GraphQLSession(live.url, live.headers(VILLAGE, "MEMBER")),
        "village_auditor": GraphQLSession(live.url, live.headers(VILLAGE, "AUDITOR")),
        "township": GraphQLSession(live.url, live.headers(TOWNSHIP)),
        "sibling": GraphQLSession(live.url, live.headers(SIBLING_VILLAGE)),
    }
    yield made
    for session in made.values():
        session.close()


def test_the_owning_unit_reads_the_submitter_and_an_erased_person_is_gone_everywhere(
    live: Live, sessions: dict[str, GraphQLSession], tmp_path: Path
) -> None:
    runtime = live.server.state.runtime
    village = sessions["village"]
    first, _ = submit(village, TITLE, NAME, PHONE)
    second, _ = submit(village, "畅家巷路灯不亮", "赵大妈", "+86 138-0013-8000")  # same phone
    other, position = submit(village, "张家园垃圾清运不及时", OTHER_NAME, OTHER_PHONE)
    submitted_at = datetime.now(UTC)

    # the owning unit's staff and leaders read name and phone; the others do not
    shown = submitter(village, first, position)
    assert (shown["name"], shown["phone"], shown["erased"]) == (NAME, PHONE, False)
    person = shown["personId"]
    assert re.fullmatch(r"p-[0-9a-f]{32}", person)
    assert submitter(sessions["village_leader"], second, position)["personId"] == person
    assert submitter(sessions["village_leader"], second, position)["name"] == "赵大妈"
    assert submitter(village, other, position)["personId"] != person
    for role in ("village_member", "village_auditor", "township"):  # they see the topic
        assert submitter(sessions[role], first, position) is None, role
    assert sessions["sibling"].run(SUBMITTED, t=first, p=position)["topic"] is None

    # nothing holds the clear text, though the scan finds what is stored in clear
    assert "public.linkage_events" in tables_containing(runtime, TITLE)
    assert "public.timeline_events" in tables_containing(runtime, TITLE)
    for secret in (NAME, PHONE, OTHER_NAME, OTHER_PHONE):
        assert tables_containing(runtime, secret) == [], secret

    # staff find the person by the phone they are given, then erase them
    found = linkage(runtime, tmp_path, "privacy", "find", "--phone", "138 0013 8000")
    assert found.returncode == 0, found.stderr
    assert f"person {person}" in found.stdout
    assert "topics: 2" in found.stdout
    assert TITLE in found.stdout
    assert " live" in found.stdout
    assert re.search(r"created \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+08:00  live", found.stdout)
    events_before = stored_events(runtime)

    erased = linkage(runtime, tmp_path, "privacy", "erase", "--person", person)
    assert erased.returncode == 0, erased.stderr
    assert f"erased person {person}: 1 key(s) destroyed" in erased.stdout
    assert "on 2 topic(s) are now unreadable (已删除)" in erased.stdout
    with psycopg.connect(runtime.database.conninfo, autocommit=True) as conn:
        keys = conn.execute(
            "SELECT key IS NULL, erased_at IS NOT NULL FROM privacy_keys WHERE person_id = %s",
            (person,),
        ).fetchall()
    assert keys == [(True, True)]  # the row stays, the key material is gone

    # the owner now sees the fields as erased; the other person is untouched
    gone = submitter(village, first, position)
    assert gone == {"personId": person, "name": None, "phone": None, "erased": True}
    assert submitter(village, second, position)["erased"] is True
    assert submitter(village, other, position)["name"] == OTHER_NAME

    # the history is the same rows, it still replays, asOf still answers
    assert stored_events(runtime) == events_before
    check_history_after_erasure(runtime, village, first, person, submitted_at)

    # erasing again is harmless; a new submission by the same phone gets a fresh key
    again = linkage(runtime, tmp_path, "privacy", "erase", "--person", person)
    assert again.returncode == 0, again.stderr
    assert "was erased before" in again.stdout
    later, position = submit(village, "畅家巷6号楼再次停水", NAME, PHONE)
    fresh = submitter(village, later, position)
    assert (fresh["personId"], fresh["name"], fresh["erased"]) == (person, NAME, False)
    assert submitter(village, first, position)["erased"] is True  # the old key stays gone


def check_history_after_erasure(
    runtime: Runtime, village: GraphQLSession, first: str, person: str, submitted_at: datetime
) -> None:
    history = runtime.app.history(uuid.UUID(first))
    assert history[0].data["submitter"]["person_id"] == person  # sealed, never clear
    assert runtime.app.get_topic(uuid.UUID(first)).title == TITLE
    past = village.run(
        TOPIC_TIMELINE, t=first, at=(submitted_at + timedelta(seconds=1)).isoformat()
    )
    assert past["topic"]["title"] == TITLE
    assert past["topic"]["asOf"] is not None
    assert past["topic"]["timeline"]["edges"][0]["node"]["data"]["submitter"]["erased"] is True


def test_after_an_escalation_the_new_owner_reads_the_submitter_and_the_old_does_not(
    live: Live, sessions: dict[str, GraphQLSession]
) -> None:
    village, township = sessions["village"], sessions["township"]
    topic, _ = submit(village, TITLE, NAME, PHONE)
    village.run(
        "mutation($i: EscalateTopicInput!) { escalateTopic(input: $i) { position } }",
        i={"topicId": topic, "reason": "涉及管网改造，社区无力解决"},
    )
    accepted = township.run(
        "mutation($i: TopicNoteInput!) { acceptTransfer(input: $i) { position } }",
        i={"topicId": topic, "note": "街道受理"},
    )["acceptTransfer"]["position"]

    assert submitter(township, topic, accepted)["name"] == NAME
    assert submitter(village, topic, accepted) is None


def test_the_cli_refuses_a_bad_or_unknown_person_in_one_line(live: Live, tmp_path: Path) -> None:
    runtime = live.server.state.runtime
    bad = linkage(runtime, tmp_path, "privacy", "erase", "--person", PHONE)
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "linkage: error: INVALID_PERSON_ID: a person id is 'p-' and 32 hex digits"
        f" (see `linkage privacy find`), not '{PHONE}'"
    )
    unknown = linkage(runtime, tmp_path, "privacy", "erase", "--person", "p-" + "0" * 32)
    assert unknown.returncode == 1
    assert "PERSON_NOT_FOUND" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    nobody = linkage(runtime, tmp_path, "privacy", "find", "--phone", OTHER_PHONE)
    assert nobody.returncode == 0, nobody.stderr
    assert "no key: nothing of this person is kept" in nobody.stdout
    assert "topics: 0" in nobody.stdout
    empty = linkage(runtime, tmp_path, "privacy", "find")
    assert empty.returncode == 1
    assert "PERSON_QUERY_EMPTY" in empty.stderr
