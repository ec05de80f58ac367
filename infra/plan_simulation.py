"""Annual consultation plans for a simulated province (issue 20), in the shape of the
field reports: a city "1126+N" (1 plenary session, 1 joint meeting, 2 standing-
committee sessions, 6 bimonthly consultations, N other consultations), a county
"1124+N", the province "1126+N" too. Each plan is drafted in January, submitted and
approved by a leader as jointly issued (党委办、政府办、政协办) in February; some items
are adjusted later with a reason, a few cancelled, past non-meeting items mostly
completed, and meeting items linked to a topic of the committee's subtree that has
reached handling (its held deliberation makes the item DONE). Run through
`handle_plan`, so every rule holds; a committee that already has a plan for the year
is left alone (running it again records nothing twice)."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from domain.application import LinkageApp
from domain.errors import ConflictError
from domain.plan import MEETING_KINDS, PlanKind, parse_period
from domain.plan_commands import (
    AddPlanItem,
    AdjustPlanItem,
    ApprovePlan,
    CancelPlanItem,
    CompletePlanItem,
    DraftPlan,
    LinkPlanItem,
    SubmitPlan,
    handle_plan,
)
from domain.topic import Actor, Role
from domain.units import Level, Unit
from infra.bootstrap import Runtime

CHINA = timezone(timedelta(hours=8))
# (kind, how many, title pattern) — the fixed part of "1126+N" / "1124+N"
FIXED: dict[Level, list[tuple[PlanKind, int]]] = {
    Level.PROVINCE: [
        (PlanKind.PLENARY, 1),
        (PlanKind.JOINT_MEETING, 1),
        (PlanKind.STANDING_COMMITTEE, 2),
        (PlanKind.BIMONTHLY, 6),
    ],
    Level.CITY: [
        (PlanKind.PLENARY, 1),
        (PlanKind.JOINT_MEETING, 1),
        (PlanKind.STANDING_COMMITTEE, 2),
        (PlanKind.BIMONTHLY, 6),
    ],
    Level.COUNTY: [
        (PlanKind.PLENARY, 1),
        (PlanKind.JOINT_MEETING, 1),
        (PlanKind.STANDING_COMMITTEE, 2),
        (PlanKind.BIMONTHLY, 4),
    ],
}
EXTRA = [
    PlanKind.SPECIAL,
    PlanKind.COUNTERPART,
    PlanKind.SECTOR,
    PlanKind.LINKAGE,
    PlanKind.GRASSROOTS,
    PlanKind.SUPERVISION,
    PlanKind.RESEARCH,
    PlanKind.PROPOSAL_HANDLING,
]
SUBJECTS = [
    "老旧小区改造",
    "城乡供水保障",
    "优化营商环境",
    "乡村振兴产业发展",
    "养老服务体系建设",
    "义务教育优质均衡",
    "黄河流域生态保护",
    "背街小巷环境整治",
    "农村人居环境整治",
    "基层医疗服务能力",
    "文旅融合发展",
    "新能源产业布局",
]
ORIGINS = ["党委点题", "政府出题", "委员荐题", "社会征题", "部门提出"]
COMMITTEES = ["经济委", "人口资源环境委", "教科卫体委", "社会法制委", "农业农村委", "文史委"]


@dataclass(frozen=True, slots=True)
class PlanSimulationReport:
    plans: int
    items: int
    linked: int


def _period(kind: PlanKind, n: int, of: int, rng: random.Random, year: int) -> str:
    if kind in (PlanKind.PLENARY, PlanKind.JOINT_MEETING):
        return f"{year}-0{1 + rng.randrange(2)}"
    if kind == PlanKind.BIMONTHLY:  # every other month, spread over the year
        return f"{year}-{min(12, 2 + n * (12 // max(of, 1))):02d}"
    if rng.random() < 0.5:
        return f"{year}-Q{1 + rng.randrange(4)}"
    return f"{year}-{1 + rng.randrange(12):02d}"


def simulate_plans(
    app: LinkageApp,
    committees: list[Unit],
    topics_by_unit: dict[str, list[str]],
    *,
    year: int,
    seed: int = 7,
    now: datetime | None = None,
) -> PlanSimulationReport:
    """Draft, approve and carry out one plan per committee unit for `year`.

    `topics_by_unit`: topic ids that reached handling, by the county (6-digit code) or
    city (4-digit) their owner lies under."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    plans = items = linked = 0
    for unit in committees:
        staff = Actor(f"sim.staff.{unit.code}", unit.code, Role.STAFF)
        leader = Actor(f"sim.leader.{unit.code}", unit.code, Role.LEADER)
        drafted_at = datetime(year, 1, 5 + rng.randrange(10), 9, tzinfo=CHINA)
        approved_at = datetime(year, 2, 1 + rng.randrange(20), 10, tzinfo=CHINA)
        if approved_at + timedelta(days=1) > now:
            continue  # a year that has not reached February yet gets no approved plan
        try:
            plan_id = handle_plan(app, staff, DraftPlan(unit=unit.code, year=year), at=drafted_at)
        except ConflictError:
            continue  # PLAN_EXISTS: simulated before
        pid = str(plan_id.created_id)
        plans += 1
        kinds: list[PlanKind] = []
        for kind, count in FIXED.get(unit.level, FIXED[Level.COUNTY]):
            kinds.extend([kind] * count)
        kinds.extend(rng.sample(EXTRA, 2 + rng.randrange(4)))
        counter: dict[PlanKind, int] = defaultdict(int)
        added: list[tuple[str, PlanKind, str]] = []
        for i, kind in enumerate(kinds):
            n = counter[kind]
            counter[kind] += 1
            period = _period(kind, n, kinds.count(kind), rng, year)
            subject = rng.choice(SUBJECTS)
            result = handle_plan(
                app,
                staff,
                AddPlanItem(
                    plan_id=pid,
                    kind=kind.value,
                    title=f"{subject}{_kind_word(kind)}",
                    planned_for=period,
                    lead_leader=f"副主席{rng.choice('王李张刘陈杨赵黄')}",
                    lead_committee=rng.choice(COMMITTEES),
                    origin=rng.choice(ORIGINS),
                ),
                at=drafted_at + timedelta(minutes=i + 1),
            )
            added.append((str(result.created_id), kind, period))
        items += len(added)
        handle_plan(app, staff, SubmitPlan(plan_id=pid), at=drafted_at + timedelta(days=3))
        handle_plan(
            app,
            leader,
            ApprovePlan(plan_id=pid, issued_by=_issuers(unit.level)),
            at=approved_at,
        )
        pool = list(topics_by_unit.get(unit.code, []))
        rng.shuffle(pool)
        for item_id, kind, period in added:
            ends = parse_period(period).ends_at
            roll = rng.random()
            if roll < 0.05:
                handle_plan(
                    app,
                    leader,
                    CancelPlanItem(plan_id=pid, item_id=item_id, reason="并入其他协商活动"),
                )
                continue
            if roll < 0.18 and ends > now:
                later = f"{year}-Q4" if not period.endswith("Q4") else period
                if later != period:
                    handle_plan(
                        app,
                        leader,
                        AdjustPlanItem(
                            plan_id=pid,
                            item_id=item_id,
                            planned_for=later,
                            reason="报请党委同意后调整时间",
                        ),
                    )
                    continue
            if ends > now:
                continue
            if kind in MEETING_KINDS and pool and rng.random() < 0.85:
                handle_plan(
                    app, staff, LinkPlanItem(plan_id=pid, item_id=item_id, topic_id=pool.pop())
                )
                linked += 1
            elif kind not in MEETING_KINDS and rng.random() < 0.75:
                handle_plan(app, staff, CompletePlanItem(plan_id=pid, item_id=item_id))
    return PlanSimulationReport(plans, items, linked)


def _kind_word(kind: PlanKind) -> str:
    return {
        PlanKind.PLENARY: "（全体会议专题议政）",
        PlanKind.JOINT_MEETING: "联席会议",
        PlanKind.STANDING_COMMITTEE: "常委会议专题协商",
        PlanKind.BIMONTHLY: "双月协商座谈会",
        PlanKind.SPECIAL: "专题协商会",
        PlanKind.COUNTERPART: "对口协商",
        PlanKind.SECTOR: "界别协商",
        PlanKind.LINKAGE: "联动协商",
        PlanKind.GRASSROOTS: "小微协商",
        PlanKind.SUPERVISION: "协商式监督",
        PlanKind.RESEARCH: "专题调研",
        PlanKind.PROPOSAL_HANDLING: "提案办理协商",
        PlanKind.OTHER: "",
    }[kind]


def _issuers(level: Level) -> list[str]:
    prefix = {Level.PROVINCE: "省", Level.CITY: "市", Level.COUNTY: "县"}.get(level, "")
    return [f"{prefix}委办", f"{prefix}政府办", f"{prefix}政协办"]


def simulate_province_plans(
    runtime: Runtime, province: str, *, seed: int = 7, now: datetime | None = None
) -> PlanSimulationReport:
    """The year's plans (this year in China time) for the province, its cities and
    counties, linked to topics the read models show in handling or later."""
    runtime.projections.catch_up()
    committees = runtime.units_view.units_of(province, [Level.PROVINCE, Level.CITY, Level.COUNTY])
    topics: dict[str, list[str]] = defaultdict(list)
    with runtime.database.connect() as conn:
        rows = conn.execute(
            "SELECT topic_id, owner FROM topic_summary"
            " WHERE stage IN ('HANDLING', 'FEEDBACK', 'CLOSED') ORDER BY topic_id"
        ).fetchall()
    for topic_id, owner in rows:
        for prefix in (6, 4, 2):
            if len(owner) >= prefix:
                topics[owner[:prefix]].append(str(topic_id))
    now = now or datetime.now(UTC)
    return simulate_plans(
        runtime.app, committees, topics, year=now.astimezone(CHINA).year, seed=seed, now=now
    )
