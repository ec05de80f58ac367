"""The use-case API: `handle` for every command, `get_*` reads, library errors translated.

Every command returns a `CommandResult` (the topic id, its new version and the
event-store position reached, for read-your-writes). Commands on an existing topic
use optimistic concurrency: with `expected_version` a stale caller gets a
`ConflictError`; without it the command is re-validated on the fresh state and
retried after a jittered, growing pause (`retry_attempts`), so it succeeds only
while it is still valid, and practically never fails for contention alone. Within
one process, commands on one topic take turns (a striped lock), so its writers
queue instead of racing; the retries settle races between processes.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypedDict, cast

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.access import may_read_topic
from domain.errors import BadInputError, ConflictError, LinkageError, NotFoundError
from domain.topic import (
    Actor,
    SealedSubmitter,
    Topic,
    check_time,
    clean_submitter,
    external_ref_id,
)
from domain.topic_commands import Command, CommandContext, SubmitTopic
from domain.units import HierarchyChanges, UnitDirectory, UnitImport

# Retries after a lost race: full-jitter exponential backoff (a pause drawn from
# [0, min(cap, base * 2**n)]), at most 30 attempts and 4 s of pauses in all.
COMMAND_ATTEMPTS = 30
RETRY_BASE_SECONDS = 0.005
RETRY_CAP_SECONDS = 0.25
RETRY_BUDGET_SECONDS = 4.0
TOPIC_LOCK_STRIPES = 256  # commands on one topic in one process take turns


def retry_attempts(
    attempts: int = COMMAND_ATTEMPTS,
    budget: float = RETRY_BUDGET_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[int]:
    """Attempt numbers 0, 1, ...; before each retry a random pause that grows with the
    attempt, so writers that collided spread out instead of colliding again."""
    slept = 0.0
    for attempt in range(attempts):
        if attempt:
            ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**attempt)
            pause = min(random.uniform(0, ceiling), budget - slept)
            if pause > 0:
                sleep(pause)
                slept += pause
        yield attempt


def external_ref_used(external_ref: str) -> ConflictError:
    """A reference of the caller's unit is recorded for a topic the caller cannot see
    (the hierarchy changed since): refused, naming nothing of that topic."""
    return ConflictError(
        "EXTERNAL_REF_USED",
        f"external_ref {external_ref!r} was already used by this unit for a topic it cannot "
        "see; use another reference",
    )


@dataclass(frozen=True, slots=True)
class CommandResult:
    topic_id: uuid.UUID
    version: int
    position: int
    created_id: str | None = None
    duplicate: bool = False


class Submission(TypedDict, total=False):
    """The arguments of one topic submission (`submit_topic`'s keywords)."""

    title: str
    description: str
    category: str
    source: str
    location: str
    submitter: dict[str, str] | None
    external_ref: str | None
    attachments: list[str] | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One submission of a batch: the topic created or found, or why it was refused."""

    topic_id: uuid.UUID | None = None
    duplicate: bool = False
    error: LinkageError | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    outcomes: list[Outcome]  # one per submission, in order
    position: int  # the event-store position reached


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One decision in a topic's history, as auditors read it."""

    version: int
    type: str
    occurred_at: datetime
    actor: dict[str, str]
    reason: str | None
    data: dict[str, Any]


REASON_FIELDS = ("reason", "instructions", "note", "text", "summary", "reply", "result")
BASE_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def event_type(event: object) -> str:
    return type(event).__name__


def event_data(event: object) -> dict[str, Any]:
    return {k: v for k, v in vars(event).items() if k not in BASE_FIELDS and k != "actor"}


def history_entry(event: Aggregate.Event) -> HistoryEntry:
    data = event_data(event)
    reason = next((data[k] for k in REASON_FIELDS if data.get(k)), None)
    return HistoryEntry(
        version=event.originator_version,
        type=event_type(event),
        occurred_at=event.timestamp,
        actor=getattr(event, "actor", {}),
        reason=reason,
        data=data,
    )


class SubmitterVault(Protocol):
    """Where submitters' keys live: seals a name and phone with that person's key."""

    def seal(self, submitter: dict[str, str]) -> SealedSubmitter: ...


class NoVault:
    """An application without a key store refuses personal data rather than keep it clear."""

    def seal(self, submitter: dict[str, str]) -> SealedSubmitter:
        raise BadInputError(
            "PERSONAL_DATA_UNAVAILABLE",
            "this application has no key store for personal data: "
            "the submitter's name and phone cannot be recorded",
        )


class LinkageApp(Application[uuid.UUID]):
    """The topic and hierarchy use cases over one event store."""

    name = "linkage"
    env: ClassVar[dict[str, str]] = {"ORIGINATOR_ID_TYPE": "uuid"}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        units: UnitDirectory,
        vault: SubmitterVault | None = None,
    ) -> None:
        super().__init__(env)
        self.units = units
        self.vault: SubmitterVault = vault or NoVault()
        self._turns = [threading.Lock() for _ in range(TOPIC_LOCK_STRIPES)]

    # -- reads -----------------------------------------------------------------------

    def get_topic(self, topic_id: uuid.UUID, version: int | None = None) -> Topic:
        try:
            topic: object = self.repository.get(topic_id, version=version)
        except AggregateNotFoundError:
            raise NotFoundError("TOPIC_NOT_FOUND", f"topic {topic_id} does not exist") from None
        if not isinstance(topic, Topic):
            raise NotFoundError("TOPIC_NOT_FOUND", f"topic {topic_id} does not exist")
        return topic

    def topic_as_of(self, topic_id: uuid.UUID, at: datetime) -> Topic | None:
        """The topic as it stood at `at`, or None if it did not exist yet."""
        version = None
        for event in self.events_of(topic_id, until=check_time(at, "as_of")):
            version = event.originator_version
        return None if version is None else self.get_topic(topic_id, version=version)

    def history(self, topic_id: uuid.UUID, until: datetime | None = None) -> list[HistoryEntry]:
        until = None if until is None else check_time(until, "until")
        entries = [history_entry(event) for event in self.events_of(topic_id, until)]
        if not entries:
            raise NotFoundError("TOPIC_NOT_FOUND", f"topic {topic_id} does not exist")
        return entries

    def events_of(
        self, topic_id: uuid.UUID, until: datetime | None = None
    ) -> Iterator[Aggregate.Event]:
        """The topic's events in version order, up to those that happened by `until`."""
        for event in self.events.get(topic_id):
            domain_event = cast(Aggregate.Event, event)
            if until is not None and domain_event.timestamp > until:
                return
            yield domain_event

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    # -- submission ------------------------------------------------------------------

    def submit_topic(
        self,
        actor: Actor,
        *,
        title: str,
        description: str,
        category: str,
        source: str,
        location: str,
        submitter: dict[str, str] | None = None,
        external_ref: str | None = None,
        attachments: list[str] | None = None,
        at: datetime | None = None,
        topic_id: uuid.UUID | None = None,
    ) -> CommandResult:
        # The command is validated first: a re-submission is answered as a duplicate
        # only when it would itself be accepted (right role, place within reach).
        topic = self._submitted(
            actor,
            Submission(
                title=title,
                description=description,
                category=category,
                source=source,
                location=location,
                submitter=submitter,
                external_ref=external_ref,
                attachments=attachments,
            ),
            at=at,
            topic_id=topic_id,
        )
        if topic.external_ref:
            existing = self._existing(actor, external_ref_id(topic.external_ref, actor.unit))
            if existing is not None:
                return existing
        try:
            recordings = self.save(topic)
        except IntegrityError:
            existing = self._existing(actor, topic.id) if topic.external_ref else None
            if existing is None:
                raise ConflictError(
                    "TOPIC_ID_TAKEN", f"a topic with id {topic.id} already exists"
                ) from None
            return existing
        return CommandResult(topic.id, topic.version, recordings[-1].notification.id)

    def _submitted(
        self,
        actor: Actor,
        submission: Submission,
        at: datetime | None = None,
        topic_id: uuid.UUID | None = None,
    ) -> Topic:
        """A new topic from a submission, every rule checked; nothing saved yet.

        Personal data is sealed with the person's own key before it reaches the event
        (single and batch submissions alike)."""
        clear = clean_submitter(submission.get("submitter"))
        return Topic.submit(
            actor=actor,
            units=self.units,
            title=submission.get("title", ""),
            description=submission.get("description", ""),
            category=submission.get("category", ""),
            source=submission.get("source", ""),
            location=submission.get("location", ""),
            submitter=self.vault.seal(clear) if clear else None,
            external_ref=submission.get("external_ref"),
            attachments=submission.get("attachments"),
            at=at,
            topic_id=topic_id,
        )

    def submit_topics(self, actor: Actor, submissions: Sequence[Submission]) -> BatchResult:
        """Many submissions, saved in one transaction; each answered on its own.

        An invalid submission is answered with its error and never fails the others.
        An `external_ref` the caller's unit recorded already — or earlier in the same
        batch — is answered as a duplicate with the existing topic's id (or refused
        with EXTERNAL_REF_USED if the caller cannot see it), and nothing is written
        for it twice, even when another batch with the same references races this
        one: the loser's save fails on the event store's uniqueness, and it looks
        again which references are recorded now.
        """
        preload = getattr(self.units, "preload", None)  # a directory over a database
        if preload is not None:  # one query for the batch's places, not one per item
            preload({str(s.get("location", "")) for s in submissions})
        outcomes: dict[int, Outcome] = {}
        for _attempt in retry_attempts():
            fresh: dict[uuid.UUID, tuple[int, Topic]] = {}
            for index, submission in enumerate(submissions):
                if index in outcomes:
                    continue
                try:
                    topic = self._submitted(actor, submission)
                except LinkageError as err:
                    outcomes[index] = Outcome(error=err)
                    continue
                if topic.id in fresh:  # the same external_ref earlier in this batch
                    outcomes[index] = Outcome(topic.id, duplicate=True)
                    continue
                fresh[topic.id] = (index, topic)
            referenced = [tid for tid, (_, topic) in fresh.items() if topic.external_ref]
            for topic_id in self._recorded(referenced):
                index, topic = fresh.pop(topic_id)
                outcomes[index] = self._duplicate(actor, topic_id, topic.external_ref or "")
            if not fresh:
                return BatchResult(self._ordered(outcomes, submissions), self.head_position())
            # The events go to the store directly: `save` checks every object against
            # runtime protocols, which costs more than encoding it on Python 3.11.
            events = [event for _, topic in fresh.values() for event in topic.collect_events()]
            try:
                recordings = self.events.put(events)
            except IntegrityError:
                for index, _ in fresh.values():
                    outcomes.pop(index, None)
                continue  # another batch recorded some of these references first
            for topic_id, (index, _) in fresh.items():
                outcomes[index] = Outcome(topic_id)
            position = recordings[-1].notification.id
            return BatchResult(self._ordered(outcomes, submissions), position)
        raise ConflictError(
            "CONCURRENT_UPDATE",
            f"the batch kept colliding with concurrent submissions after {COMMAND_ATTEMPTS} "
            "attempts; retry it",
        )

    def _recorded(self, topic_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these topics exist already (one query where the recorder allows)."""
        many = getattr(self.recorder, "existing_originators", None)
        if many is not None:
            return cast(set[uuid.UUID], many(topic_ids))
        return {i for i in topic_ids if self.recorder.select_events(i, limit=1)}

    @staticmethod
    def _ordered(outcomes: dict[int, Outcome], submissions: Sequence[Submission]) -> list[Outcome]:
        return [outcomes[i] for i in range(len(submissions))]

    def _existing(self, actor: Actor, topic_id: uuid.UUID) -> CommandResult | None:
        """The duplicate answer for a recorded reference, None if none is recorded;
        only a topic the caller sees is answered (EXTERNAL_REF_USED otherwise)."""
        try:
            topic = self.get_topic(topic_id)
        except NotFoundError:
            return None
        if not may_read_topic(actor.unit, topic, self.units):
            raise external_ref_used(topic.external_ref or "")
        return CommandResult(topic.id, topic.version, self.head_position(), duplicate=True)

    def _duplicate(self, actor: Actor, topic_id: uuid.UUID, external_ref: str) -> Outcome:
        """A batch item whose reference is recorded: a duplicate of a topic the caller
        sees, else refused like a single submission."""
        try:
            existing = self._existing(actor, topic_id)
        except ConflictError as err:
            return Outcome(error=err)
        if existing is None:  # a topic id without a topic: not a reference of ours
            return Outcome(error=external_ref_used(external_ref))
        return Outcome(topic_id, duplicate=True)

    # -- the command loop --------------------------------------------------------------

    def visible_topic(self, actor: Actor, topic_id: uuid.UUID) -> Topic:
        """The topic, if the actor's unit may see it; an invisible topic is answered
        exactly as a missing one, so commands never leak its existence (DESIGN §6)."""
        topic = self.get_topic(topic_id)
        if not may_read_topic(actor.unit, topic, self.units):
            raise NotFoundError("TOPIC_NOT_FOUND", f"topic {topic_id} does not exist")
        return topic

    def _execute(
        self,
        actor: Actor,
        topic_id: uuid.UUID,
        action: Callable[[Topic], str | None],
        expected_version: int | None = None,
        also: Sequence[Topic] = (),
    ) -> CommandResult:
        """Load, act, save; `also` holds other topics the action changed (it may
        refill it on each attempt), saved in the same transaction."""
        turn = self._turns[uuid.UUID(str(topic_id)).int % TOPIC_LOCK_STRIPES]  # str ids too
        for _ in retry_attempts():
            with turn:  # held for one attempt, never while pausing
                topic = self.visible_topic(actor, topic_id)
                if expected_version is not None and topic.version != expected_version:
                    raise _stale(topic_id, expected_version, topic.version)
                created = action(topic)
                try:
                    recordings = self.save(topic, *also)
                except IntegrityError:
                    if expected_version is not None:
                        raise _stale(topic_id, expected_version, None) from None
                    continue
            return CommandResult(topic.id, topic.version, recordings[-1].notification.id, created)
        raise ConflictError(
            "CONCURRENT_UPDATE",
            f"topic {topic_id} kept changing under {COMMAND_ATTEMPTS} attempts; try again",
        )

    # -- commands ----------------------------------------------------------------------

    def handle(
        self,
        actor: Actor,
        command: Command,
        *,
        expected_version: int | None = None,
        at: datetime | None = None,
    ) -> CommandResult:
        """Run one command (domain.topic_commands) for `actor`; `at` is when it
        happened (default now, UTC: for imports and simulation)."""
        if isinstance(command, SubmitTopic):
            return self.submit_topic(
                actor,
                title=command.title,
                description=command.description,
                category=command.category,
                source=command.source,
                location=command.location,
                submitter=command.submitter,
                external_ref=command.external_ref,
                attachments=None if command.attachments is None else list(command.attachments),
                at=at,
                topic_id=command.topic_id,
            )
        changed: list[Topic] = []

        def merge_target(into: uuid.UUID) -> Topic:
            return self._merge_target(actor, into)

        def action(topic: Topic) -> str | None:
            ctx = CommandContext(actor, self.units, at, merge_target)
            created = command.apply_to(topic, ctx)
            changed[:] = ctx.changed  # fresh on every attempt
            return created

        return self._execute(actor, command.topic_id, action, expected_version, also=changed)

    def _merge_target(self, actor: Actor, into: uuid.UUID) -> Topic:
        """The target, if the actor sees it: a hidden target is answered exactly as a
        missing one (nothing is written into a topic the actor cannot read)."""
        return self.visible_topic(actor, into)

    # -- the hierarchy -----------------------------------------------------------------

    def record_hierarchy_changes(
        self,
        changes: HierarchyChanges,
        *,
        content_hash: str,
        source: str,
        provinces: list[str],
        actor: Actor,
    ) -> int | None:
        """Record one import's changes in one transaction; None when nothing changed."""
        if changes.empty:
            return None
        record = UnitImport.record(content_hash, source, provinces, changes, actor.as_dict())
        recordings = self.save(record)
        return recordings[-1].notification.id


def _stale(topic_id: uuid.UUID, expected: int, actual: int | None) -> ConflictError:
    now = "has moved on" if actual is None else f"is at version {actual}"
    return ConflictError(
        "VERSION_CONFLICT",
        f"topic {topic_id} {now}; the command expected version {expected}",
    )
