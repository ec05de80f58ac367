"""/healthz, /readyz and /metrics as a load balancer and Prometheus see them: with an
operator's token (AUDITOR of the province), which /metrics needs and for which
/readyz details its answer (tests/e2e/test_security_ops.py: what others see)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from api.commands import command_of
from domain.errors import NotFoundError
from domain.topic import Role
from infra.bootstrap import view_classes
from infra.database import Database
from tests.e2e.conftest import Live
from tests.utils.factories import PROVINCE, VILLAGE, submission


def _get(live: Live, path: str) -> httpx.Response:
    operator = live.headers(PROVINCE, Role.AUDITOR)
    return httpx.get(live.url + path, headers=operator, timeout=10)


def _submit(live: Live, title: str = "小区二次供水水压不足") -> int:
    principal = live.server.state.tokens.verify(live.token(VILLAGE))
    result = live.server.state.commands.run(
        principal, command_of("submitTopic", None, submission(title=title))
    )
    return result.position


def _samples(live: Live) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = _get(live, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _commands(samples: dict[Any, float], command: str, outcome: str) -> float:
    key = ("linkage_commands_total", (("command", command), ("outcome", outcome)))
    return samples.get(key, 0.0)


def test_healthz_answers_without_a_token(live: Live) -> None:
    response = _get(live, "/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_the_database_each_read_model_and_no_relay_yet(live: Live) -> None:
    position = _submit(live)
    live.server.state.runtime.projections.wait_for(position)

    response = _get(live, "/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["database"] == "ok"
    assert body["runner"] == "running"
    assert body["relay"] is None
    assert body["problems"] == []
    assert body["head"] == position
    assert body["lag"] == 0
    assert set(body["projections"]) == {cls.name for cls in view_classes()}
    for view in body["projections"].values():
        assert view == {
            "position": position,
            "head": position,
            "lag": 0,
            "dead_letters": 0,
            "parked_topics": 0,
        }


def test_readyz_shows_the_lag_of_commands_the_read_models_have_not_applied(live: Live) -> None:
    runner = live.server.state.runtime.projections
    before = _submit(live)
    runner.wait_for(before)
    runner.stop()

    after = [_submit(live, f"第{i}件") for i in range(3)][-1]
    stopped = _get(live, "/readyz").json()
    runner.start()
    runner.wait_for(after)
    caught_up = _get(live, "/readyz").json()

    assert stopped["status"] == "degraded"
    assert stopped["runner"] == "stopped"
    assert "projection runner" in stopped["problems"][0]
    assert stopped["head"] == after
    assert stopped["lag"] == after - before == 3
    assert {v["position"] for v in stopped["projections"].values()} == {before}
    assert caught_up["status"] == "ready"
    assert caught_up["lag"] == 0


def test_readyz_is_degraded_but_serving_while_a_read_model_has_dead_letters(
    live: Live, database: Database
) -> None:
    position = _submit(live)
    live.server.state.runtime.projections.wait_for(position)
    with database.connect() as conn:
        conn.execute(
            "INSERT INTO public.projection_dead_letters (projection, position, topic_id, error)"
            " VALUES ('stats', %s, 'some-topic', 'KeyError: category')",
            (position,),
        )

    response = _get(live, "/readyz")
    samples = _samples(live)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["projections"]["stats"]["dead_letters"] == 1
    assert body["projections"]["stats"]["parked_topics"] == 1
    assert body["projections"]["topics"]["dead_letters"] == 0
    assert body["problems"] == [
        "stats: 1 dead letters parking 1 topics (`linkage projections retry stats` after a fix)"
    ]
    assert samples[("linkage_projection_dead_letters", (("view", "stats"),))] == 1
    assert samples[("linkage_projection_dead_letters", (("view", "topics"),))] == 0


def test_metrics_count_commands_by_name_and_outcome(live: Live) -> None:
    principal = live.server.state.tokens.verify(live.token(VILLAGE))
    before = _samples(live)

    _submit(live)
    with pytest.raises(NotFoundError):
        live.server.state.commands.run(
            principal, command_of("closeTopic", uuid.uuid4(), {"summary": "办结"})
        )
    after = _samples(live)

    assert _commands(after, "submitTopic", "OK") - _commands(before, "submitTopic", "OK") == 1
    assert (
        _commands(after, "closeTopic", "NOT_FOUND") - _commands(before, "closeTopic", "NOT_FOUND")
        == 1
    )
    assert ("linkage_command_seconds_count", (("command", "submitTopic"),)) in after


def test_metrics_report_the_store_head_and_each_read_models_position_and_lag(
    live: Live,
) -> None:
    runner = live.server.state.runtime.projections
    runner.wait_for(_submit(live))
    runner.stop()
    head = _submit(live)

    samples = _samples(live)

    assert samples[("linkage_database_up", ())] == 1
    assert samples[("linkage_store_head_position", ())] == head
    for view in ("topics", "timeline", "stats"):
        assert samples[("linkage_projection_position", (("view", view),))] == head - 1
        assert samples[("linkage_projection_lag_events", (("view", view),))] == 1
        assert samples[("linkage_projection_parked_topics", (("view", view),))] == 0


def test_a_database_outage_gives_503_quickly_and_recovers_without_restart(
    live: Live, database: Database, pg_admin: str
) -> None:
    name = sql.Identifier(database.params["dbname"])
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database.params["dbname"],),
        )
        try:
            started = time.monotonic()
            down = _get(live, "/readyz")
            waited = time.monotonic() - started
            samples = _samples(live)
            alive = _get(live, "/healthz")
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))

    assert down.status_code == 503
    assert waited < 5
    assert down.headers["retry-after"] == "1"
    assert down.json()["status"] == "unavailable"
    assert down.json()["database"] == "unreachable"
    assert down.json()["reason"].startswith("the database cannot be reached")
    assert samples[("linkage_database_up", ())] == 0
    assert ("linkage_store_head_position", ()) not in samples
    assert alive.status_code == 200
    assert _eventually_ready(live)


def _eventually_ready(live: Live, within: float = 20.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if _get(live, "/readyz").status_code == 200:
            return True
        time.sleep(0.2)
    return False
