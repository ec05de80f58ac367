"""The hash chain on real PostgreSQL: tampering done with psycopg is caught and named."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from domain.topic_commands import AddComment
from infra.audit_verify import VerifyReport, verify_chain
from infra.bootstrap import Runtime, build_runtime
from infra.chain import content_hash, link_hash
from infra.chain_findings import (
    ANCHOR_MISMATCH,
    CONTENT_ALTERED,
    LINK_BROKEN,
    NEWEST_REMOVED,
    OUT_OF_ORDER,
    ROW_INSERTED,
    ROW_MISSING,
    BadRow,
)
from infra.database import Database
from infra.recorder import PIPELINE_LIMIT, LinkageRecorder
from tests.utils.chain import (
    CHAIN,
    EVENTS,
    HEAD,
    build_store,
    chain_entry,
    forge,
    recompute_chain,
    rows,
)
from tests.utils.factories import VILLAGE, later, staff, submission


@pytest.fixture
def store(small_runtime: Runtime) -> list[uuid.UUID]:
    return build_store(small_runtime)


@pytest.fixture
def conn(small_runtime: Runtime) -> Iterator[psycopg.Connection[Any]]:
    with small_runtime.database.connect() as c:
        yield c


def verify(runtime: Runtime, **options: Any) -> VerifyReport:
    # small ranges and two connections, so that links across ranges are checked too
    return verify_chain(runtime.database.conninfo, batch=5, workers=2, **options)


def problems(report: VerifyReport) -> list[tuple[int, uuid.UUID | None, int | None, str]]:
    return [(b.position, b.topic_id, b.version, b.problem) for b in report.bad]


def test_an_untouched_store_verifies_clean_and_its_chain_is_the_documented_one(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    report = verify(small_runtime)

    assert report.intact, [b.describe() for b in report.bad]
    events = rows(conn)
    assert report.events == report.links == report.head_count == len(events)
    assert report.streams == 1 + len(store)  # the hierarchy import and the three topics
    # recomputed in Python from the events alone: the database chains what infra.chain says
    assert recompute_chain(conn) == (report.head_position, report.head_hash)
    assert report.head_position == events[-1].position


def test_one_changed_byte_of_an_events_state_is_named_as_content_altered(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    target = rows(conn, store[1])[1]
    flipped = bytearray(target.state)
    flipped[len(flipped) // 2] ^= 0x01
    conn.execute(
        f"UPDATE {EVENTS} SET state = %s WHERE notification_id = %s",
        (bytes(flipped), target.position),
    )

    report = verify(small_runtime)

    assert problems(report) == [(target.position, store[1], 2, CONTENT_ALTERED)]
    assert (
        report.bad[0]
        .describe()
        .startswith(f"position {target.position}: topic {store[1]} version 2: content altered")
    )


def test_an_alteration_with_its_chain_entry_recomputed_breaks_the_next_link(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    target = rows(conn, store[0])[0]
    forged_state = target.state.replace("路灯".encode(), "水管".encode())
    assert forged_state != target.state
    entry = chain_entry(conn, target.position)
    before = chain_entry(conn, entry["prev_position"])
    content = content_hash(target.topic_id, 1, target.position, target.topic, forged_state)
    conn.execute(
        f"UPDATE {EVENTS} SET state = %s WHERE notification_id = %s",
        (forged_state, target.position),
    )
    conn.execute(
        f"UPDATE {CHAIN} SET content_hash = %s, hash = %s WHERE position = %s",
        (content, link_hash(before["hash"], entry["prev_position"], content), target.position),
    )

    report = verify(small_runtime)

    [bad] = report.bad
    assert bad.problem == LINK_BROKEN
    positions = [r.position for r in rows(conn)]
    assert bad.position == positions[positions.index(target.position) + 1]
    assert f"position {target.position} (topic {store[0]} version 1)" in bad.detail


def test_a_deleted_middle_event_is_named_by_the_chain(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    target = rows(conn, store[2])[1]
    conn.execute(f"DELETE FROM {EVENTS} WHERE notification_id = %s", (target.position,))

    assert problems(verify(small_runtime)) == [(target.position, store[2], 2, ROW_MISSING)]


def test_a_middle_event_deleted_with_its_chain_entry_leaves_a_dangling_link(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    target = rows(conn, store[2])[1]
    conn.execute(f"DELETE FROM {EVENTS} WHERE notification_id = %s", (target.position,))
    conn.execute(f"DELETE FROM {CHAIN} WHERE position = %s", (target.position,))

    report = verify(small_runtime)

    assert problems(report) == [(target.position, None, None, ROW_MISSING)]
    assert "removed with its chain entry" in report.bad[0].detail


def test_the_newest_event_deleted_is_caught_by_the_head_anchor(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    newest = rows(conn)[-1]
    conn.execute(f"DELETE FROM {EVENTS} WHERE notification_id = %s", (newest.position,))
    assert problems(verify(small_runtime)) == [
        (newest.position, newest.topic_id, newest.version, ROW_MISSING)
    ]

    conn.execute(f"DELETE FROM {CHAIN} WHERE position = %s", (newest.position,))
    report = verify(small_runtime)

    assert problems(report) == [(newest.position, newest.topic_id, 4, NEWEST_REMOVED)]
    assert "the head anchor records the chain ending here" in report.bad[0].detail


def test_a_whole_topic_stream_deleted_names_each_of_its_events(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    gone = rows(conn, store[1])
    conn.execute(f"DELETE FROM {EVENTS} WHERE originator_id = %s", (store[1],))
    assert problems(verify(small_runtime)) == [
        (row.position, store[1], row.version, ROW_MISSING) for row in gone
    ]

    # also without a trace in the chain: the dangling links name every position
    conn.execute(f"DELETE FROM {CHAIN} WHERE originator_id = %s", (store[1],))
    assert problems(verify(small_runtime)) == [
        (row.position, None, None, ROW_MISSING) for row in gone
    ]


def _next_position(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        f"SELECT nextval(pg_get_serial_sequence('{EVENTS}', 'notification_id'))"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_forged_event_with_a_plausible_hash_is_named_as_inserted(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    # a gap in the positions, as a rolled-back transaction leaves one
    before = rows(conn)[-1].position
    gap = _next_position(conn)
    small_runtime.app.handle(
        staff(VILLAGE), AddComment(topic_id=store[0], text="维修完成"), at=later(8)
    )
    like = rows(conn, store[0])[0]
    forged = uuid.uuid4()
    # in the middle, taking the gap, linked plausibly to the event before it
    forge(conn, gap, forged, 1, like, after=before)
    # at the end, linked plausibly, the head anchor left as it was
    end = _next_position(conn)
    forge(conn, end, forged, 2, like, after=rows(conn)[-2].position)
    # without a chain entry at all
    bare = _next_position(conn)
    forge(conn, bare, forged, 3, like, after=None)

    report = verify(small_runtime)

    assert problems(report) == [
        (gap, forged, 1, ROW_INSERTED),
        (end, forged, 2, ROW_INSERTED),
        (bare, forged, 3, ROW_INSERTED),
    ]
    middle, after_head, no_entry = (b.detail for b in report.bad)
    assert f"links back to {before}" in middle
    assert "after the head anchor" in after_head
    assert "no entry in the hash chain" in no_entry


def test_two_events_swapped_are_named_out_of_order_or_altered(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    a, b = rows(conn, store[0])[1], rows(conn, store[2])[2]
    with conn.transaction():  # positions swapped
        conn.execute(
            f"UPDATE {EVENTS} SET notification_id = -1 WHERE notification_id = %s", (a.position,)
        )
        conn.execute(
            f"UPDATE {EVENTS} SET notification_id = %s WHERE notification_id = %s",
            (a.position, b.position),
        )
        conn.execute(
            f"UPDATE {EVENTS} SET notification_id = %s WHERE notification_id = -1", (b.position,)
        )
    assert problems(verify(small_runtime)) == [
        (a.position, store[2], 3, OUT_OF_ORDER),
        (b.position, store[0], 2, OUT_OF_ORDER),
    ]

    c, d = rows(conn, store[1])[0], rows(conn, store[1])[3]
    with conn.transaction():  # states swapped
        conn.execute(
            f"UPDATE {EVENTS} SET state = %s WHERE notification_id = %s", (d.state, c.position)
        )
        conn.execute(
            f"UPDATE {EVENTS} SET state = %s WHERE notification_id = %s", (c.state, d.position)
        )
    assert problems(verify(small_runtime)) == sorted(
        [
            (a.position, store[2], 3, OUT_OF_ORDER),
            (b.position, store[0], 2, OUT_OF_ORDER),
            (c.position, store[1], 1, CONTENT_ALTERED),
            (d.position, store[1], 4, CONTENT_ALTERED),
        ]
    )


def test_verify_from_a_position_checks_only_from_there(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    early, late = rows(conn, store[0])[0], rows(conn, store[0])[3]
    for target in (early, late):
        conn.execute(
            f"UPDATE {EVENTS} SET state = state || '\\x00'::bytea WHERE notification_id = %s",
            (target.position,),
        )

    assert [b.position for b in verify(small_runtime).bad] == [early.position, late.position]
    later_only = verify(small_runtime, start=early.position + 1)
    assert problems(later_only) == [(late.position, store[0], 4, CONTENT_ALTERED)]
    assert later_only.events == len([r for r in rows(conn) if r.position > early.position])


def test_a_large_save_through_the_copy_path_is_chained(small_runtime: Runtime) -> None:
    big = [
        StoredEvent(uuid.uuid4(), 1, "tests:Big", bytes([i]) * (PIPELINE_LIMIT // 3))
        for i in range(5)
    ]
    positions = small_runtime.app.recorder.insert_events(big)

    report = verify(small_runtime)

    assert positions is not None
    assert report.intact
    assert report.head_position == positions[-1]


def test_an_unchained_store_is_chained_once_on_opening_and_opening_again_changes_nothing(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    # a store written before the chain existed
    conn.execute(f"DROP TRIGGER linkage_events_chain ON {EVENTS}")
    conn.execute(f"DROP TABLE {CHAIN}, {HEAD}")

    for _ in range(2):
        with build_runtime(small_runtime.database, small_runtime.settings) as reopened:
            reopened.app.handle(
                staff(VILLAGE), AddComment(topic_id=store[0], text="回访满意"), at=later(9)
            )
            report = verify(reopened)
            assert report.intact, [b.describe() for b in report.bad]
            assert report.head_count == len(rows(conn))
            assert recompute_chain(conn) == (report.head_position, report.head_hash)
    assert conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
        (EVENTS,),
    ).fetchone() == (1,)


def test_an_insert_behind_the_chain_head_is_refused(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    like = rows(conn)[0]
    with pytest.raises(psycopg.errors.RaiseException, match="is not after the chain's head"):
        conn.execute(
            f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state,"
            " notification_id) VALUES (%s, 1, %s, %s, -5)",
            (uuid.uuid4(), like.topic, like.state),
        )
    assert verify(small_runtime).intact


def test_bad_rows_name_an_unknown_topic_plainly() -> None:
    bad = BadRow(17, None, None, ROW_MISSING, "removed with its chain entry")
    assert bad.describe() == (
        "position 17: topic (unknown: no trace left) version ?: row missing — "
        "removed with its chain entry"
    )


def test_a_chain_recomputed_after_tampering_fails_against_an_anchor_kept_earlier(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    kept = verify(small_runtime)
    anchor = (kept.head_position, kept.head_hash)
    target = rows(conn, store[0])[0]
    conn.execute(
        f"UPDATE {EVENTS} SET state = state || '\\x00'::bytea WHERE notification_id = %s",
        (target.position,),
    )
    # who can write the tables can recompute the whole chain: drop it, let it be rebuilt
    conn.execute(f"DROP TABLE {CHAIN}, {HEAD}")
    with build_runtime(small_runtime.database, small_runtime.settings) as reopened:
        assert verify(reopened).intact

        report = verify(reopened, anchors=[anchor])

    assert problems(report) == [(anchor[0], store[2], 4, ANCHOR_MISMATCH)]
    assert f"the anchor recorded {anchor[1].hex()}" in report.bad[0].detail


def test_events_written_with_copy_under_the_table_lock_are_chained(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    like = rows(conn)[-1]
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"LOCK TABLE {EVENTS} IN EXCLUSIVE MODE")
        with cur.copy(
            f"COPY {EVENTS} (originator_id, originator_version, topic, state) FROM STDIN"
        ) as copy:
            for _ in range(3):
                copy.write_row((uuid.uuid4(), 1, like.topic, like.state))

    report = verify(small_runtime)

    assert report.intact, [b.describe() for b in report.bad]
    assert report.head_count == len(rows(conn)) == report.events
    assert recompute_chain(conn) == (report.head_position, report.head_hash)


def test_concurrent_writers_leave_one_intact_chain(
    small_runtime: Runtime, store: list[uuid.UUID]
) -> None:
    app = small_runtime.app

    def write(n: int) -> None:
        for i in range(5):
            topic = app.submit_topic(
                staff(VILLAGE), **submission(VILLAGE, title=f"并发议题 {n}-{i}"), at=later(10)
            )
            app.handle(
                staff(VILLAGE), AddComment(topic_id=topic.topic_id, text="收到"), at=later(11)
            )

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(write, range(6)))

    report = verify(small_runtime)
    assert report.intact, [b.describe() for b in report.bad]
    assert report.streams == 1 + len(store) + 30


def test_consecutive_events_deleted_with_their_chain_entries_are_named_as_a_span(
    small_runtime: Runtime, store: list[uuid.UUID], conn: psycopg.Connection[Any]
) -> None:
    every = rows(conn)
    first, second, after = every[-5], every[-4], every[-3]
    for row in (first, second):
        conn.execute(f"DELETE FROM {EVENTS} WHERE notification_id = %s", (row.position,))
        conn.execute(f"DELETE FROM {CHAIN} WHERE position = %s", (row.position,))

    report = verify(small_runtime)

    assert problems(report) == [(second.position, None, None, ROW_MISSING)]
    assert report.bad[0].detail.endswith(
        f"position {after.position} (topic {after.topic_id} version {after.version}) links "
        f"back to it, but the chain before it ends at {every[-6].position} "
        f"(rows after {every[-6].position} up to {second.position} are gone)"
    )


def test_processes_creating_the_store_at_once_all_succeed(database: Database) -> None:
    """api, relay and projector start together on an empty database: each creates the
    tables, the library's functions and the chain, one after the other."""
    start = threading.Barrier(4)

    def create(_: int) -> None:
        datastore = database.datastore(pool_size=1)
        try:
            recorder = LinkageRecorder(datastore, events_table_name="linkage_events")
            start.wait()
            recorder.create_table()
        finally:
            datastore.close()

    for _round in range(3):
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(create, range(4)))
    with database.connect() as conn:
        row = conn.execute("SELECT count(*) FROM linkage_events_chain_head").fetchone()
    assert row == (1,)
