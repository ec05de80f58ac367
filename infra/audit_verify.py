"""`linkage audit verify`: recompute the hash chain of the whole store and name each bad row.

Each link is checked on its own, in SQL, over one range of positions at a time (all
ranges read in one REPEATABLE READ snapshot, so a store that is being written to
verifies as of one instant): the row's content against its recorded content hash,
its recorded predecessor against the chain row actually before it, and its hash
against SHA-256(predecessor's hash ‖ predecessor's position ‖ content hash). Only
bad rows and one summary row per range come back to Python, so the rate is set by
PostgreSQL's scan and SHA-256, not by Python. The head anchor is checked last.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from domain.errors import LinkageError
from infra.chain import EVENTS_TABLE, GENESIS_HASH, ChainNames, content_hash_sql
from infra.chain_findings import (
    HEAD_BROKEN,
    NEWEST_REMOVED,
    BadRow,
    check_anchors,
    diagnose,
    typed,
)

BATCH = 20_000  # positions per range
WORKERS = 2  # connections checking ranges side by side


@dataclass(slots=True)
class VerifyReport:
    start: int
    end: int = 0
    events: int = 0
    streams: int = 0  # aggregates whose first event lies in the checked range
    links: int = 0
    head_position: int = 0
    head_hash: bytes = b""
    head_count: int = 0
    seconds: float = 0.0
    bad: list[BadRow] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.bad

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        span = (
            "the whole store"
            if self.start <= 1
            else f"positions {self.start:,} to {max(self.end, self.start):,}"
        )
        return (
            f"{self.events:,} events of {self.streams:,} topics and hierarchy records "
            f"({span}); head position {self.head_position:,}, "
            f"{self.head_count:,} events chained, hash {self.head_hash.hex()}; "
            f"{self.seconds:.1f} s, {self.events_per_s:,.0f} events/s"
        )


@dataclass(slots=True)
class _Carry:
    """The last chain row before the range being checked."""

    position: int = 0
    hash: bytes = GENESIS_HASH
    topic_id: uuid.UUID | None = None
    version: int | None = None


class ChainMissingError(LinkageError):
    """The store has no hash chain tables (dropped, or never opened by this version)."""

    def __init__(self, message: str) -> None:
        super().__init__("CHAIN_MISSING", message)


def verify_chain(
    conninfo: str,
    *,
    start: int = 1,
    batch: int = BATCH,
    workers: int = WORKERS,
    progress: Callable[[int], object] | None = None,
    total: Callable[[int], object] | None = None,
    anchors: Sequence[tuple[int, bytes]] = (),
    schema: str = "public",
    events_table: str = EVENTS_TABLE,
) -> VerifyReport:
    """Check the chain from position `start` (the link into it is trusted) to the head.

    The ranges are checked by `workers` connections sharing one snapshot. `anchors`
    are (position, hash) pairs an auditor kept from an earlier run: the chain must
    still pass through them, which a rewrite of the whole chain up to there cannot.
    """
    names = ChainNames(schema, events_table)
    report = VerifyReport(start=max(start, 1))
    began = time.perf_counter()
    with psycopg.connect(conninfo, row_factory=dict_row) as leader:
        leader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        leader.read_only = True
        with leader.transaction():
            _check_installed(leader, schema, events_table)
            row = leader.execute("SELECT pg_export_snapshot() AS snapshot").fetchone()
            snapshot = str(row["snapshot"]) if row else ""
            head = leader.execute(
                sql.SQL("SELECT * FROM {} WHERE id = 1").format(names.head)
            ).fetchone()
            end = report.end = _end(leader, names, head)
            if total:
                total(max(end - report.start + 1, 0))
            head_position = int(head["position"]) if head else end
            spans = [(lo, min(lo + batch, end + 1)) for lo in range(report.start, end + 1, batch)]
            for events, streams, links, bad in _check_spans(
                conninfo, snapshot, names, spans, head_position, workers, progress
            ):
                report.events += events
                report.streams += streams
                report.links += links
                report.bad.extend(bad)
            _check_head(head, _carry_before(leader, names, end + 1), report)
            report.bad.extend(check_anchors(leader, names, anchors))
    report.bad.sort(key=lambda b: b.position)
    report.seconds = time.perf_counter() - began
    return report


_SpanResult = tuple[int, int, int, list[BadRow]]


def _check_spans(
    conninfo: str,
    snapshot: str,
    names: ChainNames,
    spans: list[tuple[int, int]],
    head_position: int,
    workers: int,
    progress: Callable[[int], object] | None,
) -> list[_SpanResult]:
    query = _range_query(names)
    idle: queue.Queue[psycopg.Connection[dict[str, Any]]] = queue.Queue()
    lock = threading.Lock()
    opened: list[psycopg.Connection[dict[str, Any]]] = []

    def check(span: tuple[int, int]) -> _SpanResult:
        conn = idle.get()
        try:
            result = _check_range(conn, names, query, span, head_position)
        finally:
            idle.put(conn)
        if progress:
            with lock:
                progress(span[1] - span[0])
        return result

    try:
        for _ in range(max(1, min(workers, len(spans)))):
            conn = psycopg.connect(conninfo, row_factory=dict_row, autocommit=True)
            opened.append(conn)
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            # each range is a merge of the two primary keys in position order, in memory
            conn.execute("SET LOCAL work_mem = '64MB'")
            conn.execute("SET LOCAL enable_hashjoin = off")
            conn.execute("SET LOCAL enable_bitmapscan = off")
            idle.put(conn)
        with ThreadPoolExecutor(max_workers=len(opened) or 1) as pool:
            return list(pool.map(check, spans))
    finally:
        for conn in opened:
            conn.close()


def _check_installed(conn: psycopg.Connection[Any], schema: str, events_table: str) -> None:
    names = [events_table, f"{events_table}_chain", f"{events_table}_chain_head"]
    found = {
        row["relname"]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = ANY(%s)",
            (schema, names),
        )
    }
    missing = [n for n in names if n not in found]
    if missing:
        raise ChainMissingError(
            f"the store has no hash chain: table(s) {', '.join(missing)} missing in schema "
            f"{schema!r}; any linkage command that opens the store installs it"
        )


def _end(conn: psycopg.Connection[Any], names: ChainNames, head: dict[str, Any] | None) -> int:
    row = conn.execute(
        sql.SQL(
            "SELECT greatest((SELECT max(notification_id) FROM {table}),"
            " (SELECT max(position) FROM {chain}), %s::bigint) AS end"
        ).format(table=names.table, chain=names.chain),
        (head["position"] if head else 0,),
    ).fetchone()
    return int(row["end"] or 0) if row else 0


def _carry_before(conn: psycopg.Connection[Any], names: ChainNames, start: int) -> _Carry:
    row = conn.execute(
        sql.SQL(
            "SELECT position, hash, originator_id, originator_version FROM {}"
            " WHERE position < %s ORDER BY position DESC LIMIT 1"
        ).format(names.chain),
        (start,),
    ).fetchone()
    if row is None:
        return _Carry()
    return _Carry(row["position"], row["hash"], row["originator_id"], row["originator_version"])


def _range_query(names: ChainNames) -> sql.Composed:
    """One pass over a range: counts, and the rows that do not verify as JSON."""
    return sql.SQL(
        """
SELECT count(event_id) AS events,
       count(*) FILTER (WHERE event_version = 1) AS streams,
       count(link_id) AS links,
       jsonb_agg(jsonb_build_object(
           'position', position, 'event_id', event_id, 'event_version', event_version,
           'link_id', link_id, 'link_version', link_version, 'prev_position', prev_position,
           'before_position', before_position, 'before_id', before_id,
           'before_version', before_version, 'content_ok', content_ok, 'link_ok', link_ok)
           ORDER BY position)
         FILTER (WHERE event_id IS NULL OR link_id IS NULL
                 OR event_id <> link_id OR event_version <> link_version
                 OR prev_position <> before_position OR NOT content_ok OR NOT link_ok
                 OR (link_id IS NOT NULL AND position > %(head_position)s)) AS bad
FROM (
    SELECT coalesce(c.position, e.notification_id) AS position,
           e.originator_id AS event_id, e.originator_version AS event_version,
           c.originator_id AS link_id, c.originator_version AS link_version,
           c.prev_position,
           coalesce(c.before_position, %(carry_position)s::bigint) AS before_position,
           CASE WHEN c.before_position IS NULL THEN %(carry_id)s::uuid
                ELSE c.before_id END AS before_id,
           CASE WHEN c.before_position IS NULL THEN %(carry_version)s::bigint
                ELSE c.before_version END AS before_version,
           e.content = c.content_hash AS content_ok,
           c.hash = sha256(coalesce(c.before_hash, %(carry_hash)s::bytea)
                           || int8send(c.prev_position) || c.content_hash) AS link_ok
    FROM (
        SELECT position, prev_position, originator_id, originator_version, content_hash, hash,
               lag(position) OVER w AS before_position, lag(hash) OVER w AS before_hash,
               lag(originator_id) OVER w AS before_id,
               lag(originator_version) OVER w AS before_version
        FROM {chain} WHERE position >= %(lo)s AND position < %(hi)s
        WINDOW w AS (ORDER BY position)
    ) c FULL JOIN (
        SELECT e.notification_id, e.originator_id, e.originator_version, {content} AS content
        FROM {table} e WHERE e.notification_id >= %(lo)s AND e.notification_id < %(hi)s
    ) e ON e.notification_id = c.position
) j
"""
    ).format(chain=names.chain, table=names.table, content=content_hash_sql("e"))


def _check_range(
    conn: psycopg.Connection[Any],
    names: ChainNames,
    query: sql.Composed,
    span: tuple[int, int],
    head_position: int,
) -> _SpanResult:
    carry = _carry_before(conn, names, span[0])
    params = {
        "lo": span[0],
        "hi": span[1],
        "carry_position": carry.position,
        "carry_hash": carry.hash,
        "carry_id": carry.topic_id,
        "carry_version": carry.version,
        "head_position": head_position,
    }
    row = conn.execute(query, params).fetchone()
    assert row is not None  # an aggregate answers one row
    bad = [
        found
        for entry in row["bad"] or []
        for found in diagnose(conn, names, typed(entry), head_position)
    ]
    return row["events"], row["streams"], row["links"], bad


def _check_head(
    head: dict[str, Any] | None,
    last: _Carry,
    report: VerifyReport,
) -> None:
    if head is None:
        report.bad.append(
            BadRow(
                last.position,
                last.topic_id,
                last.version,
                HEAD_BROKEN,
                "the chain's head anchor row is missing",
            )
        )
        report.head_position, report.head_hash = last.position, last.hash
        return
    report.head_position, report.head_hash = head["position"], head["hash"]
    report.head_count = head["count"]
    if last.position < head["position"]:
        report.bad.append(
            BadRow(
                head["position"],
                head["originator_id"],
                head["originator_version"],
                NEWEST_REMOVED,
                f"the head anchor records the chain ending here ({head['count']:,} events) "
                f"but it ends at position {last.position}",
            )
        )
    elif last.position == head["position"] and last.hash != head["hash"]:
        report.bad.append(
            BadRow(
                last.position,
                last.topic_id,
                last.version,
                HEAD_BROKEN,
                "the last chain entry's hash differs from the head anchor's",
            )
        )
    if report.start <= 1 and not report.bad and report.links != head["count"]:
        report.bad.append(
            BadRow(
                head["position"],
                head["originator_id"],
                head["originator_version"],
                HEAD_BROKEN,
                f"the chain holds {report.links:,} entries but the head anchor counts "
                f"{head['count']:,}",
            )
        )


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """`linkage audit verify [--from POSITION]`: exit 0 when intact, 1 naming each bad row."""
    from tqdm import tqdm

    from infra.bootstrap import bootstrap

    # opening the store installs the chain, and chains a store written before it once
    with bootstrap(pool_size=1) as runtime:
        conninfo = runtime.database.conninfo
        with tqdm(desc="verifying the hash chain", unit=" positions", unit_scale=True) as bar:

            def set_total(n: int) -> None:
                bar.reset(total=n)

            report = verify_chain(
                conninfo,
                anchors=args.anchors,
                start=args.start,
                workers=args.workers,
                progress=bar.update,
                total=set_total,
            )
    if report.intact:
        print(f"linkage audit verify: hash chain intact — {report.summary()}")
        print(
            "keep this anchor to prove later that nothing up to here was rewritten: "
            f"--anchor {report.head_position}:{report.head_hash.hex()}"
        )
        return 0
    for bad in report.bad:
        print(bad.describe())
    print(
        f"linkage: error: CHAIN_BROKEN: {len(report.bad)} bad row(s) in the hash chain — "
        f"{report.summary()}",
        file=sys.stderr,
    )
    return 1
