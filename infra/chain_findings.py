"""What `linkage audit verify` reports: the kinds of bad rows and how a row is diagnosed.

The range query of `infra.audit_verify` returns the rows whose checks failed, with
what it saw (the event, its chain entry, the chain row actually before it); these
functions name the row and say what is wrong, in the words of the README's table.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from infra.chain import ChainNames

CONTENT_ALTERED = "content altered"
ROW_MISSING = "row missing"
ROW_INSERTED = "row inserted"
OUT_OF_ORDER = "out of order"
LINK_BROKEN = "chain link broken"
NEWEST_REMOVED = "newest rows removed"
HEAD_BROKEN = "head anchor broken"
ANCHOR_MISMATCH = "rewritten before an anchor"


@dataclass(frozen=True, slots=True)
class BadRow:
    """One row that does not verify, with what is wrong."""

    position: int
    topic_id: uuid.UUID | None
    version: int | None
    problem: str
    detail: str

    def describe(self) -> str:
        topic = str(self.topic_id) if self.topic_id else "(unknown: no trace left)"
        version = str(self.version) if self.version is not None else "?"
        return (
            f"position {self.position}: topic {topic} version {version}: "
            f"{self.problem} — {self.detail}"
        )


def typed(bad: dict[str, Any]) -> dict[str, Any]:
    """A bad row from JSON with its topic ids as UUIDs again."""
    for key in ("event_id", "link_id", "before_id"):
        if bad[key] is not None:
            bad[key] = uuid.UUID(bad[key])
    bad["has_event"] = bad["event_id"] is not None
    bad["has_link"] = bad["link_id"] is not None
    return bad


def diagnose(
    conn: psycopg.Connection[Any], names: ChainNames, row: dict[str, Any], head_position: int
) -> list[BadRow]:
    position = row["position"]
    if not row["has_link"]:
        return [
            BadRow(
                position,
                row["event_id"],
                row["event_version"],
                ROW_INSERTED,
                "the event has no entry in the hash chain (written around the chain)",
            )
        ]
    topic, version = row["link_id"], row["link_version"]
    if position > head_position:
        return [
            BadRow(
                position,
                topic,
                version,
                ROW_INSERTED,
                f"after the head anchor, which records the chain ending at {head_position}",
            )
        ]
    if not row["has_event"]:
        return [
            BadRow(
                position,
                topic,
                version,
                ROW_MISSING,
                "the chain records this event here but the store no longer holds it",
            )
        ]
    if (row["event_id"], row["event_version"]) != (topic, version):
        return [
            BadRow(
                position,
                row["event_id"],
                row["event_version"],
                OUT_OF_ORDER,
                f"the chain recorded topic {topic} version {version} at this position",
            )
        ]
    bad: list[BadRow] = []
    prev, before = row["prev_position"], row["before_position"]
    if prev > before:
        bad.append(
            BadRow(
                prev,
                None,
                None,
                ROW_MISSING,
                f"removed with its chain entry: position {position} (topic {topic} "
                f"version {version}) links back to it, but the chain before it ends at "
                f"{before}"
                + ("" if prev == before + 1 else f" (rows after {before} up to {prev} are gone)"),
            )
        )
    elif prev < before:
        bad.extend(inserted_between(conn, names, prev, position))
    if not row["content_ok"]:
        bad.append(
            BadRow(
                position,
                topic,
                version,
                CONTENT_ALTERED,
                "the stored event no longer matches the content hash recorded when it was written",
            )
        )
    elif not row["link_ok"] and prev == before:
        bad.append(
            BadRow(
                position,
                topic,
                version,
                LINK_BROKEN,
                f"its recorded hash does not follow from the hash of position {before} "
                f"(topic {row['before_id']} version {row['before_version']}): one of the "
                "two chain entries was rewritten",
            )
        )
    return bad


def inserted_between(
    conn: psycopg.Connection[Any], names: ChainNames, prev: int, position: int
) -> list[BadRow]:
    """The chain rows between `position`'s recorded predecessor `prev` and it: forged."""
    rows = conn.execute(
        sql.SQL(
            "SELECT position, originator_id, originator_version FROM {}"
            " WHERE position > %s AND position < %s ORDER BY position"
        ).format(names.chain),
        (prev, position),
    ).fetchall()
    return [
        BadRow(
            r["position"],
            r["originator_id"],
            r["originator_version"],
            ROW_INSERTED,
            f"not in the chain as position {position} recorded it (it links back to {prev})",
        )
        for r in rows
    ]


def check_anchors(
    conn: psycopg.Connection[Any], names: ChainNames, anchors: Sequence[tuple[int, bytes]]
) -> list[BadRow]:
    bad = []
    for position, expected in anchors:
        row = conn.execute(
            sql.SQL(
                "SELECT hash, originator_id, originator_version FROM {} WHERE position = %s"
            ).format(names.chain),
            (position,),
        ).fetchone()
        if row is None:
            bad.append(
                BadRow(
                    position,
                    None,
                    None,
                    ANCHOR_MISMATCH,
                    f"the anchor {position}:{expected.hex()} names a chain entry that is gone",
                )
            )
        elif row["hash"] != expected:
            bad.append(
                BadRow(
                    position,
                    row["originator_id"],
                    row["originator_version"],
                    ANCHOR_MISMATCH,
                    f"the chain entry's hash is {row['hash'].hex()}, the anchor recorded "
                    f"{expected.hex()}: the chain up to here was recomputed",
                )
            )
    return bad


def parse_anchor(text: str) -> tuple[int, bytes]:
    """`POSITION:HASH` as `verify` prints it (the hash as 64 hex digits)."""
    position, _, digits = text.partition(":")
    try:
        value = (int(position), bytes.fromhex(digits))
    except ValueError:
        value = (0, b"")
    if value[0] < 1 or len(value[1]) != 32:
        raise ValueError(
            f"an anchor is POSITION:HASH, a position ≥ 1 and 64 hex digits, not {text!r}"
        )
    return value
