"""Running the API: one process (embedded) or several uvicorn workers.

The process that runs `serve` opens the database (starting the embedded server if
no LINKAGE_DATABASE_URL is set) and, unless Kafka feeds the read models, runs the
projection runner. With `workers > 1` uvicorn starts worker processes that build
their own `ApiState` on the same database (`worker_app`), without projecting.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.state import ApiState
from infra.bootstrap import Runtime, bootstrap, build_runtime
from infra.database import Database
from infra.settings import Settings

WORKER_DATABASE = "LINKAGE_WORKER_DATABASE_URL"


def worker_app() -> FastAPI:
    """uvicorn's factory in each worker process (`--workers > 1`)."""
    settings = Settings.from_env()
    conninfo = os.environ.get(WORKER_DATABASE) or settings.database_url
    if not conninfo:
        raise RuntimeError(f"{WORKER_DATABASE} is not set for the worker")
    runtime = build_runtime(Database(conninfo), settings)
    return create_app(ApiState.open(runtime, projecting=False), close_state=True)


def default_workers() -> int:
    """`linkage serve`'s worker processes: one per core this process may run on (the
    API's work per command is CPU; the database commits many in one group)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def projects_in_process(settings: Settings) -> bool:
    """Embedded mode projects in-process; with Kafka the projector processes do."""
    return settings.kafka_bootstrap is None


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    runtime: Runtime | None = None,
) -> None:
    """Serve until interrupted (blocks)."""
    owned = runtime is None
    runtime = runtime or bootstrap(settings)
    try:
        projecting = projects_in_process(settings)
        if workers <= 1:
            state = ApiState.open(runtime, projecting=projecting)
            try:
                uvicorn.run(
                    create_app(state), host=host, port=port, log_level="warning", access_log=False
                )
            finally:
                state.close()
            return
        # the tables exist before the workers race to create them
        read_models = runtime.open_read_models()
        if projecting:
            read_models.start()
        os.environ[WORKER_DATABASE] = runtime.database.conninfo
        uvicorn.run(
            "api.entry.server:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
    finally:
        if owned:
            runtime.close()


@dataclass
class RunningServer:
    url: str
    state: ApiState
    server: uvicorn.Server


@contextmanager
def running(
    runtime: Runtime, host: str = "127.0.0.1", port: int = 0, *, projecting: bool = True
) -> Iterator[RunningServer]:
    """Serve `runtime` on a background thread (tests, demo); port 0 picks a free one."""
    state = ApiState.open(runtime, projecting=projecting)
    config = uvicorn.Config(
        create_app(state), host=host, port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the API server did not start on {host}:{port}")
            threading.Event().wait(0.02)
        bound = server.servers[0].sockets[0].getsockname()[1]
        yield RunningServer(f"http://{host}:{bound}", state, server)
    finally:
        server.should_exit = True
        thread.join(10)
        state.close()
