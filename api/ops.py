"""Operations: /healthz (alive), /readyz (can serve, and how far behind), /metrics.

No token is needed. The database is probed through the read pool with a short
timeout, and nothing else is asked of it when that probe fails, so an outage
answers 503 within seconds instead of holding a worker (or giving a 500).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.deps import StateDep
from api.state import ApiState
from infra.stream.state import StreamStatus, stream_status
from projections.runner import ViewStatus

PROBE_TIMEOUT = 2.0  # seconds /readyz and /metrics wait for a database connection

router = APIRouter(tags=["operations"])


@dataclass(frozen=True, slots=True)
class Readiness:
    """What one probe found: the database, each read model, the runner."""

    database_error: str | None = None
    views: list[ViewStatus] = field(default_factory=list)
    # running | stopped | elsewhere (Kafka projectors, or the parent of uvicorn workers)
    runner: str = "elsewhere"
    stream: StreamStatus | None = None  # distributed mode: the relay and the projectors

    @property
    def head(self) -> int:
        return max((v.head for v in self.views), default=0)

    @property
    def lag(self) -> int:
        return max((v.lag for v in self.views), default=0)

    @property
    def problems(self) -> list[str]:
        """Why the process serves, but not as it should ("degraded")."""
        found = [
            f"{v.name}: {v.dead_letters} dead letters parking {v.parked_topics} topics "
            f"(`linkage projections retry {v.name}` after a fix)"
            for v in self.views
            if v.dead_letters
        ]
        if self.runner == "stopped":
            found.append("the projection runner of this process is not running")
        if self.stream is not None:
            found.extend(self.stream.problems)
        return found


def probe(state: ApiState) -> Readiness:
    """Ask the database for `SELECT 1`, then (only if it answered) for the read models."""
    try:
        with state.reads.connection(timeout=PROBE_TIMEOUT) as conn:
            # a plain cursor: the probe is not one of the reads /metrics counts
            psycopg.Cursor(conn).execute("SELECT 1")
        views = state.runtime.projections.status()
        watermark = state.runtime.kafka_watermark
        stream = None
        if watermark is not None:
            stream = stream_status(watermark, max((v.head for v in views), default=0))
    except (psycopg.Error, PersistenceError) as exc:
        lines = str(exc).strip().splitlines()
        return Readiness(database_error=lines[0] if lines else type(exc).__name__)
    runner = "elsewhere"
    if state.projecting:
        runner = "running" if state.runtime.projections.following else "stopped"
    return Readiness(views=views, runner=runner, stream=stream)


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers; read-model positions, lag and dead letters",
    responses={503: {"description": "The database cannot be reached"}},
)
def readyz(state: StateDep) -> JSONResponse:
    found = probe(state)
    if found.database_error is not None:
        body: dict[str, Any] = {
            "status": "unavailable",
            "database": "unreachable",
            "reason": f"the database cannot be reached: {found.database_error}",
            "relay": None,
        }
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
    problems = found.problems
    body = {
        "status": "degraded" if problems else "ready",
        "database": "ok",
        "head": found.head,
        "lag": found.lag,
        "projections": {
            v.name: {
                "position": v.position,
                "head": v.head,
                "lag": v.lag,
                "dead_letters": v.dead_letters,
                "parked_topics": v.parked_topics,
            }
            for v in found.views
        },
        "runner": found.runner,
        "relay": None,  # embedded mode: no Kafka
        "consumer": None,
        "problems": problems,
    }
    if found.stream is not None:
        body.update(found.stream.as_json())
    return JSONResponse(body)


@router.get("/metrics", summary="Prometheus text exposition", response_class=Response)
def metrics(state: StateDep) -> Response:
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(StoreCollector(probe(state)))
    return Response(
        generate_latest(REGISTRY) + generate_latest(scrape), media_type=CONTENT_TYPE_LATEST
    )


class StoreCollector(Collector):
    """The store head and each read model's position, lag and dead letters, as probed."""

    def __init__(self, found: Readiness) -> None:
        self.found = found

    def collect(self) -> Iterator[Metric]:
        up = self.found.database_error is None
        yield GaugeMetricFamily(
            "linkage_database_up", "1 when the database answered the probe", value=int(up)
        )
        if not up:
            return
        yield GaugeMetricFamily(
            "linkage_store_head_position",
            "Events appended to the store (position of the last one)",
            value=self.found.head,
        )
        families = {
            "position": _per_view("position", "Last store position a read model applied"),
            "lag": _per_view("lag_events", "Events a read model is behind the store head"),
            "dead": _per_view("dead_letters", "Events a read model could not apply"),
            "parked": _per_view("parked_topics", "Topics a read model stopped at a dead letter"),
        }
        for v in self.found.views:
            families["position"].add_metric([v.name], v.position)
            families["lag"].add_metric([v.name], v.lag)
            families["dead"].add_metric([v.name], v.dead_letters)
            families["parked"].add_metric([v.name], v.parked_topics)
        yield from families.values()
        stream = self.found.stream
        if stream is not None:
            yield GaugeMetricFamily(
                "linkage_relay_position",
                "Last store position the relay published",
                value=stream.relay_position,
            )
            yield GaugeMetricFamily(
                "linkage_relay_lag_events",
                "Events in the store not yet published to Kafka",
                value=stream.relay_lag,
            )
            yield GaugeMetricFamily(
                "linkage_consumer_lag_messages",
                "Kafka messages published but not yet applied by the projectors",
                value=stream.consumer_lag,
            )


def _per_view(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"linkage_projection_{name}", documentation, labels=["view"])
