"""One source of the lifecycle (issue 16): `domain.topic.LIFECYCLE` and the views.

Every event class of the `Topic` aggregate (and of `UnitImport`, which the units
view consumes) must be handled by every view or listed there as ignored, and an
event a view ignores must not carry a lifecycle effect that view reads. Then the
aggregate, the topics view and the stats view, fed the same events, must agree
after every one of them on stage, owner, pending transfer, deadlines and who is
involved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import fields
from typing import Any

import pytest
from eventsourcing.domain import Aggregate

from domain.lifecycle import Change, Lifecycle, event_classes, involvement
from domain.topic import LIFECYCLE, TERMINAL_STAGES, TOPIC_EVENTS, Topic
from domain.units import UnitImport
from projections import envelope as envelopes
from projections.bulk import UnitPaths
from projections.envelope import envelope
from projections.plans import view as plans_view
from projections.stats import view as stats
from projections.timeline import view as timeline
from projections.topics import view as topics
from projections.topics.rows import ROW_NAMES
from projections.units import view as units_view
from tests.utils.factories import (
    COUNTY,
    FULL_PANEL,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    handler,
    later,
    leader,
    small_directory,
    staff,
    submission,
)

TOPIC_EVENT_CLASSES = event_classes(Topic)
UNIT_EVENT_CLASSES = event_classes(UnitImport)
# Lifecycle fields each view applies itself (so an event carrying one may not be ignored).
TOPICS_READS = {f.name for f in fields(Lifecycle)}  # the summary, visibility and inbox
STATS_READS = {"stage", "owner", "pending"}  # stage counters, hops, transfer months

Views = Mapping[str, tuple[Collection[type[Aggregate.Event]], Collection[type[Aggregate.Event]]]]
VIEWS: Views = {
    "topics": (topics.HANDLERS.keys(), topics.IGNORED),
    "stats": (stats.HANDLERS.keys(), stats.IGNORED),
    "timeline": (timeline.HANDLED, timeline.IGNORED),
    "plans": (plans_view.HANDLED, plans_view.IGNORED),
}


def uncovered(
    events: Iterable[type[Aggregate.Event]],
    handled: Collection[type[Aggregate.Event]],
    ignored: Collection[type[Aggregate.Event]],
) -> set[str]:
    """Events a view neither handles nor lists as ignored, or lists as both."""
    return {
        cls.__name__ for cls in events if (cls in handled) == (cls in ignored)
    }  # fmt: skip


def ignored_with_effect(ignored: Iterable[type[Aggregate.Event]], reads: set[str]) -> set[str]:
    """Ignored events whose lifecycle row sets a field the view applies."""
    default = Lifecycle()
    return {
        cls.__name__
        for cls in ignored
        if any(getattr(LIFECYCLE[cls], f) != getattr(default, f) for f in reads)
    }


# -- the table and the views' declarations ----------------------------------------------


def test_every_topic_event_class_has_one_lifecycle_line() -> None:
    assert set(LIFECYCLE) == set(TOPIC_EVENT_CLASSES)
    assert set(TOPIC_EVENTS.values()) == set(TOPIC_EVENT_CLASSES)
    assert all(TOPIC_EVENTS[cls.__name__] is cls for cls in TOPIC_EVENT_CLASSES)
    assert {LIFECYCLE[c].stage for c in TOPIC_EVENT_CLASSES} >= set(TERMINAL_STAGES)


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_every_view_handles_or_ignores_every_topic_event(view: str) -> None:
    handled, ignored = VIEWS[view]
    assert uncovered(TOPIC_EVENT_CLASSES, handled, ignored) == set()
    assert set(handled) | set(ignored) == set(TOPIC_EVENT_CLASSES)


def test_the_check_fails_for_a_view_that_forgets_an_event_or_ignores_an_effect() -> None:
    handled = set(topics.HANDLERS) - {Topic.TaskCompleted}
    assert uncovered(TOPIC_EVENT_CLASSES, handled, topics.IGNORED) == {"TaskCompleted"}
    both = set(topics.IGNORED) | {Topic.TopicClosed}
    assert uncovered(TOPIC_EVENT_CLASSES, topics.HANDLERS.keys(), both) == {"TopicClosed"}
    assert ignored_with_effect({Topic.TopicClosed, Topic.CommentAdded}, STATS_READS) == {
        "TopicClosed"
    }


def test_no_view_ignores_an_event_whose_lifecycle_it_applies() -> None:
    assert ignored_with_effect(topics.IGNORED, TOPICS_READS) == set()
    assert ignored_with_effect(stats.IGNORED, STATS_READS) == set()


def test_an_effect_that_needs_the_events_data_has_a_handler_in_the_topics_view() -> None:
    """A new owner, an opened transfer or deadline, a unit involved or no longer: the
    summary needs the event's fields for these, so the lifecycle alone cannot do."""
    for cls, effect in LIFECYCLE.items():
        needs = effect.owner or effect.involves or effect.deadline or effect.ends_involvement
        if (needs or effect.pending is Change.OPENS) and cls is not Topic.TopicSubmitted:
            assert topics.HANDLERS[cls] is not None, cls.__name__


def test_the_units_view_handles_or_ignores_every_hierarchy_event() -> None:
    handled, ignored = units_view.HANDLED, units_view.IGNORED
    assert uncovered(UNIT_EVENT_CLASSES, handled, ignored) == set()
    assert set(handled) | set(ignored) == set(UNIT_EVENT_CLASSES)
    assert {c.__name__ for c in UNIT_EVENT_CLASSES} == envelopes.UNIT_EVENT_TYPES


def test_topic_row_reads_only_columns_of_topic_summary() -> None:
    columns = {c.name for c in topics.SUMMARY_COLUMNS}
    assert set(ROW_NAMES) <= columns
    ddl = topics.TopicsView.DDL[0]
    assert all(re.search(rf"[ (]{name} ", ddl) for name in columns)


# -- the aggregate and the views agree, event by event ---------------------------------


def _full_path() -> list[Topic]:
    """Every step and every move of DESIGN §4 on one topic."""
    units = small_directory()
    t = Topic.submit(actor=staff(TOWNSHIP), units=units, **submission(TOWNSHIP), at=later(0))
    t.invite_co_organizer(staff(TOWNSHIP), units, SIBLING_VILLAGE, at=later(0.1))
    t.delegate(staff(TOWNSHIP), units, VILLAGE, "请社区办理", due=later(5), at=later(0.2))
    t.return_transfer(staff(VILLAGE), "不属本社区", at=later(0.3))
    t.escalate(staff(TOWNSHIP), units, reason="需区协调", at=later(0.4))
    t.cancel_transfer(staff(TOWNSHIP), at=later(0.5))
    t.delegate(staff(TOWNSHIP), units, VILLAGE, "请社区办理", due=later(5), at=later(0.6))
    t.accept_transfer(staff(VILLAGE), at=later(0.7))
    t.take_over(leader(COUNTY), units, "区里直接办", at=later(0.8))
    t.determine(staff(COUNTY), at=later(1))
    t.start_research(staff(COUNTY), "走访", at=later(1.1))
    t.report_research(staff(COUNTY), "调研报告", at=later(1.2))
    meeting = t.schedule_deliberation(
        staff(COUNTY), later(2), "社区会议室", "协商议事会", FULL_PANEL, at=later(1.3)
    )
    t.record_deliberation(staff(COUNTY), meeting, ["王委员"], "纪要", ["加装水泵"], at=later(2.1))
    task = t.assign_task(staff(COUNTY), units, VILLAGE, "李工", "加装水泵", later(9), at=later(2.2))
    t.sign_task(handler(VILLAGE), task, at=later(2.3))
    t.report_task_progress(handler(VILLAGE), task, "已进场", at=later(2.4))
    t.supervise_task(staff(COUNTY), units, task, "加快", at=later(2.5))
    t.extend_task_deadline(staff(COUNTY), task, later(12), "材料未到", at=later(2.6))
    t.complete_task(handler(VILLAGE), task, "已完成", at=later(3))
    t.record_leader_instruction(leader(COUNTY), units, "抓紧", at=later(3.1))
    t.record_adoption(leader(COUNTY), units, "区政府", "纳入民生实事", at=later(3.2))
    t.give_feedback(staff(COUNTY), "已加装", at=later(3.3))
    t.record_return_visit(staff(COUNTY), True, False, "UNSATISFIED", at=later(3.4))
    t.reopen(staff(COUNTY), "水压仍不足", at=later(3.5))
    t.give_feedback(staff(COUNTY), "已调试", at=later(3.6))
    t.record_return_visit(staff(COUNTY), True, True, "SATISFIED", at=later(3.7))
    t.add_comment(staff(COUNTY), units, "好", at=later(3.8))
    t.close(staff(COUNTY), "办结", at=later(4))
    return [t]


def _short_ends() -> list[Topic]:
    """Declined, withdrawn, and merged into another (which absorbs it)."""
    units = small_directory()

    def new(day: float) -> Topic:
        return Topic.submit(actor=staff(TOWNSHIP), units=units, **submission(), at=later(day))

    declined, withdrawn, merged, target = new(0), new(0), new(0), new(0)
    declined.decline(staff(VILLAGE), "重复", at=later(1))
    withdrawn.withdraw(staff(VILLAGE), "群众撤回", at=later(1))
    merged.merge_into(target, staff(VILLAGE), units, "同一诉求", at=later(1))
    return [declined, withdrawn, merged, target]


def _aggregate_facts(t: Topic) -> dict[str, Any]:
    current, ended = t.current_units(), t.ended_units()
    return {
        "stage": str(t.stage),
        "owner": t.owner,
        "pending": None if t.pending is None else t.pending.to_unit,
        "closed_at": t.closed_at,
        "due_at": t.due_at,
        "involvement": (current, ended),
    }


def _summary_facts(s: topics.Summary) -> dict[str, Any]:
    return {
        "stage": s.stage,
        "owner": s.owner,
        "pending": None if s.pending is None else s.pending["to_unit"],
        "closed_at": s.closed_at,
        "due_at": s.due_at,
        "involvement": involvement(
            s.owner,
            s.co_organizers,
            (t["handler_unit"] for t in s.tasks),
            s.pending["to_unit"] if s.pending else None,
            (hop["unit"] for hop in s.route),
            (p["unit"] for p in s.past_involvement),
        ),
    }


SCENARIOS: dict[str, Callable[[], list[Topic]]] = {
    "full path": _full_path,
    "short ends": _short_ends,
}


def test_the_scenarios_raise_every_topic_event() -> None:
    raised = {type(e) for make in SCENARIOS.values() for t in make() for e in t.collect_events()}
    assert raised == set(TOPIC_EVENT_CLASSES)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_aggregate_topics_view_and_stats_view_agree_after_every_event(scenario: str) -> None:
    units = small_directory()
    places = UnitPaths(units)
    for original in SCENARIOS[scenario]():
        events = original.collect_events()
        topic: Any = None
        summary: topics.Summary | None = None
        counted: stats.TopicStats | None = None
        for position, event in enumerate(events, start=1):
            topic = event.mutate(topic)
            e = envelope(event, position)
            if summary is None or counted is None:
                summary, counted = topics.submitted(e, places), stats.submitted(e, places)
            else:
                topics.advance(summary, e, places)
                stats.apply_event(counted, e, places)
            name, effect = type(event).__name__, LIFECYCLE[type(event)]
            facts = _aggregate_facts(topic)
            assert _summary_facts(summary) == facts, name
            assert counted.stage == facts["stage"], name
            assert (counted.pending_at is None) == (facts["pending"] is None), name
            assert counted.hop_level == places.level(topic.owner), name
            # the table says what the aggregate did
            if effect.stage is not None:
                assert topic.stage == effect.stage, name
            if effect.owner is not None:
                assert topic.owner == getattr(event, effect.owner), name
            if effect.pending is Change.ENDS:
                assert topic.pending is None, name
            if effect.pending is Change.OPENS:
                assert topic.pending is not None, name
            if effect.involves is not None:
                assert getattr(event, effect.involves) in topic.current_units(), name
        assert topic.state() == original.state()
