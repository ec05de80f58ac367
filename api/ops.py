"""Operations: /healthz (alive), /readyz (can serve, and how far behind), /metrics.

Who sees what: the store head, read-model positions and counts are province-wide
figures, so they go to an *operator* only — a valid token with the AUDITOR role
for the root unit of the hierarchy (the province; `linkage token issue --unit 62
--role auditor --ttl 30d` for a Prometheus scraper).

* `/healthz` needs no token: `{"status": "ok"}`.
* `/readyz` needs no token (a load balancer probes it): anyone else gets the
  status only (`ready`, `degraded` — 200 —, or `unavailable` — 503 with
  Retry-After); an operator also gets the database, each read model's position,
  head, lag and dead letters, the runner, the relay and the problems.
* `/metrics` needs an operator's token: 401 without a valid one, 403 for any other
  (FORBIDDEN / METRICS_OPERATOR_ONLY).

Each probe is fresh (nothing is cached): the database is asked for `SELECT 1`
through the read pool, which hands out live connections only and gives up within
a fraction of a second (infra.pools), so an outage answers 503 at once and the
first probe after recovery answers 200.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.auth import Principal, UnauthenticatedError
from api.deps import StateDep
from api.errors import RETRY_AFTER, database_unreachable
from api.state import ApiState
from domain.access import OPERATOR_ROLE, may_operate
from domain.errors import ForbiddenError
from infra.stream.state import StreamStatus, stream_status
from projections.runner import ViewStatus

PROBE_TIMEOUT = 2.0  # seconds /readyz and /metrics wait at most for a busy read pool

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


def operator(state: ApiState, authorization: str | None) -> Principal | None:
    """The caller when it is an operator (see the module doc), else None."""
    try:
        principal = state.tokens.principal(authorization, check_unit=False)  # _is_operator
    except UnauthenticatedError:
        return None
    return principal if _is_operator(state, principal) else None


def _is_operator(state: ApiState, principal: Principal) -> bool:
    """AUDITOR of the root unit (a province code: the top of the five levels) that is
    not retired — the directory is asked when the database answers; in an outage the
    code's level decides, so an operator still learns why the probe fails."""
    if not may_operate(principal.roles, principal.unit):  # domain.access
        return False
    try:
        unit = state.runtime.units.get(principal.unit)
    except Exception as exc:
        if not database_unreachable(exc):
            raise
        return True
    return unit is not None and unit.parent is None and not unit.retired


Authorization = Annotated[
    str | None, Header(description="An operator's bearer token (AUDITOR of the root unit)")
]


@router.get(
    "/readyz",
    summary="The database answers; read-model positions, lag and dead letters (operators)",
    responses={503: {"description": "The database cannot be reached"}},
)
def readyz(state: StateDep, authorization: Authorization = None) -> JSONResponse:
    found = probe(state)
    detailed = operator(state, authorization) is not None
    if found.database_error is not None:
        body: dict[str, Any] = {"status": "unavailable"}
        if detailed:
            body |= {
                "database": "unreachable",
                "reason": f"the database cannot be reached: {found.database_error}",
                "relay": None,
            }
        return JSONResponse(body, status_code=503, headers={"Retry-After": RETRY_AFTER})
    problems = found.problems
    body = {"status": "degraded" if problems else "ready"}
    if not detailed:
        return JSONResponse(body)
    body |= {
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


@router.get(
    "/metrics",
    summary="Prometheus text exposition (operators: AUDITOR of the root unit)",
    response_class=Response,
    responses={401: {"description": "No valid token"}, 403: {"description": "Not an operator"}},
)
def metrics(state: StateDep, authorization: Authorization = None) -> Response:
    # 401 without a valid token; the unit is checked by _is_operator (also in an outage)
    principal = state.tokens.principal(authorization, check_unit=False)
    if not _is_operator(state, principal):
        raise ForbiddenError(
            "METRICS_OPERATOR_ONLY",
            f"/metrics shows province-wide figures: it needs a token with the "
            f"{OPERATOR_ROLE} role for the root unit, not {', '.join(principal.roles)} "
            f"of unit {principal.unit}",
        )
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
