"""Small views for testing the runner: they count each topic's events."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from psycopg import Cursor, sql
from psycopg.rows import DictRow

from projections.base import View
from projections.envelope import Envelope

if TYPE_CHECKING:
    from infra.bootstrap import Runtime


def read_model_tables(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, in a stable order (to compare two runs)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with runtime.database.connect() as conn:
        for view in runtime.projections.views.values():
            for table in view.tables:
                query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))
                # a total order: rows may tie on every key column (a multiset compare)
                tables[table] = sorted(conn.execute(query).fetchall(), key=repr)
    return tables


class CountsView(View):
    """Per topic: how many events, the last version, the positions seen."""

    name = "counts"
    tables = ("event_counts",)
    DDL = (
        "CREATE TABLE IF NOT EXISTS {schema}.event_counts ("
        " topic_id text PRIMARY KEY, events int NOT NULL, last_version int NOT NULL,"
        " positions bigint[] NOT NULL)",
    )
    UPSERT = (
        "INSERT INTO {table} (topic_id, events, last_version, positions)"
        " SELECT t, 1, v, ARRAY[p] FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS r(t, v, p)"
        " ON CONFLICT (topic_id) DO UPDATE SET events = {table}.events + 1,"
        " last_version = EXCLUDED.last_version,"
        " positions = {table}.positions || EXCLUDED.positions"
    )
    fail_on: ClassVar[str | None] = None  # a comment text that makes apply fail

    def apply(self, curs: Cursor[DictRow], envelopes: Sequence[Envelope]) -> None:
        for e in envelopes:
            if not e.is_topic_event:
                continue
            if self.fail_on is not None and e.data.get("text") == self.fail_on:
                raise ValueError(f"cannot project comment {self.fail_on!r}")
            # one row at a time keeps ON CONFLICT simple; these views are for tests
            curs.execute(
                self.UPSERT.replace("{table}", f"{self.schema}.event_counts"),
                ([e.topic_id], [e.version], [e.position]),
            )


class SlowCountsView(CountsView):
    """Sleeps after writing and before the runner commits: a window to be killed in."""

    def apply(self, curs: Cursor[DictRow], envelopes: Sequence[Envelope]) -> None:
        super().apply(curs, envelopes)
        time.sleep(float(os.environ.get("SLOW_VIEW_SECONDS", "0.3")))
