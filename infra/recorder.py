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
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from infra.chain import install_statements

COPY_MIN_EVENTS = 200  # at or above this many events a save is copied, not inserted
PIPELINE_LIMIT = 256 * 1024  # or above this much event state (the pipeline stalls past ~1 MB)


CREATE_LOCK = "SELECT pg_advisory_lock(hashtext('linkage create ' || %s))"
CREATE_UNLOCK = "SELECT pg_advisory_unlock(hashtext('linkage create ' || %s))"


class LinkageRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        # the hash chain is created (and an unchained store chained once) with the table
        self.sql_create_statements += install_statements(datastore.schema, events_table_name)

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
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
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


def _large(stored_events: Sequence[StoredEvent]) -> bool:
    if len(stored_events) >= COPY_MIN_EVENTS:
        return True
    return sum(len(e.state) for e in stored_events) > PIPELINE_LIMIT
