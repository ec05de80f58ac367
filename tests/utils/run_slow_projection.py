"""A projector process to kill: `python -m tests.utils.run_slow_projection URL`."""

from __future__ import annotations

import sys

from domain.units import InMemoryUnitDirectory
from infra.bootstrap import build_runtime
from infra.database import Database
from projections.runner import ProjectionRunner
from tests.utils.views import SlowCountsView


def main(url: str) -> None:
    database = Database(url)
    runtime = build_runtime(database)
    view = SlowCountsView(database.datastore(), InMemoryUnitDirectory())
    runner = ProjectionRunner(runtime.app, [view], database.conninfo, batch_size=10)
    runner.create_tables()
    print("ready", flush=True)
    while True:
        runner.catch_up()


if __name__ == "__main__":
    main(sys.argv[1])
