"""What a unit's involvement in a topic grants, now and after it ended (issue 15).

`Topic.involvement` is the one rule: CURRENT (the location's or owner's unit or an
ancestor of either, the holder, a co-organiser, a task handler, the pending
target) reads and takes part; ENDED (a former holder, a unit that returned a
transfer, the location and owner of a topic merged into this one) reads only;
None cannot see the topic at all. The read model's `topic_visibility` rows, built
by `projections.topics` from the same events, must say the same for every unit.
"""

from __future__ import annotations

import uuid
from typing import cast

import pytest

from domain.application import LinkageApp
from domain.clock import shown
from domain.errors import ForbiddenError, NotFoundError
from domain.topic import Involvement, Role, Topic
from domain.topic_commands import (
    AcceptTransfer,
    AddComment,
    CancelTransfer,
    DelegateTopic,
    EscalateTopic,
    InviteCoOrganizer,
    MergeTopic,
    ReturnTransfer,
)
from projections.bulk import UnitPaths
from projections.envelope import envelope
from projections.topics import replay
from tests.utils.factories import (
    COUNTY,
    COUSIN_VILLAGE,
    SIBLING_TOWNSHIP,
    SIBLING_VILLAGE,
    SMALL_HIERARCHY,
    TOWNSHIP,
    VILLAGE,
    actor,
    in_memory_app,
    later,
    small_directory,
    staff,
    submission,
)

ALL_UNITS = [r.code for r in SMALL_HIERARCHY]


@pytest.fixture
def app() -> LinkageApp:
    return in_memory_app()


def _submit(app: LinkageApp, by: str, location: str, day: float = 0) -> uuid.UUID:
    return app.submit_topic(staff(by), **submission(location), at=later(day)).topic_id


def _held_and_left(app: LinkageApp) -> uuid.UUID:
    """TOWNSHIP delegates to VILLAGE, which holds it and escalates it back."""
    tid = _submit(app, TOWNSHIP, TOWNSHIP)
    app.handle(
        staff(TOWNSHIP),
        DelegateTopic(topic_id=tid, to_unit=VILLAGE, instructions="请社区办理"),
        at=later(1),
    )
    app.handle(staff(VILLAGE), AcceptTransfer(topic_id=tid), at=later(2))
    app.handle(staff(VILLAGE), EscalateTopic(topic_id=tid, reason="需街道协调"), at=later(3))
    app.handle(staff(TOWNSHIP), AcceptTransfer(topic_id=tid), at=later(4))
    app.handle(staff(TOWNSHIP), InviteCoOrganizer(topic_id=tid, unit=SIBLING_TOWNSHIP), at=later(5))
    return tid


def _returned(app: LinkageApp) -> uuid.UUID:
    tid = _submit(app, TOWNSHIP, TOWNSHIP)
    app.handle(
        staff(TOWNSHIP),
        DelegateTopic(topic_id=tid, to_unit=SIBLING_VILLAGE, instructions="请社区办理"),
        at=later(1),
    )
    app.handle(staff(SIBLING_VILLAGE), ReturnTransfer(topic_id=tid, reason="不在辖区"), at=later(2))
    return tid


def _merged_by_its_location(app: LinkageApp) -> tuple[uuid.UUID, uuid.UUID]:
    """VILLAGE merges its topic into a COUNTY topic it sees (a merge target must be
    visible) while COUNTY's delegation of it to VILLAGE is pending; COUNTY then cancels
    the delegation, which leaves VILLAGE no involvement but the merge."""
    target = _submit(app, COUNTY, COUNTY)
    app.handle(
        staff(COUNTY),
        DelegateTopic(topic_id=target, to_unit=VILLAGE, instructions="请社区核实"),
        at=later(0.5),
    )
    source = _submit(app, VILLAGE, VILLAGE, day=1)
    app.handle(
        staff(VILLAGE),
        MergeTopic(topic_id=source, into_topic_id=target, reason="同一诉求"),
        at=later(2),
    )
    app.handle(staff(COUNTY), CancelTransfer(topic_id=target, reason="区里统筹"), at=later(2.5))
    return source, target


def _merged_by_its_holder(app: LinkageApp) -> tuple[uuid.UUID, uuid.UUID]:
    """A topic of SIBLING_VILLAGE escalated to TOWNSHIP, merged by TOWNSHIP into a
    county topic located at TOWNSHIP."""
    target = _submit(app, COUNTY, TOWNSHIP)
    source = _submit(app, SIBLING_VILLAGE, SIBLING_VILLAGE, day=1)
    app.handle(staff(SIBLING_VILLAGE), EscalateTopic(topic_id=source, reason="需街道"), at=later(2))
    app.handle(staff(TOWNSHIP), AcceptTransfer(topic_id=source), at=later(3))
    app.handle(
        staff(TOWNSHIP),
        MergeTopic(topic_id=source, into_topic_id=target, reason="同属一片"),
        at=later(4),
    )
    return source, target


def _involvement(app: LinkageApp, tid: uuid.UUID) -> dict[str, Involvement | None]:
    topic = app.get_topic(tid)
    return {unit: topic.involvement(unit, app.units) for unit in ALL_UNITS}


def _ended(app: LinkageApp, tid: uuid.UUID) -> set[str]:
    return {u for u, i in _involvement(app, tid).items() if i == Involvement.ENDED}


def test_a_former_holder_reads_but_no_longer_comments(app: LinkageApp) -> None:
    tid = _held_and_left(app)
    assert _ended(app, tid) == {VILLAGE}
    assert app.visible_topic(staff(VILLAGE), tid).id == tid
    with pytest.raises(ForbiddenError) as refused:
        app.handle(staff(VILLAGE), AddComment(topic_id=tid, text="社区继续配合"), at=later(6))
    assert refused.value.rule == "INVOLVEMENT_ENDED"
    message = refused.value.message
    assert message.startswith(f"{VILLAGE} may read topic {tid} but may no longer comment")
    assert f"moved on to {TOWNSHIP} (TransferAccepted, {shown(later(4))})" in message
    assert app.get_topic(tid).comments == 0


def test_a_current_co_organiser_and_the_holders_ancestors_still_comment(app: LinkageApp) -> None:
    tid = _held_and_left(app)
    for unit in (SIBLING_TOWNSHIP, TOWNSHIP, COUNTY):
        assert _involvement(app, tid)[unit] == Involvement.CURRENT
        app.handle(staff(unit), AddComment(topic_id=tid, text="配合办理"), at=later(6))
    assert app.get_topic(tid).comments == 3


def test_a_unit_that_returned_a_transfer_keeps_read_only_sight(app: LinkageApp) -> None:
    tid = _returned(app)
    assert _ended(app, tid) == {SIBLING_VILLAGE}
    with pytest.raises(ForbiddenError) as refused:
        app.handle(staff(SIBLING_VILLAGE), AddComment(topic_id=tid, text="留言"), at=later(3))
    assert refused.value.rule == "INVOLVEMENT_ENDED"
    assert "returned the delegation from 620102001 (TransferReturned" in refused.value.message


def test_the_role_is_checked_before_the_ended_involvement(app: LinkageApp) -> None:
    tid = _returned(app)
    with pytest.raises(ForbiddenError) as refused:
        app.handle(
            actor(SIBLING_VILLAGE, Role.AUDITOR), AddComment(topic_id=tid, text="留言"), at=later(3)
        )
    assert refused.value.rule == "ROLE_NOT_PERMITTED"


def test_a_unit_never_involved_is_answered_as_for_a_missing_topic(app: LinkageApp) -> None:
    tid = _returned(app)
    assert _involvement(app, tid)[COUSIN_VILLAGE] is None
    with pytest.raises(NotFoundError) as refused:
        app.handle(staff(COUSIN_VILLAGE), AddComment(topic_id=tid, text="留言"), at=later(3))
    assert (refused.value.rule, refused.value.message) == (
        "TOPIC_NOT_FOUND",
        f"topic {tid} does not exist",
    )


def test_a_village_that_merged_its_topic_keeps_read_only_sight_of_the_target(
    app: LinkageApp,
) -> None:
    source, target = _merged_by_its_location(app)
    assert _ended(app, target) == {VILLAGE}
    assert _involvement(app, target)[SIBLING_VILLAGE] is None
    with pytest.raises(ForbiddenError) as refused:
        app.handle(staff(VILLAGE), AddComment(topic_id=target, text="留言"), at=later(3))
    assert refused.value.rule == "INVOLVEMENT_ENDED"
    assert f"its topic {source} was merged into this one (TopicAbsorbed" in refused.value.message


def test_the_merged_topics_location_and_owner_both_keep_sight_of_the_target(
    app: LinkageApp,
) -> None:
    _, target = _merged_by_its_holder(app)
    assert app.history(target)[-1].data["merged_location"] == SIBLING_VILLAGE
    involvement = _involvement(app, target)
    assert involvement[TOWNSHIP] == Involvement.CURRENT  # the target is located there
    assert _ended(app, target) == {SIBLING_VILLAGE}
    assert involvement[VILLAGE] is None


def test_an_absorption_recorded_before_the_location_was_carried_names_the_owner_only(
    app: LinkageApp,
) -> None:
    """An event is rebuilt from its stored fields: a TopicAbsorbed stored before
    `merged_location` existed lacks it, and both sides fall back to the merging
    owner (the actor) alone. TOWNSHIP sees the COUNTY target while COUNTY's delegation
    to it is pending (a merge target must be visible); COUNTY then cancels it, which
    leaves TOWNSHIP no involvement but the absorption."""
    target = _submit(app, COUNTY, COUNTY)
    app.handle(
        staff(COUNTY),
        DelegateTopic(topic_id=target, to_unit=TOWNSHIP, instructions="请街道办理"),
        at=later(0.5),
    )
    source = _submit(app, SIBLING_VILLAGE, SIBLING_VILLAGE, day=1)
    app.handle(staff(SIBLING_VILLAGE), EscalateTopic(topic_id=source, reason="需街道"), at=later(2))
    app.handle(staff(TOWNSHIP), AcceptTransfer(topic_id=source), at=later(3))
    app.handle(
        staff(TOWNSHIP),
        MergeTopic(topic_id=source, into_topic_id=target, reason="同属一片"),
        at=later(4),
    )
    app.handle(staff(COUNTY), CancelTransfer(topic_id=target, reason="区里统筹"), at=later(5))
    assert _ended(app, target) == {TOWNSHIP, SIBLING_VILLAGE}

    events = cast(list[Topic.Event], list(app.events.get(target)))
    at = next(i for i, e in enumerate(events) if type(e).__name__ == "TopicAbsorbed")
    absorbed = events[at]
    old = object.__new__(type(absorbed))
    stored = {k: v for k, v in vars(absorbed).items() if k != "merged_location"}
    object.__setattr__(old, "__dict__", stored)
    events[at] = old
    topic: Topic | None = None
    for event in events:
        topic = event.mutate(topic)
    assert topic is not None
    ended = {u for u in ALL_UNITS if topic.involvement(u, app.units) == Involvement.ENDED}
    assert ended == {TOWNSHIP}
    summary = replay([envelope(e, i + 1) for i, e in enumerate(events)], app.units)
    assert summary is not None
    rows = summary.visibility(UnitPaths(small_directory()))
    assert {u for u, _, kind, _, _ in rows if kind == "E"} == {TOWNSHIP}


@pytest.mark.parametrize(
    "build", [_held_and_left, _returned, _merged_by_its_location, _merged_by_its_holder]
)
def test_the_read_models_visibility_rows_say_what_the_domain_says(build: object) -> None:
    app = in_memory_app()
    built = build(app)  # type: ignore[operator]
    tids = list(built) if isinstance(built, tuple) else [built]
    places = UnitPaths(small_directory())
    for tid in tids:
        events = app.events.get(tid)
        summary = replay([envelope(e, i + 1) for i, e in enumerate(events)], app.units)
        assert summary is not None
        kinds: dict[str, set[str]] = {}
        for unit, _, kind, _, _ in summary.visibility(places):
            kinds.setdefault(unit, set()).add(kind)
        for unit, involvement in _involvement(app, tid).items():
            seen = kinds.get(unit, set())
            if involvement == Involvement.CURRENT:
                assert seen & {"S", "I"}, (unit, seen)
            elif involvement == Involvement.ENDED:
                assert seen == {"E"}, (unit, seen)
            else:
                assert not seen, (unit, seen)
