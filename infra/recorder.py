"""The application recorder: eventsourcing's PostgreSQL recorder, safe for large saves.

psycopg's pipeline mode, which the library's recorder uses, stalls (client waiting
in `Pipeline.sync`, server in `ClientRead`) once one INSERT's parameters pass about
1 MB — a national hierarchy import saves ~50 MB in one transaction. Large saves
therefore take a plain transaction with the same EXCLUSIVE table lock and NOTIFY
as the library (insert order = commit order, so readers never pass a gap), in
INSERT statements of bounded size. Ordinary commands keep the pipelined path.

Every path is hash-chained by a trigger installed with the table (`infra.chain`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
)

from infra.chain import install_statements

PIPELINE_LIMIT = 256 * 1024  # bytes of event state above which a save is chunked


class LinkageRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        # the hash chain is created (and an unchained store chained once) with the table
        self.sql_create_statements += install_statements(datastore.schema, events_table_name)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if sum(len(e.state) for e in stored_events) <= PIPELINE_LIMIT:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        chunked: list[int] = []
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._lock_table(curs)
            self._notify_channel(curs)
            for chunk in _chunks_by_size(stored_events, PIPELINE_LIMIT):
                PostgresAggregateRecorder._insert_stored_events(self, curs, chunk)
                chunked.extend(row["notification_id"] for row in curs.fetchall())
        return chunked


def _chunks_by_size(events: Sequence[StoredEvent], limit: int) -> Iterator[Sequence[StoredEvent]]:
    start, size = 0, 0
    for i, event in enumerate(events):
        if size and size + len(event.state) > limit:
            yield events[start:i]
            start, size = i, 0
        size += len(event.state)
    if start < len(events):
        yield events[start:]
