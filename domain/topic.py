"""The topic (议题): one aggregate, its events and every rule of DESIGN §4.

Read top to bottom: vocabulary, the state a topic holds, then one command method
per command. Each command checks its rules (small `_check_*` guards raising the
error family of `domain.errors`) and then triggers exactly the event(s) named in
the contract; each event's `apply` only changes state, never decides. What an
event does to the lifecycle (stage, owner, pending transfer, deadlines, who is
involved) is its line of LIFECYCLE at the end, which `Topic.Event.mutate` applies
after `apply` and the read models read too.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypedDict, TypeVar

from eventsourcing.domain import Aggregate

from domain.clock import shown
from domain.errors import BadInputError, ForbiddenError, NotFoundError, RuleViolationError
from domain.lifecycle import Change, Lifecycle, involvement, is_overdue, open_deadline, task_overdue
from domain.units import (
    Unit,
    UnitDirectory,
    is_ancestor,
    is_within,
    may_see_unit,
    require_unit,
)

EXTERNAL_REF_NAMESPACE = uuid.UUID("1f0c3d1e-8b7a-4c55-9e0f-2b6a7d4c9e31")


class Stage(StrEnum):
    COLLECTED = "COLLECTED"
    DETERMINED = "DETERMINED"
    RESEARCH = "RESEARCH"
    DELIBERATION = "DELIBERATION"
    HANDLING = "HANDLING"
    FEEDBACK = "FEEDBACK"
    CLOSED = "CLOSED"
    DECLINED = "DECLINED"
    WITHDRAWN = "WITHDRAWN"
    MERGED = "MERGED"


TERMINAL_STAGES = frozenset({Stage.CLOSED, Stage.DECLINED, Stage.WITHDRAWN, Stage.MERGED})
# Moves (escalate, delegate) are possible in any open stage before FEEDBACK.
MOVABLE_STAGES = frozenset(
    {Stage.COLLECTED, Stage.DETERMINED, Stage.RESEARCH, Stage.DELIBERATION, Stage.HANDLING}
)
MERGEABLE_STAGES = frozenset({Stage.COLLECTED, Stage.DETERMINED, Stage.RESEARCH})


class Role(StrEnum):
    STAFF = "STAFF"
    LEADER = "LEADER"
    HANDLER = "HANDLER"
    MEMBER = "MEMBER"
    AUDITOR = "AUDITOR"
    INTAKE = "INTAKE"


class Source(StrEnum):
    HOTLINE_12345 = "HOTLINE_12345"
    MEMBER_PROPOSAL = "MEMBER_PROPOSAL"
    SOCIAL_INFO = "SOCIAL_INFO"
    VISIT = "VISIT"
    ONLINE = "ONLINE"
    GRID = "GRID"
    OTHER = "OTHER"


class TransferKind(StrEnum):
    ESCALATION = "ESCALATION"
    DELEGATION = "DELEGATION"
    TAKEOVER = "TAKEOVER"


class Involvement(StrEnum):
    """What a unit's tie to a topic grants it (DESIGN §6).

    CURRENT: the location or the owner or an ancestor of either, a co-organiser, a
    task handler, the pending transfer's target: it reads the topic and takes part.
    ENDED: a former holder, a unit that returned a transfer of it, the location and
    the owner of a topic merged into it: it reads the topic and its whole history
    (it answers to its residents for the outcome, and a return counts in its 退单率)
    but contributes nothing more."""

    CURRENT = "CURRENT"
    ENDED = "ENDED"


class TaskStatus(StrEnum):
    ASSIGNED = "ASSIGNED"
    SIGNED = "SIGNED"
    COMPLETED = "COMPLETED"


class Satisfaction(StrEnum):
    SATISFIED = "SATISFIED"
    BASICALLY_SATISFIED = "BASICALLY_SATISFIED"
    UNSATISFIED = "UNSATISFIED"


class ParticipantKind(StrEnum):
    MEMBER = "MEMBER"
    CADRE = "CADRE"
    DEPARTMENT = "DEPARTMENT"
    PUBLIC = "PUBLIC"
    STAKEHOLDER = "STAKEHOLDER"


# "4+X": members, cadres, department heads and public representatives must all sit.
REQUIRED_PARTICIPANT_KINDS = frozenset(
    {
        ParticipantKind.MEMBER,
        ParticipantKind.CADRE,
        ParticipantKind.DEPARTMENT,
        ParticipantKind.PUBLIC,
    }
)

# Who may do what, by role. Unit rules (owner, target, handler, ancestor) come on top.
MANAGING_ROLES = frozenset({Role.STAFF, Role.LEADER})
SUBMITTING_ROLES = frozenset({Role.STAFF, Role.LEADER, Role.MEMBER, Role.INTAKE})
HANDLING_ROLES = frozenset({Role.STAFF, Role.LEADER, Role.HANDLER})
LEADING_ROLES = frozenset({Role.LEADER})
COMMENTING_ROLES = frozenset({Role.STAFF, Role.LEADER, Role.HANDLER, Role.MEMBER})

MAX_TITLE = 200
MAX_TEXT = 20_000
MAX_SHORT = 500
MAX_ITEMS = 100  # entries of a list argument (participants, attendance, recommendations)


class SealedSubmitter(TypedDict):
    """A submitter's name and phone as the event stores them (PIPL, DESIGN §10): the
    pseudonymous person id, the id of that person's key, and the AES-GCM ciphertext.
    Destroying the key (crypto-shredding) erases the person without touching events."""

    person_id: str
    key_id: str
    sealed: str


SEALED_FIELDS = frozenset(SealedSubmitter.__annotations__)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: one user, the unit they act for, and the role they act in."""

    user_id: str
    unit: str
    role: Role

    def as_dict(self) -> dict[str, str]:
        return {"user_id": self.user_id, "unit": self.unit, "role": str(self.role)}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Actor:
        return cls(data["user_id"], data["unit"], Role(data["role"]))


@dataclass(slots=True)
class Transfer:
    kind: TransferKind
    from_unit: str
    to_unit: str
    reason: str
    requested_at: datetime
    due: datetime | None = None
    skip_level: bool = False


@dataclass(slots=True)
class Hop:
    unit: str
    entered_at: datetime
    left_at: datetime | None = None
    via: TransferKind | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PastInvolvement:
    """A unit whose involvement ended other than by leaving the route: `event` ended
    it at `at` (TransferReturned: it returned a transfer; TopicAbsorbed: a topic at
    or held by it, `detail`, was merged into this one)."""

    unit: str
    event: str
    at: datetime
    detail: str


@dataclass(slots=True)
class Task:
    task_id: str
    handler_unit: str
    handler: str
    requirement: str
    due: datetime
    assigned_at: datetime
    status: TaskStatus = TaskStatus.ASSIGNED
    signed_at: datetime | None = None
    completed_at: datetime | None = None
    result: str | None = None
    supervisions: int = 0
    progress: list[str] = field(default_factory=list)
    extensions: int = 0

    def overdue(self, now: datetime) -> bool:
        return task_overdue(self.due, self.completed_at, now)


@dataclass(slots=True)
class Meeting:
    meeting_id: str
    scheduled_at: datetime
    place: str
    format: str
    participants: list[dict[str, str | None]]
    held_at: datetime | None = None
    attendance: list[str] = field(default_factory=list)
    minutes: str | None = None
    recommendations: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ReturnVisit:
    contacted: bool
    solved: bool
    satisfaction: Satisfaction
    comment: str | None
    visited_at: datetime


# -- input checks --------------------------------------------------------------------


def check_text(
    value: str | None, name: str, *, limit: int = MAX_TEXT, required: bool = True
) -> str:
    text = (value or "").strip()
    if not is_visible_text(text):  # zero-width spaces and the like read as blank
        text = ""
    if required and not text:
        raise BadInputError("FIELD_REQUIRED", f"{name} must not be blank")
    if len(text) > limit:
        raise BadInputError(
            "FIELD_TOO_LONG", f"{name} has {len(text)} characters; at most {limit} are allowed"
        )
    return check_storable(text, name)


# Characters that render as nothing: format characters (zero-width space U+200B,
# non-joiner U+200C, joiner U+200D, word joiner U+2060, BOM U+FEFF, ...), space and
# line separators, and the Hangul fillers that fonts draw blank.
INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp"})
BLANK_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")


def is_visible_text(text: str) -> bool:
    """True when something of `text` would show: it is not only whitespace and
    invisible characters."""
    return not all(
        ch.isspace() or ch in BLANK_FILLERS or unicodedata.category(ch) in INVISIBLE_CATEGORIES
        for ch in text
    )


T = TypeVar("T")


def check_items(values: list[T], name: str, *, limit: int = MAX_ITEMS) -> list[T]:
    """A list argument of at most `limit` entries (every protocol's cap: REST, GraphQL)."""
    if len(values) > limit:
        raise BadInputError(
            "TOO_MANY_ITEMS", f"{name} has {len(values):,} entries; at most {limit} are allowed"
        )
    return values


def check_storable(text: str, name: str) -> str:
    bad = UNSTORABLE.search(text)
    if bad:
        raise BadInputError(
            "FIELD_UNSTORABLE_CHARACTER",
            f"{name} contains U+{ord(bad.group()):04X} at position {bad.start()}, "
            "which cannot be stored (NUL or an unpaired surrogate)",
        )
    return text


# PostgreSQL text cannot hold NUL; an unpaired surrogate is not encodable as UTF-8.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_time(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadInputError("TIME_WITHOUT_OFFSET", f"{name} {value.isoformat()} has no UTC offset")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise BadInputError(
            "TIME_OUT_OF_RANGE", f"{name} {value.isoformat()} is out of the representable range"
        ) from None


E = TypeVar("E", bound=StrEnum)


def parse_enum(enum: type[E], value: str | E, name: str) -> E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise BadInputError("INVALID_VALUE", f"{name} {value!r} is not one of: {allowed}") from None


def external_ref_id(external_ref: str, unit: str) -> uuid.UUID:
    """The topic id an external reference from `unit` always maps to (idempotent
    submission). The key is (reference, submitting unit): a reference is unique within
    the sender's area only, so one area can neither find nor block another's topics."""
    return uuid.uuid5(EXTERNAL_REF_NAMESPACE, f"{unit}\x1f{external_ref}")


# -- the aggregate -------------------------------------------------------------------


class Topic(Aggregate):
    """A topic and its whole path through the levels and the six steps."""

    class Event(Aggregate.Event):
        actor: dict[str, str]

        def mutate(self, aggregate: Any) -> Any:
            """The event's own `apply`, then its row of `LIFECYCLE`: the stage it
            enters (a terminal one closes the topic) and a pending transfer it ends."""
            topic = super().mutate(aggregate)
            assert isinstance(topic, Topic)
            effect = LIFECYCLE[type(self)]
            if effect.stage is not None:
                topic.stage = effect.stage
                if effect.stage in TERMINAL_STAGES:
                    topic.closed_at = self.timestamp
            if effect.pending is Change.ENDS:
                topic.pending = None
            return topic

    class TopicSubmitted(Aggregate.Created):
        title: str
        description: str
        category: str
        source: str
        location: str
        submitter: SealedSubmitter | None
        external_ref: str | None
        attachments: list[str]
        actor: dict[str, str]

    def __init__(
        self,
        title: str,
        description: str,
        category: str,
        source: str,
        location: str,
        submitter: SealedSubmitter | None,
        external_ref: str | None,
        attachments: list[str],
        actor: dict[str, str],
    ) -> None:
        self.title = title
        self.description = description
        self.category = category
        self.source = Source(source)
        self.location = location
        self.submitter = submitter
        self.external_ref = external_ref
        self.attachments = list(attachments)
        self.submitted_by = actor
        self.stage = LIFECYCLE[Topic.TopicSubmitted].stage or Stage.COLLECTED
        self.owner = location
        self.pending: Transfer | None = None
        self.route: list[Hop] = [Hop(location, self.created_on)]
        self.co_organizers: list[str] = []
        self.research_started = False
        self.research_reports: list[str] = []
        self.meetings: dict[str, Meeting] = {}
        self.tasks: dict[str, Task] = {}
        self.instructions: list[str] = []
        self.adoptions: list[dict[str, str]] = []
        self.feedback: str | None = None
        self.return_visits: list[ReturnVisit] = []
        self.visits_since_feedback = 0  # the residents' verdict on the current feedback
        self.comments = 0
        self.returns = 0
        self.reopened = 0
        self.merged_into: str | None = None
        self.absorbed: list[str] = []
        self.past_involvement: list[PastInvolvement] = []
        self.closed_at: datetime | None = None
        self.summary: str | None = None

    # -- reading ---------------------------------------------------------------------

    @property
    def terminal(self) -> bool:
        return self.stage in TERMINAL_STAGES

    @property
    def due_at(self) -> datetime | None:
        """The earliest open deadline (an open task, a pending delegation); None once
        terminal (`domain.lifecycle.open_deadline`, as the read model computes it)."""
        open_tasks = (t.due for t in self.tasks.values() if t.status != TaskStatus.COMPLETED)
        return open_deadline(self.terminal, open_tasks, self.pending.due if self.pending else None)

    def overdue(self, now: datetime) -> bool:
        """Derived at read time: an open task past its due, or a delegation past due."""
        return is_overdue(self.due_at, now)

    def _involvement(self) -> tuple[set[str], set[str]]:
        return involvement(
            self.owner,
            self.co_organizers,
            (t.handler_unit for t in self.tasks.values()),
            self.pending.to_unit if self.pending else None,
            (hop.unit for hop in self.route),
            (p.unit for p in self.past_involvement),
        )

    def current_units(self) -> set[str]:
        """Units taking part now besides the subtrees: the holder, co-organisers,
        task handlers and a pending transfer's target."""
        return self._involvement()[0]

    def ended_units(self) -> set[str]:
        """Units whose involvement ended (they may still be current otherwise): every
        unit on the route, every unit that returned a transfer, the location and
        owner of each topic merged into this one."""
        return self._involvement()[1]

    def involved_units(self) -> set[str]:
        """Units involved besides the subtrees, now or before."""
        return self.current_units() | self.ended_units()

    def involvement(self, unit: str, units: UnitDirectory) -> Involvement | None:
        """CURRENT, ENDED, or None for a unit that never was involved (it cannot see
        the topic). The one rule of who sees a topic and who may take part."""
        if (
            unit in self.current_units()
            or is_within(units, self.location, unit)
            or is_within(units, self.owner, unit)
        ):
            return Involvement.CURRENT
        if unit in self.ended_units():
            return Involvement.ENDED
        return None

    def how_involvement_ended(self, unit: str) -> str | None:
        """The last event that ended `unit`'s involvement, in words; None if none did."""
        ends: list[tuple[datetime, str]] = []
        for hop, after in zip(self.route, self.route[1:], strict=False):
            if hop.unit == unit and after.unit != unit and hop.left_at is not None:
                event = (
                    "TopicTakenOver" if after.via == TransferKind.TAKEOVER else "TransferAccepted"
                )
                ends.append(
                    (
                        hop.left_at,
                        f"the topic moved on to {after.unit} ({event}, {shown(hop.left_at)})",
                    )
                )
        ends.extend(
            (p.at, f"{p.detail} ({p.event}, {shown(p.at)})")
            for p in self.past_involvement
            if p.unit == unit
        )
        return max(ends)[1] if ends else None

    def state(self) -> dict[str, Any]:
        """Everything the topic holds, as plain data (for comparisons and dumps)."""
        return {
            "id": str(self.id),
            "version": self.version,
            "title": self.title,
            "stage": str(self.stage),
            "owner": self.owner,
            "location": self.location,
            "pending": None if self.pending is None else _plain(self.pending),
            "route": [_plain(h) for h in self.route],
            "co_organizers": list(self.co_organizers),
            "tasks": {k: _plain(v) for k, v in self.tasks.items()},
            "meetings": {k: _plain(v) for k, v in self.meetings.items()},
            "feedback": self.feedback,
            "return_visits": [_plain(v) for v in self.return_visits],
            "research": [self.research_started, list(self.research_reports)],
            "instructions": list(self.instructions),
            "adoptions": list(self.adoptions),
            "returns": self.returns,
            "reopened": self.reopened,
            "comments": self.comments,
            "merged_into": self.merged_into,
            "absorbed": list(self.absorbed),
            "past_involvement": [_plain(p) for p in self.past_involvement],
            "closed_at": self.closed_at,
        }

    # -- guards ----------------------------------------------------------------------

    def _check_role(self, actor: Actor, allowed: frozenset[Role], doing: str) -> None:
        if actor.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise ForbiddenError(
                "ROLE_NOT_PERMITTED",
                f"role {actor.role.value} may not {doing}; allowed roles: {names}",
            )

    def _check_open(self, doing: str) -> None:
        if self.terminal:
            raise RuleViolationError(
                "TOPIC_TERMINAL", f"topic {self.id} is {self.stage.value}; it cannot {doing}"
            )

    def _check_owner(self, actor: Actor, doing: str) -> None:
        self._check_role(actor, MANAGING_ROLES, doing)
        self._check_open(doing)
        if actor.unit != self.owner:
            raise ForbiddenError(
                "NOT_OWNER",
                f"only the owning unit {self.owner} may {doing}; {actor.unit} is not the owner",
            )

    def _check_stage(self, allowed: frozenset[Stage], doing: str) -> None:
        if self.stage not in allowed:
            names = ", ".join(s.value for s in Stage if s in allowed)
            raise RuleViolationError(
                "STAGE_ORDER",
                f"cannot {doing} in stage {self.stage.value}; allowed in: {names}",
            )

    def _check_no_pending(self, doing: str) -> None:
        if self.pending is not None:
            raise RuleViolationError(
                "TRANSFER_PENDING",
                f"cannot {doing}: the pending {self.pending.kind.value.lower()} from "
                f"{self.pending.from_unit} to {self.pending.to_unit} awaits its decision",
            )

    def _check_owner_or_co_organizer(self, actor: Actor, doing: str) -> None:
        self._check_role(actor, MANAGING_ROLES, doing)
        self._check_open(doing)
        if actor.unit != self.owner and actor.unit not in self.co_organizers:
            raise ForbiddenError(
                "NOT_OWNER_OR_CO_ORGANIZER",
                f"only the owner {self.owner} or a co-organiser may {doing}; "
                f"{actor.unit} is neither",
            )

    def _check_visible(self, actor: Actor, units: UnitDirectory) -> Involvement:
        # Visibility first: a unit that cannot see the topic learns nothing of it.
        involvement = self.involvement(actor.unit, units)
        if involvement is None:
            raise NotFoundError("TOPIC_NOT_FOUND", f"topic {self.id} does not exist")
        return involvement

    def _check_involvement_current(self, actor: Actor, units: UnitDirectory, doing: str) -> None:
        """A unit whose involvement ended reads the topic but no longer takes part."""
        if self.involvement(actor.unit, units) == Involvement.ENDED:
            raise ForbiddenError(
                "INVOLVEMENT_ENDED",
                f"{actor.unit} may read topic {self.id} but may no longer {doing}: its "
                f"involvement ended when {self.how_involvement_ended(actor.unit)}",
            )

    def _check_owner_or_ancestor(self, actor: Actor, units: UnitDirectory, doing: str) -> None:
        self._check_open(doing)
        if actor.unit != self.owner and not is_ancestor(units, actor.unit, self.owner):
            raise ForbiddenError(
                "NOT_OWNER_OR_ANCESTOR",
                f"only the owner {self.owner} or one of its ancestors may {doing}; "
                f"{actor.unit} is neither",
            )

    def _task(self, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            raise NotFoundError("TASK_NOT_FOUND", f"topic {self.id} has no task {task_id!r}")
        return task

    def _check_handler(self, actor: Actor, task: Task, doing: str) -> None:
        self._check_role(actor, HANDLING_ROLES, doing)
        self._check_open(doing)
        if actor.unit != task.handler_unit:
            raise ForbiddenError(
                "NOT_TASK_HANDLER",
                f"only the handling unit {task.handler_unit} may {doing} task {task.task_id}; "
                f"{actor.unit} is not it",
            )

    def _now(self, at: datetime | None) -> datetime:
        """The event's time: never before the topic's last event. Another process's
        clock may run a little ahead, so the wall clock is moved up to it; a time
        given explicitly (imports, simulation) must not go back."""
        if at is None:
            return max(datetime.now(UTC), self.modified_on)
        at = check_time(at, "time")
        if at < self.modified_on:
            raise BadInputError(
                "TIME_BEFORE_LAST_EVENT",
                f"time {shown(at)} is before the topic's last event ({shown(self.modified_on)})",
            )
        return at

    def _trigger(
        self, event_class: type[Topic.Event], actor: Actor, at: datetime | None, **kw: Any
    ) -> None:
        self.trigger_event(event_class, actor=actor.as_dict(), timestamp=self._now(at), **kw)

    # -- submit ----------------------------------------------------------------------

    @classmethod
    def submit(
        cls,
        *,
        actor: Actor,
        units: UnitDirectory,
        title: str,
        description: str,
        category: str,
        source: str,
        location: str,
        submitter: SealedSubmitter | None = None,
        external_ref: str | None = None,
        attachments: list[str] | None = None,
        at: datetime | None = None,
        topic_id: uuid.UUID | None = None,
    ) -> Topic:
        if actor.role not in SUBMITTING_ROLES:
            names = ", ".join(sorted(r.value for r in SUBMITTING_ROLES))
            raise ForbiddenError(
                "ROLE_NOT_PERMITTED",
                f"role {actor.role.value} may not submit a topic; allowed roles: {names}",
            )
        # A place outside the submitter's area reads exactly as an unknown code.
        place = _active_unit(units, location, "location unit", actor.unit, within=actor.unit)
        ref = check_text(external_ref, "external_ref", limit=MAX_SHORT, required=False) or None
        if topic_id is None:
            topic_id = external_ref_id(ref, actor.unit) if ref else uuid.uuid4()
        timestamp = datetime.now(UTC) if at is None else check_time(at, "time")
        return cls._create(
            cls.TopicSubmitted,
            id=topic_id,
            timestamp=timestamp,
            title=check_text(title, "title", limit=MAX_TITLE),
            description=check_text(description, "description"),
            category=check_text(category, "category", limit=100),
            source=parse_enum(Source, source, "source").value,
            location=place.code,
            submitter=_check_sealed(submitter),
            external_ref=ref,
            attachments=[check_text(a, "attachment", limit=MAX_SHORT) for a in attachments or []],
            actor=actor.as_dict(),
        )

    # -- determine / decline ---------------------------------------------------------

    class TopicDetermined(Event):
        note: str | None

    def determine(self, actor: Actor, note: str | None = None, at: datetime | None = None) -> None:
        self._check_owner(actor, "determine the topic")
        self._check_stage(frozenset({Stage.COLLECTED}), "determine the topic")
        self._trigger(
            self.TopicDetermined, actor, at, note=check_text(note, "note", required=False) or None
        )

    class TopicDeclined(Event):
        reason: str

    def decline(self, actor: Actor, reason: str, at: datetime | None = None) -> None:
        self._check_owner(actor, "decline the topic")
        self._check_stage(frozenset({Stage.COLLECTED}), "decline the topic")
        self._check_no_pending("decline the topic")
        self._trigger(self.TopicDeclined, actor, at, reason=check_text(reason, "reason"))

    # -- merge -----------------------------------------------------------------------

    class TopicMerged(Event):
        into: str
        reason: str

        def apply(self, topic: Topic) -> None:
            topic.merged_into = self.into

    class TopicAbsorbed(Event):
        """`merged` was merged into this topic by its owner (the actor). The merged
        topic's location and owner keep read-only sight of the topic they fed; an
        event recorded before `merged_location` existed names the owner only."""

        merged: str
        reason: str
        merged_location: str | None = None

        def apply(self, topic: Topic) -> None:
            topic.absorbed.append(self.merged)
            detail = f"its topic {self.merged} was merged into this one"
            for unit in merged_units(self.actor["unit"], self.merged_location):
                topic.past_involvement.append(
                    PastInvolvement(unit, "TopicAbsorbed", self.timestamp, detail)
                )

    def merge_into(
        self,
        target: Topic,
        actor: Actor,
        units: UnitDirectory,
        reason: str,
        at: datetime | None = None,
    ) -> None:
        self._check_owner(actor, "merge the topic")
        self._check_stage(MERGEABLE_STAGES, "merge the topic")
        self._check_no_pending("merge the topic")
        if target.id == self.id:
            raise RuleViolationError(
                "MERGE_INTO_ITSELF", f"topic {self.id} cannot be merged into itself"
            )
        if target.terminal:
            raise RuleViolationError(
                "MERGE_TARGET_CLOSED", f"target topic {target.id} is {target.stage.value}"
            )
        if not is_within(units, self.owner, target.owner):
            raise RuleViolationError(
                "MERGE_TARGET_OUT_OF_REACH",
                f"topic {self.id} (owner {self.owner}) can merge only into a topic owned by "
                f"{self.owner} or one of its ancestors; "
                f"target {target.id} is owned by {target.owner}",
            )
        text = check_text(reason, "reason")
        now = max(self._now(at), target.modified_on)
        self._trigger(self.TopicMerged, actor, now, into=str(target.id), reason=text)
        target._trigger(
            target.TopicAbsorbed,
            actor,
            now,
            merged=str(self.id),
            reason=text,
            merged_location=self.location,
        )

    # -- moves between levels ----------------------------------------------------------

    class EscalationRequested(Event):
        from_unit: str
        to_unit: str
        reason: str
        skip_level: bool

        def apply(self, topic: Topic) -> None:
            topic.pending = Transfer(
                TransferKind.ESCALATION,
                self.from_unit,
                self.to_unit,
                self.reason,
                self.timestamp,
                skip_level=self.skip_level,
            )

    def escalate(
        self,
        actor: Actor,
        units: UnitDirectory,
        to_unit: str | None = None,
        reason: str = "",
        at: datetime | None = None,
    ) -> None:
        self._check_owner(actor, "escalate the topic")
        self._check_stage(MOVABLE_STAGES, "escalate the topic")
        self._check_no_pending("escalate the topic")
        owner = require_unit(units, self.owner)
        if owner.parent is None:
            raise RuleViolationError(
                "ESCALATION_NO_PARENT",
                f"{owner.code} ({owner.name}) has no higher level to escalate to",
            )
        target = _active_unit(
            units, owner.parent if to_unit is None else to_unit, "escalation target", actor.unit
        )
        if target.code not in owner.ancestors:
            raise RuleViolationError(
                "ESCALATION_TARGET_NOT_ANCESTOR",
                f"escalation goes upward only: {target.code} is not an ancestor of {owner.code}",
            )
        skip_level = target.code != owner.parent
        text = check_text(reason, "reason", required=False)
        if skip_level and not text:
            raise RuleViolationError(
                "ESCALATION_SKIP_NEEDS_REASON",
                f"escalating from {owner.code} straight to {target.code} skips a level; "
                "give a reason",
            )
        self._trigger(
            self.EscalationRequested,
            actor,
            at,
            from_unit=owner.code,
            to_unit=target.code,
            reason=text,
            skip_level=skip_level,
        )

    class DelegationRequested(Event):
        from_unit: str
        to_unit: str
        instructions: str
        due: datetime | None

        def apply(self, topic: Topic) -> None:
            topic.pending = Transfer(
                TransferKind.DELEGATION,
                self.from_unit,
                self.to_unit,
                self.instructions,
                self.timestamp,
                due=self.due,
            )

    def delegate(
        self,
        actor: Actor,
        units: UnitDirectory,
        to_unit: str,
        instructions: str,
        due: datetime | None = None,
        at: datetime | None = None,
    ) -> None:
        self._check_owner(actor, "delegate the topic")
        self._check_stage(MOVABLE_STAGES, "delegate the topic")
        self._check_no_pending("delegate the topic")
        target = _active_unit(units, to_unit, "delegation target", actor.unit)
        if not is_ancestor(units, self.owner, target.code):
            raise RuleViolationError(
                "DELEGATION_TARGET_NOT_DESCENDANT",
                f"delegation goes downward only: {target.code} is not a descendant of {self.owner}",
            )
        now = self._now(at)
        if due is not None:
            due = check_time(due, "due")
            _check_future(due, now, "due")
        self._trigger(
            self.DelegationRequested,
            actor,
            now,
            from_unit=self.owner,
            to_unit=target.code,
            instructions=check_text(instructions, "instructions"),
            due=due,
        )

    def _check_pending_target(self, actor: Actor, doing: str) -> Transfer:
        self._check_role(actor, MANAGING_ROLES, doing)
        self._check_open(doing)
        if self.pending is None:
            raise RuleViolationError(
                "NO_PENDING_TRANSFER", f"topic {self.id} has no transfer to {doing}"
            )
        if actor.unit != self.pending.to_unit:
            raise ForbiddenError(
                "NOT_TRANSFER_TARGET",
                f"only the target unit {self.pending.to_unit} may {doing}; {actor.unit} is not it",
            )
        return self.pending

    class TransferAccepted(Event):
        kind: str
        from_unit: str
        to_unit: str
        note: str | None

        def apply(self, topic: Topic) -> None:
            assert topic.pending is not None
            topic._move_to(self.to_unit, self.timestamp, topic.pending.kind, topic.pending.reason)

    def accept_transfer(
        self, actor: Actor, note: str | None = None, at: datetime | None = None
    ) -> None:
        pending = self._check_pending_target(actor, "accept the transfer")
        self._trigger(
            self.TransferAccepted,
            actor,
            at,
            kind=pending.kind.value,
            from_unit=pending.from_unit,
            to_unit=pending.to_unit,
            note=check_text(note, "note", required=False) or None,
        )

    class TransferReturned(Event):
        kind: str
        from_unit: str
        to_unit: str
        reason: str

        def apply(self, topic: Topic) -> None:
            topic.returns += 1
            topic.past_involvement.append(
                PastInvolvement(
                    self.to_unit,
                    "TransferReturned",
                    self.timestamp,
                    f"it returned the {self.kind.lower()} from {self.from_unit}",
                )
            )

    def return_transfer(self, actor: Actor, reason: str, at: datetime | None = None) -> None:
        pending = self._check_pending_target(actor, "return the transfer")
        self._trigger(
            self.TransferReturned,
            actor,
            at,
            kind=pending.kind.value,
            from_unit=pending.from_unit,
            to_unit=pending.to_unit,
            reason=check_text(reason, "reason"),
        )

    class TransferCancelled(Event):
        kind: str
        to_unit: str
        reason: str | None

    def cancel_transfer(
        self, actor: Actor, reason: str | None = None, at: datetime | None = None
    ) -> None:
        self._check_role(actor, MANAGING_ROLES, "cancel the transfer")
        self._check_open("cancel the transfer")
        if self.pending is None:
            raise RuleViolationError(
                "NO_PENDING_TRANSFER", f"topic {self.id} has no transfer to cancel"
            )
        if actor.unit != self.pending.from_unit:
            raise ForbiddenError(
                "NOT_TRANSFER_REQUESTER",
                f"only the requesting unit {self.pending.from_unit} may cancel the transfer; "
                f"{actor.unit} is not it",
            )
        self._trigger(
            self.TransferCancelled,
            actor,
            at,
            kind=self.pending.kind.value,
            to_unit=self.pending.to_unit,
            reason=check_text(reason, "reason", required=False) or None,
        )

    class TopicTakenOver(Event):
        from_unit: str
        to_unit: str
        reason: str

        def apply(self, topic: Topic) -> None:
            topic._move_to(self.to_unit, self.timestamp, TransferKind.TAKEOVER, self.reason)

    def take_over(
        self, actor: Actor, units: UnitDirectory, reason: str, at: datetime | None = None
    ) -> None:
        """提级: a leader of any ancestor takes the topic; a pending transfer lapses."""
        self._check_role(actor, LEADING_ROLES, "take over the topic")
        self._check_open("take over the topic")
        if not is_ancestor(units, actor.unit, self.owner):
            raise ForbiddenError(
                "TAKEOVER_NOT_ANCESTOR",
                f"only a leader of an ancestor of {self.owner} may take the topic over; "
                f"{actor.unit} is not an ancestor",
            )
        self._trigger(
            self.TopicTakenOver,
            actor,
            at,
            from_unit=self.owner,
            to_unit=actor.unit,
            reason=check_text(reason, "reason"),
        )

    def _move_to(self, unit: str, at: datetime, via: TransferKind, reason: str) -> None:
        self.route[-1].left_at = at
        self.route.append(Hop(unit, at, via=via, reason=reason))
        self.owner = unit

    # -- co-organisers ---------------------------------------------------------------

    class CoOrganizerInvited(Event):
        unit: str
        note: str | None

        def apply(self, topic: Topic) -> None:
            topic.co_organizers.append(self.unit)

    def invite_co_organizer(
        self,
        actor: Actor,
        units: UnitDirectory,
        unit: str,
        note: str | None = None,
        at: datetime | None = None,
    ) -> None:
        self._check_owner(actor, "invite a co-organiser")
        invited = _active_unit(units, unit, "co-organiser", actor.unit)
        if invited.code == self.owner or invited.code in self.co_organizers:
            raise RuleViolationError(
                "ALREADY_CO_ORGANIZER", f"{invited.code} already takes part in topic {self.id}"
            )
        self._trigger(
            self.CoOrganizerInvited,
            actor,
            at,
            unit=invited.code,
            note=check_text(note, "note", required=False) or None,
        )

    # -- research --------------------------------------------------------------------

    class ResearchStarted(Event):
        text: str

        def apply(self, topic: Topic) -> None:
            topic.research_started = True

    def start_research(self, actor: Actor, text: str, at: datetime | None = None) -> None:
        self._check_owner(actor, "start research")
        self._check_stage(frozenset({Stage.DETERMINED}), "start research")
        self._trigger(self.ResearchStarted, actor, at, text=check_text(text, "text"))

    class ResearchReported(Event):
        text: str

        def apply(self, topic: Topic) -> None:
            topic.research_reports.append(self.text)

    def report_research(self, actor: Actor, text: str, at: datetime | None = None) -> None:
        self._check_owner(actor, "report research")
        self._check_stage(frozenset({Stage.RESEARCH}), "report research")
        self._trigger(self.ResearchReported, actor, at, text=check_text(text, "text"))

    # -- deliberation ----------------------------------------------------------------

    class DeliberationScheduled(Event):
        meeting_id: str
        scheduled_at: datetime
        place: str
        format: str
        participants: list[dict[str, str | None]]

        def apply(self, topic: Topic) -> None:
            topic.meetings[self.meeting_id] = Meeting(
                self.meeting_id, self.scheduled_at, self.place, self.format, list(self.participants)
            )

    def schedule_deliberation(
        self,
        actor: Actor,
        scheduled_at: datetime,
        place: str,
        format: str,
        participants: list[dict[str, str | None]],
        at: datetime | None = None,
    ) -> str:
        check_items(participants, "participants")  # the request's shape, before its state
        doing = "schedule a deliberation"
        self._check_owner_or_co_organizer(actor, doing)
        self._check_stage(frozenset({Stage.DETERMINED, Stage.RESEARCH, Stage.DELIBERATION}), doing)
        if self.stage == Stage.RESEARCH and not self.research_reports:
            raise RuleViolationError(
                "RESEARCH_NOT_REPORTED",
                "research has started but no research report is recorded yet; report it first",
            )
        people = [_participant(p) for p in participants]
        present = {ParticipantKind(p["kind"] or "") for p in people}
        missing = sorted(k.value for k in REQUIRED_PARTICIPANT_KINDS - present)
        if missing:
            raise RuleViolationError(
                "DELIBERATION_NEEDS_4_PLUS_X",
                "a deliberation needs members, cadres, departments and the public (4+X); "
                f"missing: {', '.join(missing)}",
            )
        meeting_id = f"M{len(self.meetings) + 1}"
        self._trigger(
            self.DeliberationScheduled,
            actor,
            at,
            meeting_id=meeting_id,
            scheduled_at=check_time(scheduled_at, "scheduled_at"),
            place=check_text(place, "place", limit=MAX_SHORT),
            format=check_text(format, "format", limit=100),
            participants=people,
        )
        return meeting_id

    class DeliberationHeld(Event):
        meeting_id: str
        attendance: list[str]
        minutes: str
        recommendations: list[str]

        def apply(self, topic: Topic) -> None:
            meeting = topic.meetings[self.meeting_id]
            meeting.held_at = self.timestamp
            meeting.attendance = list(self.attendance)
            meeting.minutes = self.minutes
            meeting.recommendations = list(self.recommendations)

    def record_deliberation(
        self,
        actor: Actor,
        meeting_id: str,
        attendance: list[str],
        minutes: str,
        recommendations: list[str],
        at: datetime | None = None,
    ) -> None:
        check_items(attendance, "attendance")  # the request's shape, before its state
        check_items(recommendations, "recommendations")
        doing = "record a deliberation"
        self._check_owner_or_co_organizer(actor, doing)
        self._check_stage(frozenset({Stage.DELIBERATION}), doing)
        meeting = self.meetings.get(meeting_id)
        if meeting is None:
            raise NotFoundError(
                "MEETING_NOT_FOUND", f"topic {self.id} has no meeting {meeting_id!r}"
            )
        if meeting.held_at is not None:
            raise RuleViolationError(
                "MEETING_ALREADY_HELD", f"meeting {meeting_id} was already recorded as held"
            )
        names = [check_text(a, "attendance name", limit=100) for a in attendance]
        if not names:
            raise BadInputError("FIELD_REQUIRED", "attendance must list at least one participant")
        self._trigger(
            self.DeliberationHeld,
            actor,
            at,
            meeting_id=meeting_id,
            attendance=names,
            minutes=check_text(minutes, "minutes"),
            recommendations=[check_text(r, "recommendation") for r in recommendations],
        )

    # -- handling --------------------------------------------------------------------

    class TaskAssigned(Event):
        task_id: str
        handler_unit: str
        handler: str
        requirement: str
        due: datetime

        def apply(self, topic: Topic) -> None:
            topic.tasks[self.task_id] = Task(
                self.task_id,
                self.handler_unit,
                self.handler,
                self.requirement,
                self.due,
                self.timestamp,
            )

    def assign_task(
        self,
        actor: Actor,
        units: UnitDirectory,
        handler_unit: str,
        handler: str,
        requirement: str,
        due: datetime,
        at: datetime | None = None,
    ) -> str:
        doing = "assign a task"
        self._check_owner(actor, doing)
        self._check_stage(frozenset({Stage.DELIBERATION, Stage.HANDLING}), doing)
        if not any(m.held_at for m in self.meetings.values()):
            raise RuleViolationError(
                "TASK_BEFORE_DELIBERATION",
                "tasks are assigned after a deliberation is held; no meeting has been held yet",
            )
        unit = _active_unit(units, handler_unit, "handler unit", actor.unit)
        now = self._now(at)
        due = check_time(due, "due")
        _check_future(due, now, "due")
        task_id = f"T{len(self.tasks) + 1}"
        self._trigger(
            self.TaskAssigned,
            actor,
            now,
            task_id=task_id,
            handler_unit=unit.code,
            handler=check_text(handler, "handler", limit=200),
            requirement=check_text(requirement, "requirement"),
            due=due,
        )
        return task_id

    class TaskSigned(Event):
        task_id: str

        def apply(self, topic: Topic) -> None:
            task = topic.tasks[self.task_id]
            task.status = TaskStatus.SIGNED
            task.signed_at = self.timestamp

    def sign_task(self, actor: Actor, task_id: str, at: datetime | None = None) -> None:
        task = self._task(task_id)
        self._check_handler(actor, task, "sign for")
        if task.status != TaskStatus.ASSIGNED:
            raise RuleViolationError(
                "TASK_ALREADY_SIGNED",
                f"task {task_id} is {task.status.value}; it was signed for already",
            )
        self._trigger(self.TaskSigned, actor, at, task_id=task_id)

    class TaskProgressReported(Event):
        task_id: str
        note: str

        def apply(self, topic: Topic) -> None:
            topic.tasks[self.task_id].progress.append(self.note)

    def report_task_progress(
        self, actor: Actor, task_id: str, note: str, at: datetime | None = None
    ) -> None:
        task = self._task(task_id)
        self._check_handler(actor, task, "report progress on")
        _check_task_signed(task, "report progress")
        self._trigger(
            self.TaskProgressReported, actor, at, task_id=task_id, note=check_text(note, "note")
        )

    class TaskSupervised(Event):
        task_id: str
        note: str

        def apply(self, topic: Topic) -> None:
            topic.tasks[self.task_id].supervisions += 1

    def supervise_task(
        self,
        actor: Actor,
        units: UnitDirectory,
        task_id: str,
        note: str,
        at: datetime | None = None,
    ) -> None:
        """督办: the owner or any ancestor presses the handler."""
        task = self._task(task_id)
        self._check_role(actor, MANAGING_ROLES, "supervise a task")
        self._check_owner_or_ancestor(actor, units, "supervise a task")
        _check_task_open(task, "supervise")
        self._trigger(
            self.TaskSupervised, actor, at, task_id=task_id, note=check_text(note, "note")
        )

    class TaskDeadlineExtended(Event):
        task_id: str
        old_due: datetime
        new_due: datetime
        reason: str

        def apply(self, topic: Topic) -> None:
            task = topic.tasks[self.task_id]
            task.due = self.new_due
            task.extensions += 1

    def extend_task_deadline(
        self, actor: Actor, task_id: str, new_due: datetime, reason: str, at: datetime | None = None
    ) -> None:
        task = self._task(task_id)
        self._check_owner(actor, "extend a task deadline")
        _check_task_open(task, "extend the deadline of")
        new_due = check_time(new_due, "new_due")
        if new_due <= task.due:
            raise RuleViolationError(
                "EXTENSION_NOT_LATER",
                f"the new due {shown(new_due)} is not later than the current due "
                f"{shown(task.due)} of task {task_id}",
            )
        self._trigger(
            self.TaskDeadlineExtended,
            actor,
            at,
            task_id=task_id,
            old_due=task.due,
            new_due=new_due,
            reason=check_text(reason, "reason"),
        )

    class TaskCompleted(Event):
        task_id: str
        result: str

        def apply(self, topic: Topic) -> None:
            task = topic.tasks[self.task_id]
            task.status = TaskStatus.COMPLETED
            task.completed_at = self.timestamp
            task.result = self.result

    def complete_task(
        self, actor: Actor, task_id: str, result: str, at: datetime | None = None
    ) -> None:
        task = self._task(task_id)
        self._check_handler(actor, task, "complete")
        _check_task_signed(task, "complete")
        self._trigger(
            self.TaskCompleted, actor, at, task_id=task_id, result=check_text(result, "result")
        )

    # -- leaders ---------------------------------------------------------------------

    class LeaderInstructionRecorded(Event):
        text: str

        def apply(self, topic: Topic) -> None:
            topic.instructions.append(self.text)

    def record_leader_instruction(
        self, actor: Actor, units: UnitDirectory, text: str, at: datetime | None = None
    ) -> None:
        """批示: a leader of the owner or of an ancestor."""
        self._check_role(actor, LEADING_ROLES, "record a leader instruction")
        self._check_owner_or_ancestor(actor, units, "record a leader instruction")
        self._trigger(self.LeaderInstructionRecorded, actor, at, text=check_text(text, "text"))

    class OutcomeAdopted(Event):
        body: str
        text: str

        def apply(self, topic: Topic) -> None:
            topic.adoptions.append({"body": self.body, "text": self.text})

    def record_adoption(
        self, actor: Actor, units: UnitDirectory, body: str, text: str, at: datetime | None = None
    ) -> None:
        """成果采纳: the body that adopted the outcome, and what it adopted."""
        self._check_role(actor, LEADING_ROLES, "record an adoption")
        self._check_owner_or_ancestor(actor, units, "record an adoption")
        self._trigger(
            self.OutcomeAdopted,
            actor,
            at,
            body=check_text(body, "body", limit=MAX_SHORT),
            text=check_text(text, "text"),
        )

    # -- feedback and the residents' verdict -------------------------------------------

    class FeedbackGiven(Event):
        reply: str
        channel: str | None

        def apply(self, topic: Topic) -> None:
            topic.feedback = self.reply
            topic.visits_since_feedback = 0

    def give_feedback(
        self, actor: Actor, reply: str, channel: str | None = None, at: datetime | None = None
    ) -> None:
        self._check_owner(actor, "give feedback")
        self._check_stage(frozenset({Stage.HANDLING}), "give feedback")
        unfinished = sorted(
            t.task_id for t in self.tasks.values() if t.status != TaskStatus.COMPLETED
        )
        if unfinished:
            raise RuleViolationError(
                "FEEDBACK_BEFORE_TASKS_COMPLETED",
                "feedback comes after every task is completed; "
                f"still open: {', '.join(unfinished)}",
            )
        self._trigger(
            self.FeedbackGiven,
            actor,
            at,
            reply=check_text(reply, "reply"),
            channel=check_text(channel, "channel", limit=100, required=False) or None,
        )

    class ReturnVisitRecorded(Event):
        contacted: bool
        solved: bool
        satisfaction: str
        comment: str | None

        def apply(self, topic: Topic) -> None:
            topic.return_visits.append(
                ReturnVisit(
                    self.contacted,
                    self.solved,
                    Satisfaction(self.satisfaction),
                    self.comment,
                    self.timestamp,
                )
            )
            topic.visits_since_feedback += 1

    def record_return_visit(
        self,
        actor: Actor,
        contacted: bool,
        solved: bool,
        satisfaction: str,
        comment: str | None = None,
        at: datetime | None = None,
    ) -> None:
        self._check_owner(actor, "record a return visit")
        self._check_stage(frozenset({Stage.FEEDBACK}), "record a return visit")
        self._trigger(
            self.ReturnVisitRecorded,
            actor,
            at,
            contacted=bool(contacted),
            solved=bool(solved),
            satisfaction=parse_enum(Satisfaction, satisfaction, "satisfaction").value,
            comment=check_text(comment, "comment", required=False) or None,
        )

    class TopicReopened(Event):
        reason: str

        def apply(self, topic: Topic) -> None:
            topic.reopened += 1
            topic.feedback = None

    def reopen(self, actor: Actor, reason: str, at: datetime | None = None) -> None:
        self._check_owner(actor, "reopen the topic")
        self._check_stage(frozenset({Stage.FEEDBACK}), "reopen the topic")
        last = self.return_visits[-1] if self.visits_since_feedback else None
        if last is None or last.satisfaction != Satisfaction.UNSATISFIED:
            verdict = (
                "no return visit"
                if last is None
                else f"the last visit was {last.satisfaction.value}"
            )
            raise RuleViolationError(
                "REOPEN_NEEDS_UNSATISFIED_VISIT",
                f"a topic reopens only after an unsatisfied return visit; {verdict}",
            )
        self._trigger(self.TopicReopened, actor, at, reason=check_text(reason, "reason"))

    class TopicClosed(Event):
        summary: str

        def apply(self, topic: Topic) -> None:
            topic.summary = self.summary

    def close(self, actor: Actor, summary: str, at: datetime | None = None) -> None:
        self._check_owner(actor, "close the topic")
        self._check_stage(frozenset({Stage.FEEDBACK}), "close the topic")
        self._check_no_pending("close the topic")
        if not self.visits_since_feedback:
            raise RuleViolationError(
                "CLOSE_NEEDS_RETURN_VISIT",
                "a topic closes with the residents' verdict: record a return visit first",
            )
        self._trigger(self.TopicClosed, actor, at, summary=check_text(summary, "summary"))

    class TopicWithdrawn(Event):
        reason: str

    def withdraw(self, actor: Actor, reason: str, at: datetime | None = None) -> None:
        self._check_owner(actor, "withdraw the topic")
        self._check_no_pending("withdraw the topic")
        self._trigger(self.TopicWithdrawn, actor, at, reason=check_text(reason, "reason"))

    # -- comments --------------------------------------------------------------------

    class CommentAdded(Event):
        text: str

        def apply(self, topic: Topic) -> None:
            topic.comments += 1

    def add_comment(
        self, actor: Actor, units: UnitDirectory, text: str, at: datetime | None = None
    ) -> None:
        self._check_visible(actor, units)
        self._check_role(actor, COMMENTING_ROLES, "comment")
        self._check_open("take a comment")
        self._check_involvement_current(actor, units, "comment")
        self._trigger(self.CommentAdded, actor, at, text=check_text(text, "text"))


# -- the lifecycle ---------------------------------------------------------------------

# What each event does to stage, owner, pending transfer, deadlines and involvement
# (domain.lifecycle.Lifecycle): one line per event class, read by `Topic.Event.mutate`
# and by the read models. An event without a line cannot be applied.
LIFECYCLE: dict[type[Aggregate.Event], Lifecycle] = {
    Topic.TopicSubmitted: Lifecycle(stage=Stage.COLLECTED, owner="location"),
    Topic.TopicDetermined: Lifecycle(stage=Stage.DETERMINED),
    Topic.TopicDeclined: Lifecycle(stage=Stage.DECLINED),
    Topic.TopicMerged: Lifecycle(stage=Stage.MERGED),
    Topic.TopicAbsorbed: Lifecycle(ends_involvement=True),  # the merged location, owner
    Topic.EscalationRequested: Lifecycle(pending=Change.OPENS, involves="to_unit"),
    Topic.DelegationRequested: Lifecycle(
        pending=Change.OPENS, involves="to_unit", deadline=Change.OPENS
    ),
    Topic.TransferAccepted: Lifecycle(owner="to_unit", pending=Change.ENDS),
    Topic.TransferReturned: Lifecycle(pending=Change.ENDS, ends_involvement=True),
    Topic.TransferCancelled: Lifecycle(pending=Change.ENDS),
    Topic.TopicTakenOver: Lifecycle(owner="to_unit", pending=Change.ENDS),
    Topic.CoOrganizerInvited: Lifecycle(involves="unit"),
    Topic.ResearchStarted: Lifecycle(stage=Stage.RESEARCH),
    Topic.ResearchReported: Lifecycle(),
    Topic.DeliberationScheduled: Lifecycle(stage=Stage.DELIBERATION),
    Topic.DeliberationHeld: Lifecycle(),
    Topic.TaskAssigned: Lifecycle(
        stage=Stage.HANDLING, involves="handler_unit", deadline=Change.OPENS
    ),
    Topic.TaskSigned: Lifecycle(),
    Topic.TaskProgressReported: Lifecycle(),
    Topic.TaskSupervised: Lifecycle(),
    Topic.TaskDeadlineExtended: Lifecycle(deadline=Change.MOVES),
    Topic.TaskCompleted: Lifecycle(deadline=Change.ENDS),
    Topic.LeaderInstructionRecorded: Lifecycle(),
    Topic.OutcomeAdopted: Lifecycle(),
    Topic.FeedbackGiven: Lifecycle(stage=Stage.FEEDBACK),
    Topic.ReturnVisitRecorded: Lifecycle(),
    Topic.TopicReopened: Lifecycle(stage=Stage.HANDLING),
    Topic.TopicClosed: Lifecycle(stage=Stage.CLOSED),
    Topic.TopicWithdrawn: Lifecycle(stage=Stage.WITHDRAWN, pending=Change.ENDS),
    Topic.CommentAdded: Lifecycle(),
}
# The event classes by contract name (`Envelope.type`), for the read models' dispatch.
TOPIC_EVENTS: dict[str, type[Aggregate.Event]] = {cls.__name__: cls for cls in LIFECYCLE}


# -- helpers -------------------------------------------------------------------------


def merged_units(owner: str, location: str | None) -> list[str]:
    """The units of a merged topic that keep sight of the topic it was merged into:
    its owner (who merged it) and its location, once each, owner first."""
    return [owner] if location in (None, owner) else [owner, location]


def _active_unit(
    units: UnitDirectory, code: str, what: str, viewer: str, *, within: str | None = None
) -> Unit:
    """The unit a caller names, if it exists, lies `within` the given subtree (when
    one is given) and is not retired. A unit outside `within` reads exactly as an
    unknown code; a retired unit is named only to a viewer who may see that unit."""
    unit = units.get(code)
    if unit is None or (within is not None and not is_within(units, unit.code, within)):
        raise NotFoundError("UNIT_NOT_FOUND", f"{what} {code!r} is not a known unit")
    if unit.retired:
        named = f"{unit.code} ({unit.name})" if may_see_unit(units, viewer, unit.code) else code
        raise RuleViolationError("UNIT_RETIRED", f"{what} {named} is retired")
    return unit


def _check_future(due: datetime, now: datetime, name: str) -> None:
    if due <= now:
        raise BadInputError(
            "DUE_NOT_IN_FUTURE", f"{name} {shown(due)} is not after now ({shown(now)})"
        )


def _check_task_signed(task: Task, doing: str) -> None:
    if task.status != TaskStatus.SIGNED:
        raise RuleViolationError(
            "TASK_NOT_SIGNED",
            f"cannot {doing} on task {task.task_id}: it is {task.status.value}, not SIGNED",
        )


def _check_task_open(task: Task, doing: str) -> None:
    if task.status == TaskStatus.COMPLETED:
        raise RuleViolationError(
            "TASK_COMPLETED", f"cannot {doing} task {task.task_id}: it is completed"
        )


def _participant(data: dict[str, str | None]) -> dict[str, str | None]:
    kind = parse_enum(ParticipantKind, data.get("kind") or "", "participant kind")
    member_id = check_text(data.get("member_id"), "member_id", limit=100, required=False) or None
    return {
        "name": check_text(data.get("name"), "participant name", limit=100),
        "kind": kind.value,
        "member_id": member_id,
    }


def clean_submitter(submitter: dict[str, str] | None) -> dict[str, str] | None:
    """The submitter's name and phone, checked, before they are sealed; None if empty."""
    if not submitter:
        return None
    cleaned = {
        key: check_text(submitter.get(key), f"submitter {key}", limit=100, required=False)
        for key in ("name", "phone")
    }
    return {k: v for k, v in cleaned.items() if v} or None


def _check_sealed(submitter: SealedSubmitter | None) -> SealedSubmitter | None:
    """Personal data enters the event only sealed (person id, key id, ciphertext)."""
    if not submitter:
        return None
    fields = set(submitter)
    if fields != SEALED_FIELDS or not all(isinstance(v, str) and v for v in submitter.values()):
        raise BadInputError(
            "SUBMITTER_NOT_SEALED",
            "a submitter is recorded only sealed with a per-person key "
            f"({', '.join(sorted(SEALED_FIELDS))}), not with the fields {sorted(fields)}",
        )
    return SealedSubmitter(
        person_id=submitter["person_id"], key_id=submitter["key_id"], sealed=submitter["sealed"]
    )


def _plain(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}
