"""A projector process to kill: `python -m tests.utils.run_slow_projection URL [real]`.

With `real`, it runs the product's read models, each slowed so that a kill lands
between a batch's writes and its commit; otherwise the test `SlowCountsView`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.units import InMemoryUnitDirectory
from infra.bootstrap import build_runtime, view_classes
from infra.database import Database
from projections.base import View
from projections.envelope import Envelope
from projections.runner import ProjectionRunner
from tests.utils.views import SlowCountsView


def slowed(cls: type[View]) -> type[View]:
    def apply(self: Any, curs: Cursor[DictRow], envelopes: Sequence[Envelope]) -> None:
        cls.apply(self, curs, envelopes)
        time.sleep(float(os.environ.get("SLOW_VIEW_SECONDS", "0.3")))

    return type(f"Slow{cls.__name__}", (cls,), {"apply": apply})


def main(url: str, real: bool) -> None:
    database = Database(url)
    runtime = build_runtime(database)
    if real:
        views = [slowed(cls)(database.datastore(), runtime.units) for cls in view_classes()]
    else:
        views = [SlowCountsView(database.datastore(), InMemoryUnitDirectory())]
    runner = ProjectionRunner(runtime.app, views, database.conninfo, batch_size=10)
    runner.create_tables()
    print("ready", flush=True)
    while True:
        runner.catch_up()


if __name__ == "__main__":
    main(sys.argv[1], real=sys.argv[2:] == ["real"])
