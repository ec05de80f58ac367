"""The annual consultation plan (年度协商计划): one aggregate per committee unit and year.

A committee's staff draft the year's plan and add its items (kind, title, planned
month or quarter, lead leader, lead special committee, where the topic came from),
submit it; a leader of the unit approves it as jointly issued (`issued_by`, e.g.
党委办, 政府办, 政协办). Before approval items change freely (staff or leaders of
the unit); after approval an item is adjusted or cancelled only by a leader of the
unit and only with a reason, and each change is listed in the item's adjustments.
Items are linked to the topics (and their meetings) that carry them out; an item is
DONE by `complete_item`, or — for a MEETING_KIND — when a linked topic's
deliberation is held (derived by the plans read model from DeliberationHeld, so a
rebuild gives the same answer). Overdue is derived at read time: the planned
period is over (China Standard Time) and the item is neither DONE nor CANCELLED.

The plan's id is uuid5 of (unit, year): a second draft for the same unit and year
finds the first and is refused (PLAN_EXISTS), whichever process drafts it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate

from domain.clock import shown
from domain.errors import BadInputError, ForbiddenError, NotFoundError, RuleViolationError
from domain.lifecycle import event_classes
from domain.topic import MAX_SHORT, MAX_TITLE, Actor, Role, check_items, check_text, check_time
from domain.units import Level, UnitDirectory, require_unit

PLAN_NAMESPACE = uuid.UUID("5d2b8c1e-3f4a-4e6b-9a71-0c8d2e4f6a13")
CHINA = timezone(timedelta(hours=8), "CST")
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_PLAN_ITEMS = 500  # a county's "1124+N" is a few dozen; a province's some hundred
MAX_ISSUERS = 10
MAX_LINKS = 50  # topics and meetings linked to one item


class PlanKind(StrEnum):
    PLENARY = "PLENARY"
    JOINT_MEETING = "JOINT_MEETING"
    STANDING_COMMITTEE = "STANDING_COMMITTEE"
    BIMONTHLY = "BIMONTHLY"
    SPECIAL = "SPECIAL"
    PROPOSAL_HANDLING = "PROPOSAL_HANDLING"
    COUNTERPART = "COUNTERPART"
    SECTOR = "SECTOR"
    LINKAGE = "LINKAGE"
    GRASSROOTS = "GRASSROOTS"
    SUPERVISION = "SUPERVISION"
    RESEARCH = "RESEARCH"
    OTHER = "OTHER"


PLAN_KIND_LABELS: dict[PlanKind, str] = {
    PlanKind.PLENARY: "全体会议",
    PlanKind.JOINT_MEETING: "联席会议",
    PlanKind.STANDING_COMMITTEE: "常委会议",
    PlanKind.BIMONTHLY: "双月协商",
    PlanKind.SPECIAL: "专题协商",
    PlanKind.PROPOSAL_HANDLING: "提案办理协商",
    PlanKind.COUNTERPART: "对口协商",
    PlanKind.SECTOR: "界别协商",
    PlanKind.LINKAGE: "市县联动协商",
    PlanKind.GRASSROOTS: "小微协商",
    PlanKind.SUPERVISION: "协商式监督",
    PlanKind.RESEARCH: "调研",
    PlanKind.OTHER: "其他",
}

# The kinds carried out by a consultation meeting on a topic: an item of one of
# these is DONE as soon as a linked topic's deliberation is held (the linked
# meeting, when the link names one). Plenary, joint and standing-committee
# sessions are formal sessions with many agenda items, consultative supervision
# and research are not meetings: they are DONE by completePlanItem.
MEETING_KINDS = frozenset(
    {
        PlanKind.BIMONTHLY,
        PlanKind.SPECIAL,
        PlanKind.PROPOSAL_HANDLING,
        PlanKind.COUNTERPART,
        PlanKind.SECTOR,
        PlanKind.LINKAGE,
        PlanKind.GRASSROOTS,
    }
)


class PlanState(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"


class PlanItemState(StrEnum):
    PLANNED = "PLANNED"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


PLAN_LEVELS = frozenset({Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP})
EDITING_ROLES = frozenset({Role.STAFF, Role.LEADER})
APPROVING_ROLES = frozenset({Role.LEADER})


def plan_id_of(unit: str, year: int) -> uuid.UUID:
    """The one id the plan of `unit` for `year` always has."""
    return uuid.uuid5(PLAN_NAMESPACE, f"{unit}\x1f{year}")


# -- periods ----------------------------------------------------------------------------

MONTH = re.compile(r"(\d{4})-(\d{2})")
QUARTER = re.compile(r"(\d{4})-Q(\d)")


@dataclass(frozen=True, slots=True)
class Period:
    """A planned month ("2026-05") or quarter ("2026-Q2")."""

    year: int
    first_month: int
    months: int  # 1 or 3

    @property
    def text(self) -> str:
        if self.months == 1:
            return f"{self.year}-{self.first_month:02d}"
        return f"{self.year}-Q{(self.first_month - 1) // 3 + 1}"

    @property
    def ends_at(self) -> datetime:
        """The instant the period is over: midnight China time after its last day."""
        month = self.first_month + self.months
        year = self.year + (month - 1) // 12
        return datetime(year, (month - 1) % 12 + 1, 1, tzinfo=CHINA).astimezone(UTC)


def parse_period(value: str) -> Period:
    text = (value or "").strip()
    month, quarter = MONTH.fullmatch(text), QUARTER.fullmatch(text)
    if month and 1 <= int(month.group(2)) <= 12:
        return Period(int(month.group(1)), int(month.group(2)), 1)
    if quarter and 1 <= int(quarter.group(2)) <= 4:
        return Period(int(quarter.group(1)), (int(quarter.group(2)) - 1) * 3 + 1, 3)
    raise BadInputError(
        "PERIOD_INVALID",
        f"plannedFor {value!r} is neither a month YYYY-MM (01 to 12) nor a quarter YYYY-Qn "
        "(Q1 to Q4), e.g. 2026-05 or 2026-Q2",
    )


def is_item_overdue(planned_for: str, state: str, now: datetime) -> bool:
    """Derived at read time: the planned period is over and the item is still PLANNED."""
    return state == PlanItemState.PLANNED and now >= parse_period(planned_for).ends_at


def parse_kind(value: str | PlanKind) -> PlanKind:
    try:
        return PlanKind(value)
    except ValueError:
        allowed = ", ".join(k.value for k in PlanKind)
        raise BadInputError(
            "PLAN_KIND_UNKNOWN", f"kind {value!r} is not a plan kind; allowed: {allowed}"
        ) from None


# -- the aggregate ------------------------------------------------------------------------


@dataclass(slots=True)
class PlanItem:
    item_id: str
    kind: PlanKind
    title: str
    planned_for: str
    lead_leader: str | None
    lead_committee: str | None
    origin: str | None
    state: PlanItemState = PlanItemState.PLANNED
    done_at: datetime | None = None
    links: list[tuple[str, str | None]] = field(default_factory=list)  # (topic, meeting)
    adjustments: int = 0


class ConsultationPlan(Aggregate):
    """One committee unit's plan for one year."""

    class Event(Aggregate.Event):
        actor: dict[str, str]

    class PlanDrafted(Aggregate.Created):
        unit: str
        year: int
        actor: dict[str, str]

    def __init__(self, unit: str, year: int, actor: dict[str, str]) -> None:
        self.unit = unit
        self.year = year
        self.drafted_by = actor
        self.state = PlanState.DRAFT
        self.issued_by: list[str] = []
        self.approved_at: datetime | None = None
        self.items: dict[str, PlanItem] = {}

    # -- draft ------------------------------------------------------------------------

    @classmethod
    def draft(
        cls, *, actor: Actor, units: UnitDirectory, unit: str, year: int, at: datetime | None
    ) -> ConsultationPlan:
        _check_role(actor, EDITING_ROLES, "draft a consultation plan")
        found = require_unit(units, unit)
        if actor.unit != found.code:
            raise ForbiddenError(
                "PLAN_NOT_OWN_UNIT",
                f"only the staff of {found.code} may draft its plan; {actor.unit} is another unit",
            )
        if found.level not in PLAN_LEVELS:
            raise RuleViolationError(
                "PLAN_UNIT_LEVEL",
                f"unit {found.code} is a {found.level.name.lower()}: plans are drafted by "
                "provinces, cities, counties and townships",
            )
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise BadInputError(
                "PLAN_YEAR_INVALID", f"year {year} is outside {MIN_YEAR} to {MAX_YEAR}"
            )
        return cls._create(
            cls.PlanDrafted,
            id=plan_id_of(found.code, year),
            timestamp=_time(at),
            unit=found.code,
            year=year,
            actor=actor.as_dict(),
        )

    # -- items --------------------------------------------------------------------------

    class PlanItemAdded(Event):
        item_id: str
        kind: str
        title: str
        planned_for: str
        lead_leader: str | None
        lead_committee: str | None
        origin: str | None

        def apply(self, plan: ConsultationPlan) -> None:
            plan.items[self.item_id] = PlanItem(
                self.item_id,
                PlanKind(self.kind),
                self.title,
                self.planned_for,
                self.lead_leader,
                self.lead_committee,
                self.origin,
            )

    def add_item(
        self,
        actor: Actor,
        *,
        kind: str,
        title: str,
        planned_for: str,
        lead_leader: str | None = None,
        lead_committee: str | None = None,
        origin: str | None = None,
        at: datetime | None = None,
    ) -> str:
        self._check_editor(actor, "add a plan item")
        if self.state == PlanState.APPROVED:
            raise RuleViolationError(
                "PLAN_ALREADY_APPROVED",
                f"the plan of {self.unit} for {self.year} is approved: items are no longer "
                "added; adjust an item instead (adjustPlanItem, with a reason)",
            )
        if len(self.items) >= MAX_PLAN_ITEMS:
            raise BadInputError(
                "TOO_MANY_ITEMS", f"the plan has {len(self.items)} items; at most {MAX_PLAN_ITEMS}"
            )
        item_id = f"I{len(self.items) + 1}"
        self._trigger(
            self.PlanItemAdded,
            actor,
            at,
            item_id=item_id,
            kind=parse_kind(kind).value,
            title=check_text(title, "title", limit=MAX_TITLE),
            planned_for=self._period(planned_for),
            lead_leader=_optional(lead_leader, "leadLeader"),
            lead_committee=_optional(lead_committee, "leadCommittee"),
            origin=_optional(origin, "origin"),
        )
        return item_id

    # -- submit / approve -----------------------------------------------------------------

    class PlanSubmitted(Event):
        def apply(self, plan: ConsultationPlan) -> None:
            plan.state = PlanState.SUBMITTED

    def submit(self, actor: Actor, at: datetime | None = None) -> None:
        self._check_editor(actor, "submit the plan")
        if self.state != PlanState.DRAFT:
            raise RuleViolationError(
                "PLAN_NOT_DRAFT",
                f"the plan of {self.unit} for {self.year} is {self.state.value}; only a DRAFT "
                "is submitted",
            )
        self._check_not_empty("submit")
        self._trigger(self.PlanSubmitted, actor, at)

    class PlanApproved(Event):
        issued_by: list[str]

        def apply(self, plan: ConsultationPlan) -> None:
            plan.state = PlanState.APPROVED
            plan.issued_by = list(self.issued_by)
            plan.approved_at = self.timestamp

    def approve(self, actor: Actor, issued_by: list[str], at: datetime | None = None) -> None:
        _check_role(actor, APPROVING_ROLES, "approve a consultation plan")
        self._check_own_unit(actor, "approve the plan")
        if self.state != PlanState.SUBMITTED:
            raise RuleViolationError(
                "PLAN_NOT_SUBMITTED",
                f"the plan of {self.unit} for {self.year} is {self.state.value}; a plan is "
                "approved once submitted",
            )
        self._check_not_empty("approve")
        issuers = [check_text(i, "issuedBy", limit=100) for i in check_items(issued_by, "issuedBy")]
        if not issuers or len(issuers) > MAX_ISSUERS:
            raise BadInputError(
                "PLAN_ISSUED_BY_REQUIRED",
                f"issuedBy names {len(issuers)} bodies; name 1 to {MAX_ISSUERS} bodies that "
                "jointly issue the plan (e.g. 党委办, 政府办, 政协办)",
            )
        self._trigger(self.PlanApproved, actor, at, issued_by=issuers)

    # -- adjust / cancel ------------------------------------------------------------------

    class PlanItemAdjusted(Event):
        item_id: str
        change: str
        reason: str
        title: str | None
        planned_for: str | None
        kind: str | None

        def apply(self, plan: ConsultationPlan) -> None:
            item = plan.items[self.item_id]
            item.title = self.title or item.title
            item.planned_for = self.planned_for or item.planned_for
            item.kind = PlanKind(self.kind) if self.kind else item.kind
            item.adjustments += 1

    def adjust_item(
        self,
        actor: Actor,
        item_id: str,
        *,
        reason: str,
        title: str | None = None,
        planned_for: str | None = None,
        kind: str | None = None,
        at: datetime | None = None,
    ) -> None:
        item = self._item(item_id)
        why = self._check_change(actor, item, reason, "adjust")
        changes: list[str] = []
        new_title = None if title is None else check_text(title, "title", limit=MAX_TITLE)
        new_period = None if planned_for is None else self._period(planned_for)
        new_kind = None if kind is None else parse_kind(kind).value
        if new_title is not None and new_title != item.title:
            changes.append(f"title {item.title!r} → {new_title!r}")
        if new_period is not None and new_period != item.planned_for:
            changes.append(f"plannedFor {item.planned_for} → {new_period}")
        if new_kind is not None and new_kind != item.kind:
            changes.append(f"kind {item.kind.value} → {new_kind}")
        if not changes:
            raise BadInputError(
                "PLAN_ADJUSTMENT_EMPTY",
                f"the adjustment of item {item_id} changes nothing: give a new title, "
                "plannedFor or kind",
            )
        self._trigger(
            self.PlanItemAdjusted,
            actor,
            at,
            item_id=item_id,
            change="; ".join(changes),
            reason=why,
            title=new_title,
            planned_for=new_period,
            kind=new_kind,
        )

    class PlanItemCancelled(Event):
        item_id: str
        reason: str

        def apply(self, plan: ConsultationPlan) -> None:
            plan.items[self.item_id].state = PlanItemState.CANCELLED

    def cancel_item(
        self, actor: Actor, item_id: str, reason: str, at: datetime | None = None
    ) -> None:
        item = self._item(item_id)
        why = self._check_change(actor, item, reason, "cancel")
        if item.state == PlanItemState.DONE:
            raise RuleViolationError(
                "PLAN_ITEM_DONE", f"item {item_id} of the plan is DONE; it cannot be cancelled"
            )
        self._trigger(self.PlanItemCancelled, actor, at, item_id=item_id, reason=why)

    # -- carried out ----------------------------------------------------------------------

    class PlanItemLinked(Event):
        item_id: str
        topic_id: str
        meeting_id: str | None

        def apply(self, plan: ConsultationPlan) -> None:
            plan.items[self.item_id].links.append((self.topic_id, self.meeting_id))

    def link_item(
        self,
        actor: Actor,
        item_id: str,
        topic_id: str,
        meeting_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Link a topic (and one of its meetings) the actor sees; the caller has
        checked the topic is visible and the meeting exists."""
        self._check_editor(actor, "link a plan item")
        item = self._item(item_id)
        self._check_not_cancelled(item, "link")
        if (topic_id, meeting_id) in item.links:
            raise RuleViolationError(
                "PLAN_ITEM_ALREADY_LINKED",
                f"item {item_id} is already linked to topic {topic_id}"
                + (f" meeting {meeting_id}" if meeting_id else ""),
            )
        if len(item.links) >= MAX_LINKS:
            raise BadInputError(
                "TOO_MANY_ITEMS", f"item {item_id} has {len(item.links)} links; at most {MAX_LINKS}"
            )
        self._trigger(
            self.PlanItemLinked,
            actor,
            at,
            item_id=item_id,
            topic_id=topic_id,
            meeting_id=meeting_id,
        )

    class PlanItemCompleted(Event):
        item_id: str

        def apply(self, plan: ConsultationPlan) -> None:
            item = plan.items[self.item_id]
            item.state = PlanItemState.DONE
            item.done_at = self.timestamp

    def complete_item(self, actor: Actor, item_id: str, at: datetime | None = None) -> None:
        self._check_editor(actor, "complete a plan item")
        item = self._item(item_id)
        self._check_not_cancelled(item, "complete")
        if item.state == PlanItemState.DONE:
            raise RuleViolationError(
                "PLAN_ITEM_DONE", f"item {item_id} of the plan is DONE already"
            )
        self._trigger(self.PlanItemCompleted, actor, at, item_id=item_id)

    # -- guards ---------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"the plan of {self.unit} for {self.year}"

    def _check_own_unit(self, actor: Actor, doing: str) -> None:
        if actor.unit != self.unit:
            raise ForbiddenError(
                "PLAN_NOT_OWN_UNIT",
                f"only {self.unit} may {doing} ({self.label}); {actor.unit} is another unit",
            )

    def _check_editor(self, actor: Actor, doing: str) -> None:
        _check_role(actor, EDITING_ROLES, doing)
        self._check_own_unit(actor, doing)

    def _check_not_empty(self, doing: str) -> None:
        if not any(i.state != PlanItemState.CANCELLED for i in self.items.values()):
            raise RuleViolationError(
                "PLAN_EMPTY", f"{self.label} has no items; add items before you {doing} it"
            )

    def _check_not_cancelled(self, item: PlanItem, doing: str) -> None:
        if item.state == PlanItemState.CANCELLED:
            raise RuleViolationError(
                "PLAN_ITEM_CANCELLED",
                f"item {item.item_id} ({item.title}) was cancelled; it cannot {doing}",
            )

    def _check_change(self, actor: Actor, item: PlanItem, reason: str | None, doing: str) -> str:
        """Before approval: staff or leaders of the unit, freely. After: a leader
        of the unit, with a reason. Returns the reason (possibly blank before)."""
        self._check_editor(actor, f"{doing} a plan item")
        self._check_not_cancelled(item, f"be {doing}ed" if doing == "cancel" else "be adjusted")
        if self.state != PlanState.APPROVED:
            return check_text(reason, "reason", limit=MAX_SHORT, required=False)
        if actor.role not in APPROVING_ROLES:
            raise ForbiddenError(
                "PLAN_LEADER_REQUIRED",
                f"{self.label} is approved: only a leader of {self.unit} may {doing} item "
                f"{item.item_id}; role {actor.role.value} may not",
            )
        why = check_text(reason, "reason", limit=MAX_SHORT, required=False)
        if not why:
            raise BadInputError(
                "PLAN_REASON_REQUIRED",
                f"{self.label} is approved: give the reason to {doing} item {item.item_id} "
                "(e.g. 报请党委同意)",
            )
        return why

    def _item(self, item_id: str) -> PlanItem:
        item = self.items.get(item_id)
        if item is None:
            raise NotFoundError("PLAN_ITEM_NOT_FOUND", f"{self.label} has no item {item_id!r}")
        return item

    def _period(self, planned_for: str) -> str:
        period = parse_period(planned_for)
        if period.year != self.year:
            raise BadInputError(
                "PLAN_ITEM_OUTSIDE_YEAR",
                f"plannedFor {period.text} is outside the plan's year {self.year}",
            )
        return period.text

    def _trigger(
        self,
        event_class: type[ConsultationPlan.Event],
        actor: Actor,
        at: datetime | None,
        **kw: Any,
    ) -> None:
        """The event's time: never before the plan's last event (the wall clock is moved
        up to it; a time given explicitly must not go back)."""
        if at is None:
            when = max(datetime.now(UTC), self.modified_on)
        else:
            when = check_time(at, "time")
            if when < self.modified_on:
                raise BadInputError(
                    "TIME_BEFORE_LAST_EVENT",
                    f"time {shown(when)} is before the plan's last event "
                    f"({shown(self.modified_on)})",
                )
        self.trigger_event(event_class, actor=actor.as_dict(), timestamp=when, **kw)


def _time(at: datetime | None) -> datetime:
    return datetime.now(UTC) if at is None else check_time(at, "time")


def _optional(value: str | None, name: str) -> str | None:
    return check_text(value, name, limit=MAX_SHORT, required=False) or None


def _check_role(actor: Actor, allowed: frozenset[Role], doing: str) -> None:
    if actor.role not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        raise ForbiddenError(
            "ROLE_NOT_PERMITTED", f"role {actor.role.value} may not {doing}; allowed roles: {names}"
        )


PLAN_EVENT_TYPES = frozenset(cls.__name__ for cls in event_classes(ConsultationPlan))
