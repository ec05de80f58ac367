"""The application recorder: eventsourcing's PostgreSQL recorder, fast for large saves.

Ordinary commands keep the library's pipelined INSERT. Large saves (a batch of
simulated topics, a bulk intake, a national hierarchy import) take a plain
transaction with the same EXCLUSIVE table lock and NOTIFY as the library (insert
order = commit order, so readers never pass a gap) and stream the rows with a
binary COPY: no per-row parameters to build, and none of the pipeline stall
psycopg shows once one INSERT's parameters pass about 1 MB. The notification ids
are drawn from the table's own sequence under the lock, in order, and written
with the rows, so the caller gets them back exactly as from the INSERT path.
Every path is hash-chained by a trigger installed with the table (`infra.chain`):
it fires for COPY statements as for INSERTs.

Group commit. Ordinary saves that arrive together are written together: each
save queues its events and waits; one of the waiting threads (the leader) takes
everything queued, writes it in one transaction — one EXCLUSIVE lock, one INSERT,
one firing of the chain trigger, one NOTIFY, one commit and fsync — and answers
each save with its own notification ids. Saves that arrive while a group is being
written form the next group, so a lone save waits for nothing and a busy store
writes fewer, larger transactions. Every guarantee of a single save holds for each
save of a group:

* insert order = commit order: the group is one transaction under the lock;
* atomic per save: a save's events are all written or none;
* optimistic concurrency per aggregate: the INSERT skips rows whose
  (originator id, version) is taken (`ON CONFLICT DO NOTHING`); a save that lost
  any row gets the library's `IntegrityError`, alone — the others commit (when
  a failed save had some rows written, the transaction is rolled back and the
  rest written again without it). Two saves of one group claiming the same
  version: the first in arrival order is written, the second fails after it
  commits (so a duplicate submission finds the original recorded);
* a lost connection fails the whole group with the library's retryable error,
  and each save retries on its own, as the library's `insert_events` does.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor, Rollback
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from infra.chain import install_statements

COPY_MIN_EVENTS = 200  # at or above this many events a save is copied, not inserted
PIPELINE_LIMIT = 256 * 1024  # or above this much event state (the pipeline stalls past ~1 MB)
GROUP_MAX_EVENTS = 1_000  # at most this many events (of queued saves) in one group commit


CREATE_LOCK = "SELECT pg_advisory_lock(hashtext('linkage create ' || %s))"
CREATE_UNLOCK = "SELECT pg_advisory_unlock(hashtext('linkage create ' || %s))"


class LinkageRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        # the hash chain is created (and an unchained store chained once) with the table
        self.sql_create_statements += install_statements(datastore.schema, events_table_name)
        self.group_commit = True  # False: every save its own transaction (the library's path)
        self._group_statement = SQL(
            "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state)"
            " SELECT originator_id, originator_version, topic, state"
            " FROM unnest(%s::{0}.{2}[])"
            " ON CONFLICT DO NOTHING"
            " RETURNING notification_id, originator_id, originator_version"
        ).format(
            Identifier(datastore.schema),
            Identifier(events_table_name),
            Identifier(self.stored_event_type_name),
        )
        self._queue: list[_Save] = []
        self._queue_lock = threading.Lock()
        self._leading = False  # a thread is writing a group
        self.groups_written = 0  # transactions written by group commit
        self.saves_grouped = 0  # saves answered by them

    def create_table(self) -> None:
        """The library's DDL, one process at a time: api, relay and projector starting
        together would race on its `CREATE TYPE` (a unique violation in pg_type) and
        `CREATE OR REPLACE FUNCTION` ("tuple concurrently updated")."""
        with self.datastore.get_connection() as conn:  # autocommit: a session lock
            conn.execute(CREATE_LOCK, (self.events_table_name,))
            try:
                super().create_table()
            finally:
                conn.execute(CREATE_UNLOCK, (self.events_table_name,))

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not _large(stored_events):
            if not self.group_commit or not stored_events or _tracked(kwargs):
                ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
                return ids
            grouped: list[int] = self._insert_grouped(stored_events)
            return grouped
        copied: list[int] = self._copy_in_transaction(stored_events)
        return copied

    # Retried on a lost connection as the library's own insert is; the COPY is one
    # transaction, so a retry after a commit whose answer was lost meets the unique
    # key (IntegrityError) instead of recording anything twice.
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _copy_in_transaction(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._lock_table(curs)
            self._notify_channel(curs)
            return self._copy_stored_events(curs, stored_events)

    def _copy_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]
    ) -> list[int]:
        table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        # Under the EXCLUSIVE lock no other writer draws from the sequence between
        # these ids and the commit, so they are contiguous with the rows before.
        curs.execute(
            SQL(
                "SELECT array_agg(nextval(pg_get_serial_sequence(%s, 'notification_id'))) "
                "AS ids FROM generate_series(1, %s)"
            ),
            (table.as_string(curs), len(stored_events)),
        )
        row = curs.fetchone()
        ids: list[int] = sorted(row["ids"]) if row else []
        copy_sql = SQL(
            "COPY {0} (originator_id, originator_version, topic, state, notification_id) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(table)
        id_type = "uuid" if self.datastore.originator_id_type == "uuid" else "text"
        with curs.copy(copy_sql) as copy:
            copy.set_types([id_type, "int8", "text", "bytea", "int8"])
            for event, notification_id in zip(stored_events, ids, strict=True):
                copy.write_row(
                    (
                        event.originator_id,
                        event.originator_version,
                        event.topic,
                        event.state,
                        notification_id,
                    )
                )
        return ids

    # -- group commit ---------------------------------------------------------------

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_grouped(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        """Queue the save, and either wait for a leader to write it or lead."""
        save = _Save(stored_events, self._key)
        with self._queue_lock:
            self._queue.append(save)
            lead = not self._leading
            self._leading = True
        if not lead:
            save.wake.wait()
        if save.ids is None and save.error is None:  # handed the lead
            self._lead()
        if save.error is not None:
            raise save.error
        assert save.ids is not None
        return save.ids

    def _lead(self) -> None:
        """Write the queued saves (up to GROUP_MAX_EVENTS events) as one group, answer
        them, then hand the lead to the oldest save still queued, if any."""
        with self._queue_lock:
            group: list[_Save] = []
            size = 0
            for save in self._queue:
                if group and size + len(save.events) > GROUP_MAX_EVENTS:
                    break
                group.append(save)
                size += len(save.events)
            del self._queue[: len(group)]
        try:
            self._write_group(group)
        except BaseException as err:  # every save of the group is answered, whatever happens
            for save in group:
                if save.ids is None and save.error is None:
                    save.error = err
            if not isinstance(err, Exception):
                raise
        finally:
            with self._queue_lock:
                self.groups_written += 1
                self.saves_grouped += len(group)
                if self._queue:
                    self._queue[0].wake.set()  # the next leader (it has no answer yet)
                else:
                    self._leading = False
            for save in group:
                save.wake.set()

    def _write_group(self, group: list[_Save]) -> None:
        pending = group
        while pending:
            # A save claiming a version that an earlier save of this round claims
            # waits for the round: it fails if that version is written, else goes on.
            claimed: set[tuple[Any, int]] = set()
            written: list[_Save] = []
            for save in pending:
                if len(set(save.keys)) != len(save.keys):
                    save.error = IntegrityError("a save repeats an aggregate's version")
                elif not claimed.intersection(save.keys):
                    claimed.update(save.keys)
                    written.append(save)
            ids = self._insert_round(written)
            if ids is not None:  # committed (the saves that lost a row have their error)
                for save in written:
                    if save.error is None:
                        save.ids = [ids[k] for k in save.keys]
                for save in pending:
                    if save.ids is None and save.error is None and any(k in ids for k in save.keys):
                        save.error = IntegrityError("another save wrote this aggregate's version")
            pending = [s for s in pending if s.ids is None and s.error is None]

    def _insert_round(self, saves: list[_Save]) -> dict[tuple[Any, int], int] | None:
        """One transaction for these saves: their ids by (originator, version), or None
        after a rollback, the saves that lost a row marked with an IntegrityError."""
        if not saves:
            return {}
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for save in saves
            for e in save.events
        ]
        exc: Exception | None = None
        ids: dict[tuple[Any, int], int] | None = None
        with self.datastore.get_connection() as conn:
            with conn.pipeline(), conn.transaction(), conn.cursor() as curs:
                try:
                    self._lock_table(curs)
                    self._notify_channel(curs)
                    curs.execute(self._group_statement, (rows,), prepare=True)
                    ids = {
                        self._key_of(r["originator_id"], r["originator_version"]): r[
                            "notification_id"
                        ]
                        for r in curs.fetchall()
                    }
                except Exception as err:  # re-raised outside the pipeline
                    exc = err
                if exc is None and ids is not None:
                    partly = False
                    for save in saves:
                        got = sum(k in ids for k in save.keys)
                        if got < len(save.keys):
                            save.error = IntegrityError(
                                "an aggregate's version was recorded already"
                            )
                            partly = partly or got > 0
                    if partly:  # a failed save had rows written: none of this round
                        ids = None
                        raise Rollback()
            if exc is not None:
                raise exc
        if ids is not None:  # the failed saves (none of their rows written) are answered
            return ids
        return None

    def _key(self, event: StoredEvent) -> tuple[Any, int]:
        return self._key_of(event.originator_id, event.originator_version)

    def _key_of(self, originator_id: Any, version: int) -> tuple[Any, int]:
        if self.datastore.originator_id_type == "uuid":
            return (uuid.UUID(str(originator_id)), int(version))
        return (str(originator_id), int(version))

    def existing_originators(self, originator_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these aggregates have events already, in one query."""
        wanted = list(set(originator_ids))
        if not wanted:
            return set()
        statement = SQL(
            "SELECT originator_id FROM {0}.{1} "
            "WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (wanted,))
            return {uuid.UUID(str(row["originator_id"])) for row in curs.fetchall()}


class _Save:
    """One save waiting in the group-commit queue: its events, then its answer."""

    __slots__ = ("error", "events", "ids", "keys", "wake")

    def __init__(
        self, events: Sequence[StoredEvent], key: Callable[[StoredEvent], tuple[Any, int]]
    ) -> None:
        self.events = events
        self.keys = [key(e) for e in events]
        self.ids: list[int] | None = None
        self.error: BaseException | None = None
        self.wake = threading.Event()


def _tracked(kwargs: dict[str, Any]) -> bool:
    """A save with tracking (a process recorder's) takes the library's path; the
    application passes `tracking=None` with every ordinary save."""
    return any(value is not None for value in kwargs.values())


def _large(stored_events: Sequence[StoredEvent]) -> bool:
    if len(stored_events) >= COPY_MIN_EVENTS:
        return True
    return sum(len(e.state) for e in stored_events) > PIPELINE_LIMIT
