"""A store of interleaved topic histories, and tampering done directly in PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from domain.topic_commands import AcceptTransfer, AddComment, EscalateTopic
from infra.bootstrap import Runtime
from infra.chain import GENESIS_HASH, content_hash, link_hash
from tests.utils.factories import (
    COUSIN_VILLAGE,
    SIBLING_TOWNSHIP,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    later,
    staff,
    submission,
)

EVENTS = "linkage_events"
CHAIN = "linkage_events_chain"
HEAD = "linkage_events_chain_head"


@dataclass(frozen=True, slots=True)
class Row:
    position: int
    topic_id: uuid.UUID
    version: int
    topic: str
    state: bytes


def build_store(runtime: Runtime) -> list[uuid.UUID]:
    """Three topics whose events interleave (submit, escalate, accept, comment each)."""
    app = runtime.app
    places = [(VILLAGE, TOWNSHIP), (SIBLING_VILLAGE, TOWNSHIP), (COUSIN_VILLAGE, SIBLING_TOWNSHIP)]
    ids = [
        app.submit_topic(
            staff(village), **submission(village, title=f"第{i}号议题：路灯不亮"), at=later(i)
        ).topic_id
        for i, (village, _) in enumerate(places)
    ]
    for topic_id, (village, _) in zip(ids, places, strict=True):
        app.handle(
            staff(village),
            EscalateTopic(topic_id=topic_id, reason="需街道协调电力公司"),
            at=later(5),
        )
    for topic_id, (_, township) in zip(ids, places, strict=True):
        app.handle(staff(township), AcceptTransfer(topic_id=topic_id), at=later(6))
    for topic_id, (_, township) in zip(ids, places, strict=True):
        app.handle(
            staff(township),
            AddComment(topic_id=topic_id, text="已联系供电所，本周内维修"),
            at=later(7),
        )
    return ids


def rows(conn: psycopg.Connection[Any], topic_id: uuid.UUID | None = None) -> list[Row]:
    where = "" if topic_id is None else " WHERE originator_id = %s"
    return [
        Row(*r)
        for r in conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            f" FROM {EVENTS}{where} ORDER BY notification_id",
            () if topic_id is None else (topic_id,),
        )
    ]


def recompute_chain(conn: psycopg.Connection[Any]) -> tuple[int, bytes]:
    """The chain recomputed in Python from the events table: (last position, head hash)."""
    prev_position, prev_hash = 0, GENESIS_HASH
    for row in rows(conn):
        content = content_hash(row.topic_id, row.version, row.position, row.topic, row.state)
        prev_hash = link_hash(prev_hash, prev_position, content)
        prev_position = row.position
    return prev_position, prev_hash


def chain_entry(conn: psycopg.Connection[Any], position: int) -> dict[str, Any]:
    row = conn.execute(
        f"SELECT prev_position, content_hash, hash FROM {CHAIN} WHERE position = %s", (position,)
    ).fetchone()
    assert row is not None
    return {"prev_position": row[0], "content_hash": row[1], "hash": row[2]}


def forge(
    conn: psycopg.Connection[Any],
    position: int,
    topic_id: uuid.UUID,
    version: int,
    like: Row,
    *,
    after: int | None,
) -> None:
    """Insert an event at `position` (triggers off), chained plausibly after `after`."""
    with conn.transaction():
        conn.execute(f"ALTER TABLE {EVENTS} DISABLE TRIGGER USER")
        conn.execute(
            f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state,"
            " notification_id) VALUES (%s, %s, %s, %s, %s)",
            (topic_id, version, like.topic, like.state, position),
        )
        conn.execute(f"ALTER TABLE {EVENTS} ENABLE TRIGGER USER")
    if after is None:
        return
    prev = chain_entry(conn, after)["hash"]
    content = content_hash(topic_id, version, position, like.topic, like.state)
    conn.execute(
        f"INSERT INTO {CHAIN} VALUES (%s, %s, %s, %s, %s, %s)",
        (position, after, topic_id, version, content, link_hash(prev, after, content)),
    )
