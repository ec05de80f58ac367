"""A page of topics with its nested units costs a bounded number of SQL statements:
units are fetched per request through a DataLoader, never once per topic."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from domain.units import Level
from infra.simulate import Simulator
from tests.e2e.conftest import Live
from tests.utils.factories import PROVINCE

PAGE = """
query($first: Int!) {
  topics(first: $first) {
    totalCount
    edges { node {
      title
      owner { name level }
      locationUnit { name parent { name } }
      route { unit { name } }
      tasks { handlerUnit { name } }
      coOrganizers { name }
      pendingTransfer { toUnit { name } }
    } }
  }
}
"""


def _statements() -> float:
    return REGISTRY.get_sample_value("linkage_read_sql_statements_total") or 0.0


def _cost(live: Live, first: int) -> tuple[int, float]:
    before = _statements()
    response = httpx.post(
        live.url + "/graphql",
        json={"query": PAGE, "variables": {"first": first}},
        headers=live.headers(PROVINCE),
    )
    body = response.json()
    assert "errors" not in body, body
    return len(body["data"]["topics"]["edges"]), _statements() - before


def test_a_page_of_100_topics_costs_no_more_statements_than_a_page_of_5(live: Live) -> None:
    runtime = live.server.state.runtime
    places = runtime.units_view.units_of(PROVINCE, [Level.TOWNSHIP, Level.VILLAGE])
    Simulator(runtime.app, runtime.units, places, seed=7, days=60).run(160)
    runtime.projections.wait_for(runtime.app.head_position(), timeout=60)

    small, small_cost = _cost(live, 5)
    full, full_cost = _cost(live, 100)

    assert (small, full) == (5, 100)
    # count and page, then at most one units batch per depth of nested units (two
    # here: a topic's units, then locationUnit.parent); cached units need none; and
    # one for extensions.readModels, which every answer carries
    assert small_cost <= 5, small_cost
    assert full_cost <= 5, full_cost
