"""Simulated consultation plans: every committee of the slice gets an approved plan in
the reports' shape, carried out in part, linked to its topics; again records nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.units import Level, Unit
from infra.bootstrap import Runtime
from infra.plan_simulation import simulate_plans, simulate_province_plans
from infra.simulate import Simulator
from projections.plans import queries as plan_queries
from tests.utils.factories import CITY, COUNTY, PROVINCE, SMALL_HIERARCHY


def test_every_committee_gets_an_approved_plan_of_its_shape(small_runtime: Runtime) -> None:
    rt = small_runtime
    places = [u for r in SMALL_HIERARCHY if (u := rt.units.get(r.code)) and u.level >= 4]
    Simulator(rt.app, rt.units, places, seed=3, days=300).run(80)
    now = datetime(2026, 11, 20, 8, tzinfo=UTC)  # late in the year: most periods are over
    report = simulate_province_plans(rt, PROVINCE, now=now)
    committees = rt.units_view.units_of(PROVINCE, [Level.PROVINCE, Level.CITY, Level.COUNTY])
    assert report.plans == len(committees) >= 3
    rt.projections.catch_up()
    year = 2026
    with rt.database.connect() as conn:
        county = plan_queries.plan_of(conn, COUNTY, COUNTY, year, now)
        city = plan_queries.plan_of(conn, CITY, CITY, year, now)
    assert county is not None
    assert city is not None
    assert county.state == city.state == "APPROVED"
    kinds = [i.kind for i in county.items]
    # "1124+N" at a county, "1126+N" at a city
    assert (kinds.count("PLENARY"), kinds.count("STANDING_COMMITTEE")) == (1, 2)
    assert kinds.count("BIMONTHLY") == 4
    assert [i.kind for i in city.items].count("BIMONTHLY") == 6
    assert report.items == sum(
        len(p.items) for p in (county, city) if p is not None
    ) + _items_elsewhere(rt, committees, {COUNTY, CITY}, year, now)

    again = simulate_plans(rt.app, committees, {}, year=year, now=now)
    assert again.plans == 0


def _items_elsewhere(
    rt: Runtime, committees: list[Unit], skip: set[str], year: int, now: datetime
) -> int:
    total = 0
    with rt.database.connect() as conn:
        for unit in committees:
            if unit.code in skip:
                continue
            plan = plan_queries.plan_of(conn, unit.code, unit.code, year, now)
            total += 0 if plan is None else len(plan.items)
    return total
