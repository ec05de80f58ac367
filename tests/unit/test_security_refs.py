"""References, merge targets, unit codes, invisible text and retry pauses (issue 15,
items 1, 3, 9, 12 and 19) on the in-memory store."""

from __future__ import annotations

import uuid
from typing import cast

import pytest

from domain.access import may_read_topic
from domain.application import (
    COMMAND_ATTEMPTS,
    RETRY_BASE_SECONDS,
    RETRY_BUDGET_SECONDS,
    RETRY_CAP_SECONDS,
    LinkageApp,
    Submission,
    retry_attempts,
)
from domain.errors import BadInputError, ConflictError, NotFoundError, RuleViolationError
from domain.topic import Role, check_text, external_ref_id
from domain.topic_commands import AddComment, InviteCoOrganizer, MergeTopic, TakeOverTopic
from domain.units import Level, UnitRecord
from tests.utils.factories import (
    COUNTY,
    SIBLING_TOWNSHIP,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    actor,
    in_memory_app,
    later,
    leader,
    small_directory,
    staff,
    submission,
)

REF = "12345-20261201-000731"
RETIRED = "620102002099"  # a retired village of SIBLING_TOWNSHIP
RETIRED_NAME = "已撤并的陇西路二社区"


@pytest.fixture
def app() -> LinkageApp:
    return in_memory_app()


# -- item 1: a reference is unique per submitting unit --------------------------------------


def test_the_reference_key_is_the_reference_and_the_submitting_unit() -> None:
    assert external_ref_id(REF, VILLAGE) == external_ref_id(REF, VILLAGE)
    assert external_ref_id(REF, VILLAGE) != external_ref_id(REF, SIBLING_VILLAGE)
    # the separator keeps (unit, reference) pairs apart that would concatenate alike
    assert external_ref_id("1" + REF, "62") != external_ref_id(REF, "621")


def test_another_units_reference_is_a_new_topic_and_blocks_nothing(app: LinkageApp) -> None:
    squatted = app.submit_topic(
        actor(SIBLING_VILLAGE, Role.INTAKE), **submission(SIBLING_VILLAGE, external_ref=REF)
    )
    real = app.submit_topic(actor(VILLAGE, Role.INTAKE), **submission(external_ref=REF))
    assert not squatted.duplicate
    assert not real.duplicate
    assert real.topic_id != squatted.topic_id
    assert app.get_topic(real.topic_id).location == VILLAGE


def test_a_batch_answers_duplicates_per_unit_even_within_one_batch(app: LinkageApp) -> None:
    first = app.submit_topic(staff(VILLAGE), **submission(external_ref=REF)).topic_id
    items = [
        cast(Submission, submission(SIBLING_VILLAGE, external_ref=REF)),
        cast(Submission, submission(SIBLING_VILLAGE, external_ref=REF)),
    ]
    outcomes = app.submit_topics(staff(SIBLING_VILLAGE), items).outcomes
    assert [(o.duplicate, o.error) for o in outcomes] == [(False, None), (True, None)]
    assert outcomes[0].topic_id == outcomes[1].topic_id != first


def _moved_away() -> tuple[LinkageApp, uuid.UUID]:
    """TOWNSHIP submitted REF for VILLAGE; the hierarchy then moved VILLAGE under
    SIBLING_TOWNSHIP, so TOWNSHIP no longer sees that topic."""
    units = small_directory()
    app = in_memory_app(units)
    tid = app.submit_topic(staff(TOWNSHIP), **submission(external_ref=REF), at=later(0)).topic_id
    moved = units.get(VILLAGE)
    assert moved is not None
    units.apply([UnitRecord(VILLAGE, moved.name, Level.VILLAGE, SIBLING_TOWNSHIP)])
    assert not may_read_topic(TOWNSHIP, app.get_topic(tid), app.units)
    return app, tid


def test_a_recorded_reference_of_a_topic_out_of_sight_is_refused_naming_nothing() -> None:
    app, tid = _moved_away()
    head = app.head_position()
    with pytest.raises(ConflictError) as refused:
        app.submit_topic(staff(TOWNSHIP), **submission(TOWNSHIP, external_ref=REF), at=later(1))
    assert refused.value.rule == "EXTERNAL_REF_USED"
    assert REF in refused.value.message
    for secret in (str(tid), VILLAGE, submission()["title"]):
        assert secret not in refused.value.message
    assert app.head_position() == head


def test_a_batch_item_with_a_reference_of_a_topic_out_of_sight_is_refused_alone() -> None:
    app, tid = _moved_away()
    items = [
        cast(Submission, submission(TOWNSHIP, external_ref=REF)),
        cast(Submission, submission(TOWNSHIP, external_ref="other")),
    ]
    hidden, fresh = app.submit_topics(staff(TOWNSHIP), items).outcomes
    assert hidden.topic_id is None
    assert isinstance(hidden.error, ConflictError)
    assert hidden.error.rule == "EXTERNAL_REF_USED"
    assert str(tid) not in hidden.error.message
    assert fresh.error is None
    assert fresh.topic_id is not None


# -- item 3: a merge target must be visible -------------------------------------------------


def test_a_hidden_target_held_by_an_ancestor_reads_as_a_missing_topic(app: LinkageApp) -> None:
    target = app.submit_topic(staff(COUNTY), **submission(SIBLING_TOWNSHIP)).topic_id
    app.handle(leader(COUNTY), TakeOverTopic(topic_id=target, reason="区里统筹"))
    assert app.get_topic(target).owner == COUNTY  # held by VILLAGE's ancestor, out of its sight
    source = app.submit_topic(staff(VILLAGE), **submission()).topic_id
    head, missing = app.head_position(), uuid.uuid4()

    with pytest.raises(NotFoundError) as hidden:
        app.handle(
            staff(VILLAGE), MergeTopic(topic_id=source, into_topic_id=target, reason="同一诉求")
        )
    with pytest.raises(NotFoundError) as unknown:
        app.handle(
            staff(VILLAGE), MergeTopic(topic_id=source, into_topic_id=missing, reason="同一诉求")
        )

    assert hidden.value.rule == unknown.value.rule == "TOPIC_NOT_FOUND"
    assert hidden.value.message.replace(str(target), "?") == unknown.value.message.replace(
        str(missing), "?"
    )
    assert app.head_position() == head


# -- item 12: unit codes ---------------------------------------------------------------------


def _with_retired() -> LinkageApp:
    units = small_directory()
    units.apply(
        [UnitRecord(RETIRED, RETIRED_NAME, Level.VILLAGE, SIBLING_TOWNSHIP)], retired=[RETIRED]
    )
    return in_memory_app(units)


def test_a_retired_unit_is_named_only_to_a_caller_who_may_see_it() -> None:
    app = _with_retired()
    mine = app.submit_topic(staff(SIBLING_TOWNSHIP), **submission(SIBLING_TOWNSHIP)).topic_id
    theirs = app.submit_topic(staff(VILLAGE), **submission()).topic_id

    with pytest.raises(RuleViolationError) as seen:
        app.handle(staff(SIBLING_TOWNSHIP), InviteCoOrganizer(topic_id=mine, unit=RETIRED))
    with pytest.raises(RuleViolationError) as unseen:
        app.handle(staff(VILLAGE), InviteCoOrganizer(topic_id=theirs, unit=RETIRED))

    assert seen.value.rule == unseen.value.rule == "UNIT_RETIRED"
    assert RETIRED_NAME in seen.value.message
    assert RETIRED in unseen.value.message
    assert RETIRED_NAME not in unseen.value.message


def test_a_retired_location_outside_the_area_reads_as_an_unknown_code() -> None:
    app = _with_retired()
    with pytest.raises(NotFoundError) as outside:
        app.submit_topic(staff(VILLAGE), **submission(RETIRED))
    assert outside.value.rule == "UNIT_NOT_FOUND"
    assert RETIRED_NAME not in outside.value.message
    with pytest.raises(RuleViolationError) as inside:
        app.submit_topic(staff(SIBLING_TOWNSHIP), **submission(RETIRED))
    assert inside.value.rule == "UNIT_RETIRED"
    assert RETIRED_NAME in inside.value.message


# -- item 19: invisible characters ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200b \u3000\u00a0\u200e", "\u3164"],
    ids=lambda t: "+".join(f"U{ord(c):04X}" for c in t),
)
def test_text_of_only_invisible_characters_is_blank_in_every_field(text: str) -> None:
    with pytest.raises(BadInputError) as refused:
        check_text(text, "title")
    assert (refused.value.rule, refused.value.message) == (
        "FIELD_REQUIRED",
        "title must not be blank",
    )
    assert check_text(text, "note", required=False) == ""


def test_a_comment_of_zero_width_spaces_is_refused_and_visible_text_keeps_them(
    app: LinkageApp,
) -> None:
    tid = app.submit_topic(staff(VILLAGE), **submission()).topic_id
    with pytest.raises(BadInputError) as refused:
        app.handle(staff(VILLAGE), AddComment(topic_id=tid, text="\u200b\u200b"))
    assert refused.value.rule == "FIELD_REQUIRED"
    assert check_text("路灯\u200b不亮", "title") == "路灯\u200b不亮"


# -- item 9: retries back off --------------------------------------------------------------


def test_retries_pause_with_growing_jitter_within_the_attempt_and_time_budget() -> None:
    pauses: list[float] = []
    attempts = list(retry_attempts(sleep=pauses.append))
    assert attempts == list(range(COMMAND_ATTEMPTS))
    assert len(pauses) <= COMMAND_ATTEMPTS - 1
    assert sum(pauses) <= RETRY_BUDGET_SECONDS
    for attempt, pause in enumerate(pauses, start=1):
        assert 0 < pause <= min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**attempt)
    assert COMMAND_ATTEMPTS >= 30
    assert RETRY_BUDGET_SECONDS <= 4


def test_the_pauses_stop_at_the_budget() -> None:
    pauses: list[float] = []
    assert len(list(retry_attempts(attempts=100, budget=0.5, sleep=pauses.append))) == 100
    assert sum(pauses) == pytest.approx(0.5)
