"""The topic application on real PostgreSQL: the six steps, history, as-of, positions."""

from __future__ import annotations

from datetime import timedelta

from api.entry.demo import COUNTY, TOWNSHIP, VILLAGE, run_scenario
from domain.topic import Stage
from domain.topic_commands import AcceptTransfer, EscalateTopic
from infra.bootstrap import Runtime
from tests.utils.factories import START, later, staff, submission


def test_the_demo_scenario_runs_the_six_steps_across_three_levels(small_runtime: Runtime) -> None:
    app = small_runtime.app
    topic_id = run_scenario(app, now=START + timedelta(days=40))

    topic = app.get_topic(topic_id)
    assert topic.stage == Stage.CLOSED
    assert [hop.unit for hop in topic.route] == [VILLAGE, TOWNSHIP, COUNTY]
    types = [e.type for e in app.history(topic_id)]
    assert types[:5] == [
        "TopicSubmitted",
        "EscalationRequested",
        "TransferAccepted",
        "EscalationRequested",
        "TransferAccepted",
    ]
    assert types[-1] == "TopicClosed"
    assert {"DeliberationHeld", "TaskCompleted", "FeedbackGiven", "ReturnVisitRecorded"} <= set(
        types
    )


def test_stored_events_replay_to_the_same_state_and_positions_increase(
    small_runtime: Runtime,
) -> None:
    app = small_runtime.app
    first = app.submit_topic(staff(VILLAGE), **submission(), at=START)
    second = app.handle(
        staff(VILLAGE), EscalateTopic(topic_id=first.topic_id, reason="需上级协调"), at=later(1)
    )
    third = app.handle(staff(TOWNSHIP), AcceptTransfer(topic_id=first.topic_id), at=later(2))

    assert first.position < second.position < third.position
    assert third.version == 3
    assert app.get_topic(first.topic_id).state() == app.get_topic(first.topic_id).state()
    as_of = app.topic_as_of(first.topic_id, later(1.5))
    assert as_of is not None
    assert as_of.owner == VILLAGE
    assert as_of.pending is not None
    assert as_of.pending.to_unit == TOWNSHIP
    assert app.topic_as_of(first.topic_id, START - timedelta(seconds=1)) is None


def test_chinese_text_and_actor_survive_the_round_trip_through_postgres(
    small_runtime: Runtime,
) -> None:
    app = small_runtime.app
    result = app.submit_topic(
        staff(VILLAGE), **submission(title="垃圾分类点位设置不合理"), at=START
    )

    entry = app.history(result.topic_id)[0]

    assert entry.data["title"] == "垃圾分类点位设置不合理"
    assert entry.actor == {"user_id": f"staff-{VILLAGE}", "unit": VILLAGE, "role": "STAFF"}
    assert entry.occurred_at == START
    assert entry.occurred_at.utcoffset() == timedelta(0)
