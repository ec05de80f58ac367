"""The library's own recorder contract, run against the project's recorder.

`eventsourcing.tests.persistence.ApplicationRecorderTestCase` is what the library's
PostgreSQL recorder passes: inserts and selects, conflicts as `IntegrityError`,
contiguous notification ids, concurrent writers without gaps or lost events, and
subscriptions. `LinkageRecorder` passes it with its hash chain and with group
commit on (every ordinary save goes through the batcher), and with group commit off.
"""

from __future__ import annotations

from collections.abc import Iterator

import eventsourcing.tests.persistence as library
import pytest
from eventsourcing.postgres import PostgresDatastore

from infra.database import Database
from infra.recorder import LinkageRecorder


class TestLinkageRecorder(library.ApplicationRecorderTestCase[LinkageRecorder]):
    group_commit = True

    @pytest.fixture(autouse=True)
    def _store(self, database: Database) -> Iterator[None]:
        self.database = database
        self.datastores: list[PostgresDatastore] = []
        yield
        for datastore in self.datastores:
            datastore.close()

    def create_recorder(self) -> LinkageRecorder:
        datastore = self.database.datastore(pool_size=10)
        self.datastores.append(datastore)
        recorder = LinkageRecorder(datastore, events_table_name="stored_events")
        recorder.create_table()
        recorder.group_commit = self.group_commit
        return recorder

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestLinkageRecorderOneSaveATransaction(TestLinkageRecorder):
    group_commit = False
