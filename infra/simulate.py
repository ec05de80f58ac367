"""Realistic topic histories, deterministic for a seed, saved in batches.

Topics come from villages and townships with the channels and categories of the
field reports; most settle at their own level, some are escalated one or two
levels, some returned, some taken over, some delegated down; 4+X deliberations;
tasks with deadlines (some overdue and supervised); return visits with a
realistic mix of verdicts; some reopened. Every command goes through the domain
(all rules apply) on a snapshot of the hierarchy taken once; only the saving is
batched: each chunk of `batch` topics is one transaction (a binary COPY, see
`infra.recorder`). With `workers` the chunks are played and encoded in worker
processes while this one saves; each chunk has its own random stream, so the
events are the same whatever the number of workers.
"""

from __future__ import annotations

import multiprocessing
import random
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.pool import AsyncResult

from eventsourcing.persistence import IntegrityError, Mapper, OperationalError, StoredEvent

from domain.application import LinkageApp
from domain.errors import ConflictError
from domain.topic import Actor, Role, Topic
from domain.units import Level, Unit, UnitDirectory
from infra.database import DatabaseUnavailableError

CATEGORIES: dict[str, list[str]] = {
    "供水": ["二次供水水压不足", "自来水管网老化漏水", "农村饮水安全工程维修"],
    "停车": ["小区停车位紧张", "占用消防通道停车", "集贸市场周边乱停车"],
    "垃圾处理": ["垃圾清运不及时", "垃圾分类点位设置不合理", "建筑垃圾随意倾倒"],
    "农村住房": ["危房改造进度慢", "宅基地审批手续繁琐", "农房抗震改造补贴"],
    "养老服务": ["社区养老食堂运营困难", "高龄老人助浴服务缺失", "日间照料中心设施不足"],
    "校园食品安全": ["学校食堂食材来源不明", "校外托管机构餐饮卫生", "营养餐配送不及时"],
    "营商环境": ["个体工商户办证难", "惠企政策兑现慢", "市场摊位租金上涨"],
    "道路交通": ["村组道路硬化", "路灯损坏无人维修", "学校门口交通拥堵"],
    "物业管理": ["物业服务质量差", "电梯频繁故障", "公共维修资金使用不透明"],
}
SOURCES = ["HOTLINE_12345"] * 5 + [
    "MEMBER_PROPOSAL",
    "SOCIAL_INFO",
    "VISIT",
    "ONLINE",
    "GRID",
    "GRID",
]
PANEL: list[dict[str, str | None]] = [
    {"name": "政协委员", "kind": "MEMBER", "member_id": None},
    {"name": "村（社区）干部", "kind": "CADRE", "member_id": None},
    {"name": "职能部门负责人", "kind": "DEPARTMENT", "member_id": None},
    {"name": "群众代表", "kind": "PUBLIC", "member_id": None},
    {"name": "利益相关方", "kind": "STAKEHOLDER", "member_id": None},
]


@dataclass(frozen=True, slots=True)
class SimulationReport:
    topics: int
    events: int
    position: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """One transaction's worth of topics, with its own random stream."""

    index: int
    topics: int


class UnitSnapshot:
    """The places and their ancestors, looked up once: the simulation's directory."""

    def __init__(self, units: Iterable[Unit]) -> None:
        self._units = {u.code: u for u in units}
        self._children: dict[str, list[Unit]] = {}
        for unit in self._units.values():
            if unit.parent:
                self._children.setdefault(unit.parent, []).append(unit)

    @classmethod
    def around(cls, units: UnitDirectory, places: Sequence[Unit]) -> UnitSnapshot:
        found = {p.code: p for p in places}
        for code in sorted({c for p in places for c in p.path} - set(found)):
            unit = units.get(code)
            if unit is not None:
                found[code] = unit
        return cls(found.values())

    def get(self, code: str) -> Unit | None:
        return self._units.get(code)

    def children(self, code: str) -> list[Unit]:
        return self._children.get(code, [])


class Simulator:
    """Plays topic histories on the domain, `batch` topics per transaction."""

    def __init__(
        self,
        app: LinkageApp,
        units: UnitDirectory,
        places: Sequence[Unit],
        *,
        seed: int = 1,
        days: int = 365,
        now: datetime | None = None,
        batch: int = 500,
        workers: int = 0,
    ) -> None:
        self.app = app
        self.seed = seed
        self.batch = batch
        self.workers = workers
        # Midnight UTC by default: the same seed gives the same events all day.
        now = now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.histories = Histories(UnitSnapshot.around(units, places), places, days=days, now=now)

    def run(self, topics: int, progress: Callable[[int], object] | None = None) -> SimulationReport:
        events = position = 0
        chunks = [
            Chunk(i, min(self.batch, topics - start))
            for i, start in enumerate(range(0, topics, self.batch))
        ]
        for chunk, stored in self._played(chunks):
            try:
                ids = self.app.recorder.insert_events(stored)
            except IntegrityError:
                raise ConflictError(
                    "SIMULATION_ALREADY_RECORDED",
                    f"the topics of seed {self.seed} are already in the store; "
                    "simulate with another seed",
                ) from None
            except OperationalError as exc:
                first_line = str(exc).strip().splitlines()[0]
                raise DatabaseUnavailableError(
                    f"the database went away after {events:,} simulated events were saved "
                    f"(chunk {chunk.index} was not): {first_line}"
                ) from None
            events += len(stored)
            position = ids[-1] if ids else position
            if progress:
                progress(chunk.topics)
        return SimulationReport(topics, events, position)

    def _played(self, chunks: list[Chunk]) -> Iterator[tuple[Chunk, list[StoredEvent]]]:
        """Each chunk's events, encoded, in chunk order."""
        if self.workers <= 0:
            for chunk in chunks:
                yield chunk, self.histories.play(self.seed, chunk, self.app.mapper)
            return
        context = multiprocessing.get_context("spawn")
        with context.Pool(
            self.workers, initializer=_start_worker, initargs=(self.histories,)
        ) as pool:
            pending: deque[tuple[Chunk, AsyncResult[list[StoredEvent]]]] = deque()
            for chunk in chunks:
                pending.append((chunk, pool.apply_async(_play, (self.seed, chunk))))
                if len(pending) > 2 * self.workers:  # bounded: memory stays flat
                    done, result = pending.popleft()
                    yield done, result.get()
            while pending:
                done, result = pending.popleft()
                yield done, result.get()


class _Worker:
    """What a worker process holds between chunks: the histories and an encoder."""

    histories: Histories | None = None
    mapper: Mapper[uuid.UUID] | None = None


def _start_worker(histories: Histories) -> None:
    # The same transcodings as the parent's application; nothing is stored here.
    app = LinkageApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, units=histories.units)
    _Worker.histories, _Worker.mapper = histories, app.mapper


def _play(seed: int, chunk: Chunk) -> list[StoredEvent]:
    histories, mapper = _Worker.histories, _Worker.mapper
    if histories is None or mapper is None:
        raise RuntimeError("the simulation worker was not started")
    return histories.play(seed, chunk, mapper)


class Histories:
    """The topic histories themselves: commands on the domain's `Topic`."""

    def __init__(
        self, units: UnitSnapshot, places: Sequence[Unit], *, days: int, now: datetime
    ) -> None:
        self.units = units
        self.places = list(places)
        self.days = days
        self.now = now
        self.rng = random.Random()

    def play(self, seed: int, chunk: Chunk, mapper: Mapper[uuid.UUID]) -> list[StoredEvent]:
        self.rng = random.Random(f"linkage-simulation/{seed}/{chunk.index}")
        return [
            mapper.to_stored_event(event)
            for _ in range(chunk.topics)
            for event in self.topic().collect_events()
        ]

    # -- one topic -------------------------------------------------------------------

    def topic(self) -> Topic:
        rng = self.rng
        place = rng.choice(self.places)
        category = rng.choice(list(CATEGORIES))
        title = f"{place.name}{rng.choice(CATEGORIES[category])}"
        start = self.now - timedelta(days=rng.uniform(1, self.days))
        clock = _Clock(start, self.now, rng)
        staff = self._staff(place.code)
        topic = Topic.submit(
            actor=staff,
            units=self.units,
            title=title,
            description=f"群众反映：{title}，希望尽快协调解决。",
            category=category,
            source=rng.choice(SOURCES),
            location=place.code,
            at=clock.now,
            topic_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        )
        if not clock.step(0.5, 2):
            return topic
        self._move(topic, clock)
        if not clock.step(0.5, 2):
            return topic
        owner = self._staff(topic.owner)
        if rng.random() < 0.05:
            topic.decline(owner, "不属于协商范围，已转交相关部门", at=clock.now)
            return topic
        topic.determine(owner, "经党组织审核同意列为协商议题", at=clock.now)
        if rng.random() < 0.6 and clock.step(1, 3):
            topic.start_research(owner, "委员入户走访、实地查看", at=clock.now)
            if not clock.step(2, 6):
                return topic
            topic.report_research(owner, "形成调研报告，梳理问题清单", at=clock.now)
        if not clock.step(1, 5):
            return topic
        place_name = self.units.get(topic.owner)
        meeting = topic.schedule_deliberation(
            owner,
            clock.now + timedelta(days=3),
            f"{place_name.name if place_name else ''}协商议事室",
            rng.choice(["现场协商", "网络协商", "院坝协商"]),
            PANEL,
            at=clock.now,
        )
        if not clock.step(3, 4):
            return topic
        topic.record_deliberation(
            owner,
            meeting,
            ["政协委员", "村（社区）干部", "群众代表"],
            "各方充分协商，形成一致意见。",
            ["明确责任单位", "限期整改", "完成后回访群众"],
            at=clock.now,
        )
        return self._handle(topic, owner, clock)

    def _move(self, topic: Topic, clock: _Clock) -> None:
        rng = self.rng
        roll = rng.random()
        unit = self.units.get(topic.owner)
        assert unit is not None
        if roll < 0.25 and unit.parent:
            self._escalate(topic, clock, accept=rng.random() > 0.15)
            if roll < 0.08 and topic.owner != unit.code and clock.step(1, 3):
                self._escalate(topic, clock, accept=True)
        elif roll < 0.28 and len(unit.path) >= 3:
            county = unit.path[2]
            topic.take_over(
                Actor(f"leader-{county}", county, Role.LEADER),
                self.units,
                "区县领导提级办理",
                at=clock.now,
            )
        elif roll < 0.33 and unit.level == Level.TOWNSHIP:
            villages = [p for p in self.units.children(unit.code) if p.level == Level.VILLAGE]
            if villages:
                target = rng.choice(villages)
                topic.delegate(
                    self._staff(unit.code),
                    self.units,
                    target.code,
                    "请村（社区）先行协商",
                    clock.now + timedelta(days=10),
                    at=clock.now,
                )
                if clock.step(0.5, 2):
                    topic.accept_transfer(self._staff(target.code), "村里承接", at=clock.now)

    def _escalate(self, topic: Topic, clock: _Clock, *, accept: bool) -> None:
        unit = self.units.get(topic.owner)
        if unit is None or unit.parent is None or unit.level <= Level.COUNTY:
            return
        topic.escalate(
            self._staff(unit.code), self.units, None, "本级无法协调解决，申请上级协商", at=clock.now
        )
        if not clock.step(0.5, 2):
            return
        if accept:
            topic.accept_transfer(self._staff(unit.parent), "同意受理", at=clock.now)
        else:
            topic.return_transfer(
                self._staff(unit.parent), "属本级职责范围，请先行协商", at=clock.now
            )

    def _handle(self, topic: Topic, owner: Actor, clock: _Clock) -> Topic:
        rng = self.rng
        task_ids = []
        for _ in range(rng.choice([1, 1, 2])):
            handler_unit = topic.owner if rng.random() < 0.6 else topic.location
            due = clock.now + timedelta(days=rng.choice([7, 15, 30]))
            task_ids.append(
                topic.assign_task(
                    owner,
                    self.units,
                    handler_unit,
                    "责任单位",
                    "按协商意见落实整改",
                    due,
                    at=clock.now,
                )
            )
        for task_id in task_ids:
            if not clock.step(0.2, 3):
                return topic
            handler = Actor(
                f"handler-{topic.tasks[task_id].handler_unit}",
                topic.tasks[task_id].handler_unit,
                Role.HANDLER,
            )
            topic.sign_task(handler, task_id, at=clock.now)
        for task_id in task_ids:
            task = topic.tasks[task_id]
            handler = Actor(f"handler-{task.handler_unit}", task.handler_unit, Role.HANDLER)
            late = rng.random() < 0.15
            if not clock.step(3, (task.due - clock.now).days + (20 if late else -1)):
                return topic
            if clock.now > task.due and rng.random() < 0.7:
                topic.supervise_task(owner, self.units, task_id, "请加快办理进度", at=clock.now)
            topic.complete_task(handler, task_id, "已按要求办结", at=clock.now)
        while clock.step(1, 4):
            topic.give_feedback(owner, "已将办理结果向群众反馈", "电话", at=clock.now)
            if not clock.step(2, 7):
                return topic
            verdict = rng.choices(
                ["SATISFIED", "BASICALLY_SATISFIED", "UNSATISFIED"], [70, 20, 10]
            )[0]
            topic.record_return_visit(
                owner, rng.random() < 0.97, verdict != "UNSATISFIED", verdict, None, at=clock.now
            )
            if not clock.step(0.5, 2):
                return topic
            if verdict == "UNSATISFIED" and topic.reopened == 0:
                topic.reopen(owner, "群众不满意，重新办理", at=clock.now)
                redo = topic.assign_task(
                    owner,
                    self.units,
                    topic.owner,
                    "责任单位",
                    "重新办理",
                    clock.now + timedelta(days=15),
                    at=clock.now,
                )
                handler = Actor(f"handler-{topic.owner}", topic.owner, Role.HANDLER)
                if not clock.step(0.5, 2):
                    return topic
                topic.sign_task(handler, redo, at=clock.now)
                if not clock.step(2, 12):
                    return topic
                topic.complete_task(handler, redo, "重新办理完毕", at=clock.now)
                continue
            topic.close(owner, "办结", at=clock.now)
            return topic
        return topic

    def _staff(self, unit: str) -> Actor:
        return Actor(f"staff-{unit}", unit, Role.STAFF)


class _Clock:
    """A topic's own time line; `step` is False once it would pass `end`, and after."""

    def __init__(self, start: datetime, end: datetime, rng: random.Random) -> None:
        self.now = start
        self.end = end
        self.rng = rng
        self.over = False

    def step(self, low: float, high: float) -> bool:
        later = self.now + timedelta(days=self.rng.uniform(low, max(low, high)))
        if self.over or later >= self.end:
            self.over = True
            return False
        self.now = later
        return True
