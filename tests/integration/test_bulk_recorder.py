"""Large saves go by binary COPY: same ids, same order, same lock and NOTIFY as INSERT."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from psycopg.sql import SQL, Identifier

from domain.topic import Topic
from infra.bootstrap import Runtime
from infra.recorder import COPY_MIN_EVENTS, LinkageRecorder
from tests.utils.factories import START, VILLAGE, later, staff, submission


def _topics(runtime: Runtime, count: int, first_id: uuid.UUID | None = None) -> list[Topic]:
    topics = []
    for i in range(count):
        topic = Topic.submit(
            actor=staff(VILLAGE),
            units=runtime.units,
            **submission(title=f"小区二次供水水压不足{i}"),
            at=START,
            topic_id=first_id if i == 0 else None,
        )
        topic.add_comment(staff(VILLAGE), runtime.units, "已电话联系群众核实情况", at=later(1))
        topics.append(topic)
    return topics


def _recorder(runtime: Runtime) -> LinkageRecorder:
    recorder = runtime.app.recorder
    assert isinstance(recorder, LinkageRecorder)
    return recorder


def test_a_large_save_is_copied_with_ids_that_follow_on_in_order(small_runtime: Runtime) -> None:
    app = small_runtime.app
    before = app.submit_topic(staff(VILLAGE), **submission(), at=START).position
    topics = _topics(small_runtime, COPY_MIN_EVENTS)

    recordings = app.save(*topics)

    ids = [r.notification.id for r in recordings]
    assert ids == list(range(before + 1, before + 1 + 2 * COPY_MIN_EVENTS))
    log = app.recorder.select_notifications(start=before + 1, limit=10_000)
    assert [(n.id, n.originator_id, n.originator_version) for n in log] == [
        (r.notification.id, r.domain_event.originator_id, r.domain_event.originator_version)
        for r in recordings
    ]
    read = app.get_topic(topics[7].id)
    assert read.title == "小区二次供水水压不足7"
    assert read.state() == topics[7].state()
    after = app.submit_topic(staff(VILLAGE), **submission(), at=START).position
    assert after == ids[-1] + 1


def test_a_copied_save_that_repeats_an_event_writes_nothing(small_runtime: Runtime) -> None:
    app = small_runtime.app
    taken = app.submit_topic(staff(VILLAGE), **submission(), at=START).topic_id
    head = app.head_position()
    topics = _topics(small_runtime, COPY_MIN_EVENTS, first_id=taken)

    with pytest.raises(IntegrityError):
        app.save(*topics)

    assert app.head_position() == head
    assert _recorder(small_runtime).existing_originators(t.id for t in topics) == {taken}


def test_a_copied_save_notifies_the_listeners_of_the_log(small_runtime: Runtime) -> None:
    recorder = _recorder(small_runtime)
    with psycopg.connect(small_runtime.database.conninfo, autocommit=True) as listener:
        listener.execute(SQL("LISTEN {}").format(Identifier(recorder.channel_name)))
        small_runtime.app.save(*_topics(small_runtime, COPY_MIN_EVENTS))
        notified = next(listener.notifies(timeout=5, stop_after=1), None)
    assert notified is not None
    assert notified.channel == recorder.channel_name


def test_existing_originators_answers_for_many_ids_at_once(small_runtime: Runtime) -> None:
    app = small_runtime.app
    known = app.submit_topic(staff(VILLAGE), **submission(), at=START).topic_id
    unknown = uuid.uuid4()

    assert _recorder(small_runtime).existing_originators([known, unknown, known]) == {known}
    assert _recorder(small_runtime).existing_originators([]) == set()
