"""What every read model is: a TrackingRecorder that applies envelopes in batches.

A `View` owns some tables in its datastore's schema and one row in the shared
`projection_tracking` table. The runner calls `apply(curs, envelopes)` and then
records the last position in the same transaction, so a view's rows and its
position always agree. A rebuild builds the same view in a scratch schema and
swaps the tables in (see `projections.runner`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from domain.units import UnitDirectory
from projections.envelope import Envelope

TRACKING_TABLE = "projection_tracking"


class View(PostgresTrackingRecorder):
    """A read model. Subclasses set `name`, `tables` and `DDL`, and implement `apply`."""

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]  # the tables it owns, dependants first
    # CREATE statements; "{schema}" is replaced by the view's schema identifier.
    DDL: ClassVar[tuple[str, ...]]

    def __init__(self, datastore: PostgresDatastore, units: UnitDirectory) -> None:
        super().__init__(datastore, tracking_table_name=TRACKING_TABLE)
        self.units = units
        self.sql_create_statements.extend(self.ddl())

    @property
    def schema(self) -> str:
        return self.datastore.schema or "public"

    def ddl(self) -> list[Composed]:
        return [SQL(s).format(schema=Identifier(self.schema)) for s in self.DDL]

    def table(self, name: str) -> Composed:
        return SQL("{}.{}").format(Identifier(self.schema), Identifier(name))

    @abstractmethod
    def apply(self, curs: Cursor[DictRow], envelopes: Sequence[Envelope]) -> None:
        """Write the effect of these envelopes (in position order); no commit."""

    def position(self) -> int:
        return self.max_tracking_id(self.name) or 0
