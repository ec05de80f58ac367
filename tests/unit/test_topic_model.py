"""Model-based test: random command sequences against the app and a reference model.

Random actors (any unit of the small hierarchy, any role) send random commands to
several topics. A small reference model, written independently of `domain.topic`,
predicts for every command whether it is accepted and, if not, which rule refuses
it. After every step the invariants of DESIGN §4 are checked against the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from domain.application import CommandResult, LinkageApp
from domain.errors import LinkageError
from domain.topic import Actor, Role, Stage, Topic, TransferKind
from domain.units import InMemoryUnitDirectory, Level, UnitRecord
from tests.utils.factories import (
    COUNTY,
    FULL_PANEL,
    SIBLING_VILLAGE,
    SMALL_HIERARCHY,
    START,
    TOWNSHIP,
    VILLAGE,
    actor,
    handler,
    leader,
    staff,
)

# -- the world the model knows --------------------------------------------------------

RETIRED = "620102001099"
UNKNOWN = "620102001999"
UNITS = [r.code for r in SMALL_HIERARCHY]
PARENT: dict[str, str | None] = {r.code: r.parent for r in SMALL_HIERARCHY}
PARENT[RETIRED] = TOWNSHIP
CODES = [*UNITS, RETIRED, UNKNOWN]


def ancestors(code: str) -> list[str]:
    """Strict ancestors, nearest first."""
    found = []
    parent = PARENT.get(code)
    while parent is not None:
        found.append(parent)
        parent = PARENT[parent]
    return found


MANAGING = {Role.STAFF, Role.LEADER}
SUBMITTING = {Role.STAFF, Role.LEADER, Role.MEMBER, Role.INTAKE}
HANDLING = {Role.STAFF, Role.LEADER, Role.HANDLER}
LEADING = {Role.LEADER}
COMMENTING = {Role.STAFF, Role.LEADER, Role.HANDLER, Role.MEMBER}

TERMINAL = {Stage.CLOSED, Stage.DECLINED, Stage.WITHDRAWN, Stage.MERGED}
MOVABLE = {Stage.COLLECTED, Stage.DETERMINED, Stage.RESEARCH, Stage.DELIBERATION, Stage.HANDLING}
MERGEABLE = {Stage.COLLECTED, Stage.DETERMINED, Stage.RESEARCH}
RANK = {
    Stage.COLLECTED: 0,
    Stage.DETERMINED: 1,
    Stage.RESEARCH: 2,
    Stage.DELIBERATION: 3,
    Stage.HANDLING: 4,
    Stage.FEEDBACK: 5,
}
PARTIAL_PANEL = [p for p in FULL_PANEL if p["kind"] != "PUBLIC"]


class Refused(Exception):
    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def need(condition: bool, rule: str) -> None:
    if not condition:
        raise Refused(rule)


@dataclass
class MTask:
    handler_unit: str
    status: str
    due: datetime


@dataclass
class MTopic:
    tid: uuid.UUID
    location: str
    owner: str
    stage: Stage = Stage.COLLECTED
    pending: tuple[TransferKind, str, str] | None = None
    route: list[str] = field(default_factory=list)
    co: list[str] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)  # returned a transfer; fed a merge
    reports: int = 0
    meetings: dict[str, bool] = field(default_factory=dict)  # id -> held
    tasks: dict[str, MTask] = field(default_factory=dict)
    visits: list[str] = field(default_factory=list)  # since the last feedback
    reopened: int = 0
    returns: int = 0
    comments: int = 0
    version: int = 1

    # the guards, in the order the rules are stated
    def open(self) -> None:
        need(self.stage not in TERMINAL, "TOPIC_TERMINAL")

    def owned_by(self, a: Actor) -> None:
        need(a.role in MANAGING, "ROLE_NOT_PERMITTED")
        self.open()
        need(a.unit == self.owner, "NOT_OWNER")

    def in_stage(self, *stages: Stage) -> None:
        need(self.stage in stages, "STAGE_ORDER")

    def no_pending(self) -> None:
        need(self.pending is None, "TRANSFER_PENDING")

    def organised_by(self, a: Actor) -> None:
        need(a.role in MANAGING, "ROLE_NOT_PERMITTED")
        self.open()
        need(a.unit == self.owner or a.unit in self.co, "NOT_OWNER_OR_CO_ORGANIZER")

    def owner_or_above(self, a: Actor) -> None:
        self.open()
        need(a.unit == self.owner or a.unit in ancestors(self.owner), "NOT_OWNER_OR_ANCESTOR")

    def task(self, task_id: str) -> MTask:
        need(task_id in self.tasks, "TASK_NOT_FOUND")
        return self.tasks[task_id]

    def handled_by(self, a: Actor, task: MTask) -> None:
        need(a.role in HANDLING, "ROLE_NOT_PERMITTED")
        self.open()
        need(a.unit == task.handler_unit, "NOT_TASK_HANDLER")

    def involved_now(self, unit: str) -> bool:
        involved = {self.owner, *self.co, *(t.handler_unit for t in self.tasks.values())}
        if self.pending:
            involved.add(self.pending[2])
        return (
            unit in involved
            or unit in (self.location, *ancestors(self.location))
            or unit in (self.owner, *ancestors(self.owner))
        )

    def visible_to(self, unit: str) -> bool:
        """Involved now, or before: on the route, returned a transfer, fed a merge."""
        return self.involved_now(unit) or unit in {*self.route, *self.readers}

    def move_to(self, unit: str) -> None:
        self.owner = unit
        self.route.append(unit)
        self.pending = None


def descendants(code: str) -> list[str]:
    return [unit for unit in PARENT if code in ancestors(unit)]


def active(code: str) -> None:
    need(code in PARENT, "UNIT_NOT_FOUND")
    need(code != RETIRED, "UNIT_RETIRED")


def check_submission(a: Actor, location: str, title: str, source: str) -> None:
    need(a.role in SUBMITTING, "ROLE_NOT_PERMITTED")
    # a place outside the submitter's area reads as an unknown code
    need(location == a.unit or a.unit in ancestors(location), "UNIT_NOT_FOUND")
    active(location)
    need(bool(title.strip()), "FIELD_REQUIRED")
    need(source == "HOTLINE_12345", "INVALID_VALUE")


# -- the app under test, keeping the in-memory aggregates it saved ---------------------


class RecordingApp(LinkageApp):
    def __init__(self, units: InMemoryUnitDirectory) -> None:
        super().__init__(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, units=units)
        self.live: dict[uuid.UUID, Topic] = {}

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        for obj in objs:
            if isinstance(obj, Topic):
                self.live[obj.id] = obj
        return recordings


def directory() -> InMemoryUnitDirectory:
    units = InMemoryUnitDirectory(SMALL_HIERARCHY)
    units.apply([UnitRecord(RETIRED, "已撤并社区", Level.VILLAGE, TOWNSHIP)], retired=[RETIRED])
    return units


# -- strategies ------------------------------------------------------------------------

# Who acts: "entitled" is whoever the rules let do the command (so that sequences get
# somewhere); the other kinds pick a unit relative to the topic, or any unit, with a
# random role.
WHO = st.tuples(
    st.sampled_from(
        ["entitled", "entitled", "entitled", "owner", "target", "handler", "ancestor", "any"]
    ),
    st.integers(0, len(UNITS) - 1),
    st.sampled_from(
        [Role.STAFF, Role.STAFF, Role.LEADER, Role.HANDLER, Role.MEMBER, Role.AUDITOR, Role.INTAKE]
    ),
)
# Where a move or an invitation goes, relative to the owner.
WHERE = st.tuples(
    st.sampled_from(["parent", "ancestor", "ancestor", "descendant", "descendant", "code"]),
    st.integers(0, 20),
)
TASK_IDS = st.sampled_from(["T1", "T1", "T2", "T3"])
MEETING_IDS = st.sampled_from(["M1", "M1", "M2", "M3"])
DUE_DAYS = st.sampled_from([-1.0, 0.0, 3.0, 30.0])
SATISFACTION = st.sampled_from(["SATISFIED", "BASICALLY_SATISFIED", "UNSATISFIED", "UNSATISFIED"])
Who = tuple[str, int, Role]
# commands that need a rarer set-up come up more often
MORE_OFTEN = ["escalate", "delegate", "delegate", "take", "take", "return", "cancel", "decline"]
GROUPS = {
    **dict.fromkeys(
        ["determine", "decline", "research", "report", "feedback", "visit", "reopen", "close"],
        "lifecycle",
    ),
    "withdraw": "lifecycle",
    **dict.fromkeys(["escalate", "delegate", "accept", "return", "cancel", "take"], "move"),
    **dict.fromkeys(["invite", "schedule", "record"], "deliberation"),
    **dict.fromkeys(["assign", "sign", "progress", "complete", "supervise", "extend"], "task"),
    **dict.fromkeys(["instruction", "adoption", "comment"], "leaders"),
}


class TopicMachine(RuleBasedStateMachine):
    topics = Bundle("topics")

    def __init__(self) -> None:
        super().__init__()
        self.app = RecordingApp(directory())
        self.model: dict[uuid.UUID, MTopic] = {}
        self.refs: dict[tuple[str, str], uuid.UUID] = {}  # (reference, submitting unit)
        self.stages: dict[uuid.UUID, tuple[Stage, int]] = {}
        self.now = START
        self.last_position = 0

    # -- running one command against both ------------------------------------------------

    def execute(
        self,
        touched: list[uuid.UUID],
        model: Callable[[], None],
        call: Callable[[], CommandResult],
        actor: Actor | None = None,
    ) -> CommandResult | None:
        """Predict with the model, run on the app, compare; None when refused.

        A command on a topic the actor cannot see is refused before any other rule
        (an invisible topic is answered as a missing one)."""
        try:
            for t in touched if actor is not None else ():
                need(self.model[t].visible_to(actor.unit), "TOPIC_NOT_FOUND")
            model()
            expected = None
        except Refused as refusal:
            expected = refusal.rule
        versions = {t: self.app.get_topic(t).version for t in touched}
        head = self.app.head_position()
        error: LinkageError | None = None
        try:
            result = call()
        except LinkageError as err:
            error = err
        if error is not None:
            assert expected is not None, f"the app refused what the model accepts: {error}"
            assert error.rule == expected, f"the model expected {expected}; the app said {error}"
            assert self.app.head_position() == head, "a refused command recorded an event"
            assert {t: self.app.get_topic(t).version for t in touched} == versions
            return None
        assert expected is None, f"the app accepted what the model refuses with {expected}"
        assert result.position > self.last_position, "positions must strictly increase"
        self.last_position = result.position
        if touched:
            assert result.version == self.model[touched[0]].version
        return result

    def tick(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now

    def actor(
        self, who: Who, m: MTopic | None = None, task_id: str | None = None, command: str = ""
    ) -> Actor:
        kind, index, role = who
        unit = UNITS[index]
        if m is not None and kind == "entitled":
            return self.entitled(m, command, index, task_id or "T1")
        if m is not None:
            if kind == "owner":
                unit = m.owner
            elif kind == "target":
                unit = m.pending[2] if m.pending else m.owner
            elif kind == "handler":
                task = m.tasks.get(task_id or "T1")
                unit = task.handler_unit if task else m.owner
            elif kind == "ancestor":
                above = ancestors(m.owner)
                unit = above[index % len(above)] if above else m.owner
        return Actor(f"{role.value.lower()}-{unit}", unit, role)

    def entitled(self, m: MTopic, command: str, index: int, task_id: str) -> Actor:
        """The actor the rules let do `command` (it may still be refused by the stage)."""
        above = ancestors(m.owner)
        task = m.tasks.get(task_id)
        if command in ("accept", "return") and m.pending:
            return staff(m.pending[2])
        if command == "cancel" and m.pending:
            return staff(m.pending[1])
        if command == "take" and above:
            return leader(above[index % len(above)])
        if command in ("instruction", "adoption"):
            return leader([m.owner, *above][index % (len(above) + 1)])
        if command in ("schedule", "record"):
            return staff([m.owner, *m.co][index % (len(m.co) + 1)])
        if command in ("sign", "progress", "complete") and task:
            return handler(task.handler_unit)
        if command == "supervise":
            return staff([m.owner, *above][index % (len(above) + 1)])
        if command == "comment":
            seen = sorted({m.location, m.owner, *m.route, *m.co})
            return actor(seen[index % len(seen)], Role.MEMBER)
        return staff(m.owner) if index % 3 else leader(m.owner)

    def where(self, m: MTopic, where: tuple[str, int]) -> str | None:
        kind, index = where
        above, below = ancestors(m.owner), descendants(m.owner)
        if kind == "ancestor" and above:
            return above[index % len(above)]
        if kind == "descendant" and below:
            return below[index % len(below)]
        if kind == "code":
            return CODES[index % len(CODES)]
        return None  # the default: the parent

    # -- submit --------------------------------------------------------------------------

    def do_submit(
        self, a: Actor, location: str, title: str, source: str, ref: str | None
    ) -> uuid.UUID | None:
        at = self.tick()
        result = self.execute(
            [],
            lambda: check_submission(a, location, title, source),
            lambda: self.send_submission(a, location, title, source, ref, at),
        )
        key = None if ref is None else (ref, a.unit)
        return None if result is None else self.created(result, location, key)

    def send_submission(
        self, a: Actor, location: str, title: str, source: str, ref: str | None, at: datetime
    ) -> CommandResult:
        return self.app.submit_topic(
            a,
            title=title,
            description="村主干道路灯已损坏两个月，夜间出行不便。",
            category="市政设施",
            source=source,
            location=location,
            external_ref=ref,
            at=at,
        )

    def created(
        self, result: CommandResult, location: str, ref: tuple[str, str] | None
    ) -> uuid.UUID:
        assert not result.duplicate
        assert result.version == 1
        tid = result.topic_id
        assert tid not in self.model
        self.model[tid] = MTopic(tid, location, location, route=[location])
        self.stages[tid] = (Stage.COLLECTED, 0)
        if ref is not None:
            self.refs[ref] = tid
        return tid

    @initialize(target=topics)
    def two_topics(self) -> Any:
        first = self.do_submit(
            staff(VILLAGE), VILLAGE, "小区二次供水水压不足", "HOTLINE_12345", None
        )
        second = self.do_submit(staff(COUNTY), TOWNSHIP, "街道片区供水改造", "HOTLINE_12345", None)
        assert first is not None
        assert second is not None
        return multiple(first, second)

    @rule(
        target=topics,
        who=WHO,
        location=st.one_of(st.none(), st.sampled_from(CODES)),
        title=st.sampled_from(["村道路灯不亮", "村道路灯不亮", "   "]),
        source=st.sampled_from(["HOTLINE_12345", "HOTLINE_12345", "FAX"]),
        ref=st.sampled_from([None, None, "12345-0001", "12345-0002"]),
    )
    def submit(
        self, who: Who, location: str | None, title: str, source: str, ref: str | None
    ) -> Any:
        a = self.actor(who)
        place = a.unit if location is None else location
        if ref is not None and (ref, a.unit) in self.refs:  # a reference is per unit
            return self.resubmit(a, place, title, source, ref)
        tid = self.do_submit(a, place, title, source, ref)
        return multiple() if tid is None else tid

    def resubmit(self, a: Actor, place: str, title: str, source: str, ref: str) -> Any:
        """A re-submission: refused like any submission, else answered as a duplicate."""
        at = self.tick()
        try:
            check_submission(a, place, title, source)
            expected = None
        except Refused as refusal:
            expected = refusal.rule
        tid = self.refs[(ref, a.unit)]
        version, head = self.app.get_topic(tid).version, self.app.head_position()
        error: LinkageError | None = None
        try:
            result = self.send_submission(a, place, title, source, ref, at)
        except LinkageError as err:
            error = err
        if error is not None:
            assert error.rule == expected, f"the model expected {expected}; the app said {error}"
        else:
            assert expected is None, f"a duplicate was answered where {expected} refuses"
            assert (result.topic_id, result.duplicate, result.version) == (tid, True, version)
        assert (self.app.get_topic(tid).version, self.app.head_position()) == (version, head)
        return multiple()

    # -- the lifecycle of one topic --------------------------------------------------------

    def simple(
        self,
        tid: uuid.UUID,
        a: Actor,
        check: Callable[[MTopic], None],
        change: Callable[[MTopic], None],
        call: Callable[[datetime], CommandResult],
    ) -> CommandResult | None:
        m = self.model[tid]
        at = self.tick()

        def model() -> None:
            check(m)
            change(m)
            m.version += 1

        return self.execute([tid], model, lambda: call(at), a)

    def do_determine(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.in_stage(Stage.COLLECTED)

        def change(m: MTopic) -> None:
            m.stage = Stage.DETERMINED

        self.simple(tid, a, check, change, lambda at: self.app.determine_topic(a, tid, at=at))

    def do_decline(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.in_stage(Stage.COLLECTED)
            m.no_pending()

        def change(m: MTopic) -> None:
            m.stage = Stage.DECLINED

        self.simple(
            tid, a, check, change, lambda at: self.app.decline_topic(a, tid, "不予受理", at=at)
        )

    def do_start_research(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.in_stage(Stage.DETERMINED)

        def change(m: MTopic) -> None:
            m.stage = Stage.RESEARCH

        self.simple(
            tid, a, check, change, lambda at: self.app.start_research(a, tid, "入户走访", at=at)
        )

    def do_report_research(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.in_stage(Stage.RESEARCH)

        def change(m: MTopic) -> None:
            m.reports += 1

        self.simple(
            tid, a, check, change, lambda at: self.app.report_research(a, tid, "调研报告", at=at)
        )

    def do_feedback(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.in_stage(Stage.HANDLING)
            open_tasks = [t for t in m.tasks.values() if t.status != "COMPLETED"]
            need(not open_tasks, "FEEDBACK_BEFORE_TASKS_COMPLETED")

        def change(m: MTopic) -> None:
            m.stage = Stage.FEEDBACK
            m.visits = []

        self.simple(
            tid, a, check, change, lambda at: self.app.give_feedback(a, tid, "已办结", at=at)
        )

    def do_visit(self, tid: uuid.UUID, a: Actor, satisfaction: str) -> None:
        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.in_stage(Stage.FEEDBACK)

        def change(m: MTopic) -> None:
            m.visits.append(satisfaction)

        self.simple(
            tid,
            a,
            check,
            change,
            lambda at: self.app.record_return_visit(a, tid, True, True, satisfaction, at=at),
        )

    def do_reopen(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.in_stage(Stage.FEEDBACK)
            need(bool(m.visits) and m.visits[-1] == "UNSATISFIED", "REOPEN_NEEDS_UNSATISFIED_VISIT")

        def change(m: MTopic) -> None:
            m.stage = Stage.HANDLING
            m.reopened += 1

        self.simple(tid, a, check, change, lambda at: self.app.reopen_topic(a, tid, "重办", at=at))

    def do_close(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.in_stage(Stage.FEEDBACK)
            m.no_pending()
            need(bool(m.visits), "CLOSE_NEEDS_RETURN_VISIT")

        def change(m: MTopic) -> None:
            m.stage = Stage.CLOSED

        self.simple(tid, a, check, change, lambda at: self.app.close_topic(a, tid, "办结", at=at))

    def do_withdraw(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.no_pending()

        def change(m: MTopic) -> None:
            m.stage = Stage.WITHDRAWN

        self.simple(
            tid, a, check, change, lambda at: self.app.withdraw_topic(a, tid, "撤回", at=at)
        )

    def lifecycle(self, tid: uuid.UUID, who: Who, command: str, satisfaction: str) -> None:
        a = self.actor(who, self.model[tid], command=command)
        if command == "visit":
            self.do_visit(tid, a, satisfaction)
            return
        run = {
            "determine": self.do_determine,
            "decline": self.do_decline,
            "research": self.do_start_research,
            "report": self.do_report_research,
            "feedback": self.do_feedback,
            "reopen": self.do_reopen,
            "close": self.do_close,
            "withdraw": self.do_withdraw,
        }[command]
        run(tid, a)

    # -- moves between levels --------------------------------------------------------------

    def do_escalate(self, tid: uuid.UUID, a: Actor, to: str | None, reason: str) -> None:
        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.in_stage(*MOVABLE)
            m.no_pending()
            parent = PARENT[m.owner]
            need(parent is not None, "ESCALATION_NO_PARENT")
            target = to or parent
            assert target is not None
            active(target)
            need(target in ancestors(m.owner), "ESCALATION_TARGET_NOT_ANCESTOR")
            need(target == parent or bool(reason), "ESCALATION_SKIP_NEEDS_REASON")

        def change(m: MTopic) -> None:
            m.pending = (TransferKind.ESCALATION, m.owner, to or PARENT[m.owner] or "")

        self.simple(
            tid,
            a,
            check,
            change,
            lambda at: self.app.escalate_topic(a, tid, to, reason, at=at),
        )

    def do_delegate(self, tid: uuid.UUID, a: Actor, to: str, due_days: float | None) -> None:
        due = None if due_days is None else self.now + timedelta(hours=1, days=due_days)

        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.in_stage(*MOVABLE)
            m.no_pending()
            active(to)
            need(m.owner in ancestors(to), "DELEGATION_TARGET_NOT_DESCENDANT")
            need(due is None or due > self.now, "DUE_NOT_IN_FUTURE")

        def change(m: MTopic) -> None:
            m.pending = (TransferKind.DELEGATION, m.owner, to)

        self.simple(
            tid,
            a,
            check,
            change,
            lambda at: self.app.delegate_topic(a, tid, to, "请下级办理", due, at=at),
        )

    def decide(self, m: MTopic, a: Actor) -> tuple[TransferKind, str, str]:
        need(a.role in MANAGING, "ROLE_NOT_PERMITTED")
        m.open()
        need(m.pending is not None, "NO_PENDING_TRANSFER")
        assert m.pending is not None
        need(a.unit == m.pending[2], "NOT_TRANSFER_TARGET")
        return m.pending

    def do_accept(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            self.decide(m, a)

        def change(m: MTopic) -> None:
            assert m.pending is not None
            m.move_to(m.pending[2])

        self.simple(tid, a, check, change, lambda at: self.app.accept_transfer(a, tid, at=at))

    def do_return(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            self.decide(m, a)

        def change(m: MTopic) -> None:
            assert m.pending is not None
            m.readers.append(m.pending[2])
            m.pending = None
            m.returns += 1

        self.simple(
            tid, a, check, change, lambda at: self.app.return_transfer(a, tid, "退回", at=at)
        )

    def do_cancel(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            need(a.role in MANAGING, "ROLE_NOT_PERMITTED")
            m.open()
            need(m.pending is not None, "NO_PENDING_TRANSFER")
            assert m.pending is not None
            need(a.unit == m.pending[1], "NOT_TRANSFER_REQUESTER")

        def change(m: MTopic) -> None:
            m.pending = None

        self.simple(tid, a, check, change, lambda at: self.app.cancel_transfer(a, tid, at=at))

    def do_take_over(self, tid: uuid.UUID, a: Actor) -> None:
        def check(m: MTopic) -> None:
            need(a.role in LEADING, "ROLE_NOT_PERMITTED")
            m.open()
            need(a.unit in ancestors(m.owner), "TAKEOVER_NOT_ANCESTOR")

        def change(m: MTopic) -> None:
            m.move_to(a.unit)

        self.simple(
            tid, a, check, change, lambda at: self.app.take_over_topic(a, tid, "提级办理", at=at)
        )

    def move(
        self,
        tid: uuid.UUID,
        who: Who,
        command: str,
        where: tuple[str, int],
        reason: str,
        due_days: float | None,
    ) -> None:
        m = self.model[tid]
        a = self.actor(who, m, command=command)
        to = self.where(m, where)
        if command == "escalate":
            self.do_escalate(tid, a, to, reason)
        elif command == "delegate":
            self.do_delegate(tid, a, to or m.owner, due_days)
        elif command == "accept":
            self.do_accept(tid, a)
        elif command == "return":
            self.do_return(tid, a)
        elif command == "cancel":
            self.do_cancel(tid, a)
        else:
            self.do_take_over(tid, a)

    @rule(source=topics, into=topics, who=WHO)
    def merge(self, source: uuid.UUID, into: uuid.UUID, who: Who) -> None:
        m, t = self.model[source], self.model[into]
        a = self.actor(who, m, command="merge")
        at = self.tick()

        def model() -> None:
            need(m.visible_to(a.unit), "TOPIC_NOT_FOUND")
            need(t.visible_to(a.unit), "TOPIC_NOT_FOUND")  # a hidden target reads as missing
            m.owned_by(a)
            m.in_stage(*MERGEABLE)
            m.no_pending()
            need(source != into, "MERGE_INTO_ITSELF")
            need(t.stage not in TERMINAL, "MERGE_TARGET_CLOSED")
            need(t.owner == m.owner or t.owner in ancestors(m.owner), "MERGE_TARGET_OUT_OF_REACH")
            m.stage = Stage.MERGED
            m.version += 1
            t.version += 1
            t.readers.extend([m.owner, m.location])

        touched = [source] if source == into else [source, into]
        self.execute(
            touched, model, lambda: self.app.merge_topic(a, source, into, "合并办理", at=at)
        )

    # -- co-organisers, research and deliberation -------------------------------------------

    def do_invite(self, tid: uuid.UUID, a: Actor, unit: str) -> None:
        def check(m: MTopic) -> None:
            m.owned_by(a)
            active(unit)
            need(unit != m.owner and unit not in m.co, "ALREADY_CO_ORGANIZER")

        def change(m: MTopic) -> None:
            m.co.append(unit)

        self.simple(
            tid, a, check, change, lambda at: self.app.invite_co_organizer(a, tid, unit, at=at)
        )

    def do_schedule(self, tid: uuid.UUID, a: Actor, full: bool) -> None:
        m = self.model[tid]
        meeting_id = f"M{len(m.meetings) + 1}"

        def check(m: MTopic) -> None:
            m.organised_by(a)
            m.in_stage(Stage.DETERMINED, Stage.RESEARCH, Stage.DELIBERATION)
            need(m.stage != Stage.RESEARCH or m.reports > 0, "RESEARCH_NOT_REPORTED")
            need(full, "DELIBERATION_NEEDS_4_PLUS_X")

        def change(m: MTopic) -> None:
            m.stage = Stage.DELIBERATION
            m.meetings[meeting_id] = False

        panel = FULL_PANEL if full else PARTIAL_PANEL
        result = self.simple(
            tid,
            a,
            check,
            change,
            lambda at: self.app.schedule_deliberation(
                a, tid, at + timedelta(days=2), "协商议事室", "OFFLINE", panel, at=at
            ),
        )
        if result is not None:
            assert result.created_id == meeting_id

    def do_record(self, tid: uuid.UUID, a: Actor, meeting_id: str) -> None:
        def check(m: MTopic) -> None:
            m.organised_by(a)
            m.in_stage(Stage.DELIBERATION)
            need(meeting_id in m.meetings, "MEETING_NOT_FOUND")
            need(not m.meetings[meeting_id], "MEETING_ALREADY_HELD")

        def change(m: MTopic) -> None:
            m.meetings[meeting_id] = True

        self.simple(
            tid,
            a,
            check,
            change,
            lambda at: self.app.record_deliberation(
                a, tid, meeting_id, ["王委员", "李书记"], "形成协商意见", ["加装加压泵"], at=at
            ),
        )

    def deliberation(
        self,
        tid: uuid.UUID,
        who: Who,
        command: str,
        where: tuple[str, int],
        full: bool,
        meeting_id: str,
    ) -> None:
        m = self.model[tid]
        a = self.actor(who, m, command=command)
        if command == "invite":
            self.do_invite(tid, a, self.where(m, where) or SIBLING_VILLAGE)
        elif command == "schedule":
            self.do_schedule(tid, a, full)
        else:
            self.do_record(tid, a, meeting_id)

    # -- tasks -------------------------------------------------------------------------------

    def do_assign(self, tid: uuid.UUID, a: Actor, unit: str, due_days: float) -> None:
        m = self.model[tid]
        task_id = f"T{len(m.tasks) + 1}"
        due = self.now + timedelta(hours=1, days=due_days)

        def check(m: MTopic) -> None:
            m.owned_by(a)
            m.in_stage(Stage.DELIBERATION, Stage.HANDLING)
            need(any(m.meetings.values()), "TASK_BEFORE_DELIBERATION")
            active(unit)
            need(due > self.now, "DUE_NOT_IN_FUTURE")

        def change(m: MTopic) -> None:
            m.stage = Stage.HANDLING
            m.tasks[task_id] = MTask(unit, "ASSIGNED", due)

        result = self.simple(
            tid,
            a,
            check,
            change,
            lambda at: self.app.assign_task(a, tid, unit, "承办人", "限期整改", due, at=at),
        )
        if result is not None:
            assert result.created_id == task_id

    def do_handle(self, tid: uuid.UUID, a: Actor, task_id: str, command: str) -> None:
        def check(m: MTopic) -> None:
            task = m.task(task_id)
            m.handled_by(a, task)
            if command == "sign":
                need(task.status == "ASSIGNED", "TASK_ALREADY_SIGNED")
            else:
                need(task.status == "SIGNED", "TASK_NOT_SIGNED")

        def change(m: MTopic) -> None:
            if command == "sign":
                m.tasks[task_id].status = "SIGNED"
            elif command == "complete":
                m.tasks[task_id].status = "COMPLETED"

        calls: dict[str, Callable[[datetime], CommandResult]] = {
            "sign": lambda at: self.app.sign_task(a, tid, task_id, at=at),
            "progress": lambda at: self.app.report_task_progress(a, tid, task_id, "进展", at=at),
            "complete": lambda at: self.app.complete_task(a, tid, task_id, "已完成", at=at),
        }
        self.simple(tid, a, check, change, calls[command])

    def do_supervise(self, tid: uuid.UUID, a: Actor, task_id: str) -> None:
        def check(m: MTopic) -> None:
            task = m.task(task_id)
            need(a.role in MANAGING, "ROLE_NOT_PERMITTED")
            m.owner_or_above(a)
            need(task.status != "COMPLETED", "TASK_COMPLETED")

        self.simple(
            tid,
            a,
            check,
            lambda m: None,
            lambda at: self.app.supervise_task(a, tid, task_id, "请加快办理", at=at),
        )

    def do_extend(self, tid: uuid.UUID, a: Actor, task_id: str, shift_days: float) -> None:
        m = self.model[tid]
        old = m.tasks[task_id].due if task_id in m.tasks else self.now
        new_due = old + timedelta(days=shift_days)

        def check(m: MTopic) -> None:
            task = m.task(task_id)
            m.owned_by(a)
            need(task.status != "COMPLETED", "TASK_COMPLETED")
            need(new_due > task.due, "EXTENSION_NOT_LATER")

        def change(m: MTopic) -> None:
            m.tasks[task_id].due = new_due

        self.simple(
            tid,
            a,
            check,
            change,
            lambda at: self.app.extend_task_deadline(a, tid, task_id, new_due, "延期", at=at),
        )

    def task(
        self, tid: uuid.UUID, who: Who, command: str, task_id: str, unit: str, days: float
    ) -> None:
        m = self.model[tid]
        a = self.actor(who, m, task_id, command)
        if command == "assign":
            self.do_assign(tid, a, unit, days)
        elif command == "supervise":
            self.do_supervise(tid, a, task_id)
        elif command == "extend":
            self.do_extend(tid, a, task_id, min(days, 3.0))
        else:
            self.do_handle(tid, a, task_id, command)

    # -- leaders and comments ----------------------------------------------------------------

    def leaders_and_comments(self, tid: uuid.UUID, who: Who, command: str) -> None:
        a = self.actor(who, self.model[tid], command=command)

        def check(m: MTopic) -> None:
            if command == "comment":
                need(a.role in COMMENTING, "ROLE_NOT_PERMITTED")
                need(m.visible_to(a.unit), "TOPIC_NOT_FOUND")
                m.open()
                need(m.involved_now(a.unit), "INVOLVEMENT_ENDED")
            else:
                need(a.role in LEADING, "ROLE_NOT_PERMITTED")
                m.owner_or_above(a)

        calls: dict[str, Callable[[datetime], CommandResult]] = {
            "instruction": lambda at: self.app.record_leader_instruction(a, tid, "抓紧办理", at=at),
            "adoption": lambda at: self.app.record_adoption(a, tid, "区政府", "采纳建议", at=at),
            "comment": lambda at: self.app.add_comment(a, tid, "群众留言", at=at),
        }

        def change(m: MTopic) -> None:
            m.comments += command == "comment"

        self.simple(tid, a, check, change, calls[command])

    # -- the natural next step, so that sequences reach the later stages ---------------------

    def do_advance(self, tid: uuid.UUID, satisfaction: str, unit: str, choice: int) -> None:
        m = self.model[tid]
        owner = staff(m.owner)
        new_round = m.stage == Stage.FEEDBACK and m.reopened and not m.visits
        if m.stage in TERMINAL:
            self.try_on_terminal(tid, m, choice)
        elif choice == 5 or (choice >= 3 and new_round):
            self.try_too_early(tid, m, unit)
        elif m.pending is not None:
            if choice < 2:
                self.do_accept(tid, staff(m.pending[2]))
            elif choice == 2:
                self.do_return(tid, staff(m.pending[2]))
            elif choice == 3:
                self.do_cancel(tid, owner)
            else:
                self.go_on_while_pending(tid, m, satisfaction)
        elif m.stage == Stage.COLLECTED:
            below, above = descendants(m.owner), ancestors(m.owner)
            if choice == 0 and above:
                self.do_escalate(tid, owner, None, "")
            elif choice == 1 and below:
                self.do_delegate(tid, owner, below[UNITS.index(unit) % len(below)], 5.0)
            elif choice == 2 and above:
                self.do_take_over(tid, leader(above[-1]))
            else:
                self.do_determine(tid, owner)
        elif m.stage == Stage.DETERMINED:
            if choice < 2:
                self.do_start_research(tid, owner)
            else:
                self.do_schedule(tid, owner, full=True)
        elif m.stage == Stage.RESEARCH and not m.reports:
            self.do_report_research(tid, owner)
        elif m.stage in (Stage.RESEARCH, Stage.DELIBERATION) and not any(m.meetings.values()):
            unheld = [k for k, held in m.meetings.items() if not held]
            if unheld:
                self.do_record(tid, owner, unheld[0])
            else:
                self.do_schedule(tid, owner, full=True)
        elif m.stage == Stage.DELIBERATION:
            self.do_assign(tid, owner, unit, 30.0)
        elif m.stage == Stage.HANDLING:
            self.advance_tasks(tid, m, choice)
        elif not m.visits:
            self.do_visit(tid, owner, satisfaction)
        elif m.visits[-1] == "UNSATISFIED":
            self.do_reopen(tid, owner)
        else:
            self.do_close(tid, owner)

    def try_on_terminal(self, tid: uuid.UUID, m: MTopic, choice: int) -> None:
        """Whoever would be entitled tries something: a closed topic refuses it all."""
        owner, above = staff(m.owner), ancestors(m.owner)
        if choice == 0:
            self.leaders_and_comments(tid, ("entitled", choice, Role.STAFF), "comment")
        elif choice == 1:
            self.do_withdraw(tid, owner)
        elif choice == 2 and above:
            self.do_take_over(tid, leader(above[0]))
        elif choice == 3:
            self.do_escalate(tid, owner, None, "")
        elif choice == 4 and m.tasks:
            self.do_supervise(tid, owner, "T1")
        else:
            self.do_visit(tid, owner, "SATISFIED")

    def try_too_early(self, tid: uuid.UUID, m: MTopic, unit: str) -> None:
        """Move on without waiting for what the rules require first."""
        owner = staff(m.owner)
        if m.stage == Stage.FEEDBACK:
            if UNITS.index(unit) % 2:
                self.do_close(tid, owner)
            else:
                self.do_reopen(tid, owner)
        elif m.stage == Stage.HANDLING:
            self.do_feedback(tid, owner)
        elif m.stage == Stage.DELIBERATION:
            self.do_assign(tid, owner, unit, 30.0)
        elif m.stage == Stage.COLLECTED:
            self.do_decline(tid, owner)
        else:
            self.do_withdraw(tid, owner)

    def go_on_while_pending(self, tid: uuid.UUID, m: MTopic, satisfaction: str) -> None:
        """The work goes on while a transfer awaits its decision (but no topic closes)."""
        owner = staff(m.owner)
        if m.stage == Stage.HANDLING:
            self.advance_tasks(tid, m, 3)
        elif m.stage == Stage.FEEDBACK:
            if m.visits:
                self.do_close(tid, owner)
            else:
                self.do_visit(tid, owner, satisfaction)
        elif m.stage == Stage.COLLECTED:
            self.do_decline(tid, owner)
        else:
            self.do_withdraw(tid, owner)

    def advance_tasks(self, tid: uuid.UUID, m: MTopic, choice: int) -> None:
        open_tasks = [(k, t) for k, t in m.tasks.items() if t.status != "COMPLETED"]
        if not open_tasks and choice == 4 and m.pending is None and ancestors(m.owner):
            self.do_escalate(tid, staff(m.owner), None, "办结前请上级复核")
            return
        if not open_tasks:
            self.do_feedback(tid, staff(m.owner))
            return
        task_id, task = open_tasks[0]
        above = ancestors(m.owner)
        if choice == 0:
            self.do_supervise(tid, staff(above[0] if above else m.owner), task_id)
        elif choice == 1:
            self.do_extend(tid, staff(m.owner), task_id, 3.0)
        elif choice == 2 and task.status == "SIGNED":
            self.do_handle(tid, handler(task.handler_unit), task_id, "progress")
        else:
            command = "sign" if task.status == "ASSIGNED" else "complete"
            self.do_handle(tid, handler(task.handler_unit), task_id, command)

    # -- the rules: a random command, or the natural next step ------------------------------

    @rule(
        tid=topics,
        who=WHO,
        command=st.sampled_from([*sorted(GROUPS), *MORE_OFTEN]),
        where=WHERE,
        reason=st.sampled_from(["", "社区无力解决"]),
        due_days=st.one_of(st.none(), DUE_DAYS),
        satisfaction=SATISFACTION,
        full=st.sampled_from([True, True, False]),
        meeting_id=MEETING_IDS,
        task_id=TASK_IDS,
        unit=st.sampled_from([*CODES, TOWNSHIP, COUNTY]),
    )
    def command(
        self,
        tid: uuid.UUID,
        who: Who,
        command: str,
        where: tuple[str, int],
        reason: str,
        due_days: float | None,
        satisfaction: str,
        full: bool,
        meeting_id: str,
        task_id: str,
        unit: str,
    ) -> None:
        group = GROUPS[command]
        if group == "lifecycle":
            self.lifecycle(tid, who, command, satisfaction)
        elif group == "move":
            self.move(tid, who, command, where, reason, due_days)
        elif group == "deliberation":
            self.deliberation(tid, who, command, where, full, meeting_id)
        elif group == "task":
            self.task(tid, who, command, task_id, unit, due_days or 0.0)
        else:
            self.leaders_and_comments(tid, who, command)

    @rule(
        tid=topics,
        who=WHO,
        command=st.sampled_from(
            ["escalate", "escalate", "delegate", "accept", "return", "cancel", "take"]
        ),
        where=WHERE,
        reason=st.sampled_from(["", "社区无力解决"]),
        due_days=st.one_of(st.none(), DUE_DAYS),
    )
    def move_between_levels(
        self,
        tid: uuid.UUID,
        who: Who,
        command: str,
        where: tuple[str, int],
        reason: str,
        due_days: float | None,
    ) -> None:
        """Moves are where the levels meet: they get a rule of their own."""
        self.move(tid, who, command, where, reason, due_days)

    @rule(
        tid=topics,
        satisfaction=SATISFACTION,
        unit=st.sampled_from(UNITS),
        choice=st.integers(0, 5),
    )
    def advance(self, tid: uuid.UUID, satisfaction: str, unit: str, choice: int) -> None:
        self.do_advance(tid, satisfaction, unit, choice)

    @rule(
        satisfaction=SATISFACTION,
        unit=st.sampled_from(UNITS),
        choices=st.lists(st.integers(0, 5), min_size=1, max_size=6),
    )
    def advance_the_furthest(self, satisfaction: str, unit: str, choices: list[int]) -> None:
        """A few next steps of the open topic that got furthest: sequences reach the end."""
        for choice in choices:
            open_topics = [tid for tid, m in self.model.items() if m.stage not in TERMINAL]
            if not open_topics:
                return
            tid = max(open_topics, key=lambda t: RANK[self.model[t].stage])
            self.do_advance(tid, satisfaction, unit, choice)
            self.every_topic_agrees_with_the_model_and_its_history()

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def every_topic_agrees_with_the_model_and_its_history(self) -> None:
        for tid, m in self.model.items():
            stored = list(self.app.events.get(tid))
            topic = self.app.get_topic(tid)
            # version == number of events == the model's count
            assert topic.version == len(stored) == m.version
            assert [e.originator_version for e in stored] == list(range(1, len(stored) + 1))
            # the model's view of the state
            assert topic.stage == m.stage
            assert topic.owner == m.owner
            assert [h.unit for h in topic.route] == m.route
            assert topic.co_organizers == m.co
            assert (topic.returns, topic.reopened, topic.comments) == (
                m.returns,
                m.reopened,
                m.comments,
            )
            assert [v.satisfaction.value for v in topic.return_visits][
                len(topic.return_visits) - len(m.visits) :
            ] == m.visits
            assert {k: (t.handler_unit, t.status.value, t.due) for k, t in topic.tasks.items()} == {
                k: (t.handler_unit, t.status, t.due) for k, t in m.tasks.items()
            }
            assert {k: v.held_at is not None for k, v in topic.meetings.items()} == m.meetings
            pending = topic.pending
            assert (
                None if pending is None else (pending.kind, pending.from_unit, pending.to_unit)
            ) == m.pending
            # the owner is a real unit; a pending transfer leaves the owner along the tree
            assert self.app.units.get(topic.owner) is not None
            if pending is not None:
                assert pending.from_unit == topic.owner
                if pending.kind == TransferKind.ESCALATION:
                    assert pending.to_unit in ancestors(pending.from_unit)
                    assert pending.skip_level == (pending.to_unit != PARENT[pending.from_unit])
                else:
                    assert pending.kind == TransferKind.DELEGATION
                    assert pending.from_unit in ancestors(pending.to_unit)
                assert topic.stage not in TERMINAL, "a closed topic keeps a pending transfer"
            # stage order: forward only, except FEEDBACK -> HANDLING by a reopening
            before, reopened = self.stages[tid]
            if before in TERMINAL:
                assert topic.stage == before
            elif topic.stage not in TERMINAL and RANK[topic.stage] < RANK[before]:
                assert (before, topic.stage) == (Stage.FEEDBACK, Stage.HANDLING)
                assert topic.reopened == reopened + 1
            self.stages[tid] = (topic.stage, topic.reopened)
            # replaying the stored events gives what the command left in memory
            replayed: Any = None
            for event in stored:
                replayed = event.mutate(replayed)
            assert replayed.state() == topic.state() == self.app.live[tid].state()
            # times are UTC and never go backwards
            times = [e.timestamp for e in stored]
            assert times == sorted(times)
            assert all(t.utcoffset() == timedelta(0) for t in times)


TopicMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTopicModel = TopicMachine.TestCase
