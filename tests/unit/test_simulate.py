"""The traffic simulator: deterministic for a seed, realistic in its mix, always legal."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from domain.topic import Stage, Topic, TransferKind
from domain.units import InMemoryUnitDirectory, Level
from infra.divisions import read_divisions
from infra.simulate import Simulator
from infra.units_import import GANSU
from tests.utils.factories import in_memory_app

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _gansu() -> InMemoryUnitDirectory:
    return InMemoryUnitDirectory(read_divisions(GANSU).records)


def _recorded(
    units: InMemoryUnitDirectory, seed: int, topics: int, workers: int = 0
) -> list[tuple[object, ...]]:
    """Every stored event the simulation recorded, in the order of the log."""
    app = in_memory_app(units)
    places = [
        u
        for r in units.records().values()
        if (u := units.get(r.code)) and u.level >= Level.TOWNSHIP
    ]
    report = Simulator(
        app, units, places, seed=seed, days=365, now=NOW, batch=50, workers=workers
    ).run(topics)
    log = app.recorder.select_notifications(start=1, limit=1_000_000)
    assert report.events == len(log)
    assert report.position == log[-1].id
    return [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in log]


def _run(units: InMemoryUnitDirectory, seed: int, topics: int) -> list[Topic]:
    app = in_memory_app(units)
    places = [
        u
        for r in units.records().values()
        if (u := units.get(r.code)) and u.level >= Level.TOWNSHIP
    ]
    Simulator(app, units, places, seed=seed, days=365, now=NOW, batch=50).run(topics)
    ids = {n.originator_id for n in app.recorder.select_notifications(start=1, limit=1_000_000)}
    return sorted((app.get_topic(i) for i in ids), key=lambda t: str(t.id))


def test_the_same_seed_gives_the_same_history_and_another_seed_another() -> None:
    units = _gansu()

    first = [t.state() for t in _run(units, seed=3, topics=60)]
    again = [t.state() for t in _run(units, seed=3, topics=60)]
    other = [t.state() for t in _run(units, seed=4, topics=60)]

    assert first == again
    assert first != other


def test_worker_processes_record_exactly_the_events_played_in_process() -> None:
    units = _gansu()

    here = _recorded(units, seed=8, topics=230)
    in_workers = _recorded(units, seed=8, topics=230, workers=2)

    assert len({event[1] for event in here}) == 230
    assert in_workers == here


def test_the_history_has_the_mix_of_the_field_reports() -> None:
    topics = _run(_gansu(), seed=11, topics=1500)

    stages = Counter(t.stage for t in topics)
    moved = [t for t in topics if len(t.route) > 1]
    assert stages[Stage.CLOSED] > 0.4 * len(topics)
    assert 0 < stages[Stage.DECLINED] < 0.1 * len(topics)
    assert stages[Stage.HANDLING] > 0  # still being handled, some of them overdue
    assert 0.1 * len(topics) < len(moved) < 0.5 * len(topics)
    assert any(len(t.route) > 2 for t in topics)  # escalated two levels
    assert any(t.returns for t in topics)
    assert any(h.via and h.via.value == "TAKEOVER" for t in topics for h in t.route)
    assert any(h.via and h.via.value == "DELEGATION" for t in topics for h in t.route)
    assert any(t.reopened for t in topics)
    assert any(task.supervisions for t in topics for task in t.tasks.values())
    assert any(t.overdue(NOW) for t in topics)
    verdicts = Counter(v.satisfaction.value for t in topics for v in t.return_visits)
    assert verdicts["SATISFIED"] > verdicts["BASICALLY_SATISFIED"] > verdicts["UNSATISFIED"] > 0
    assert all(t.modified_on <= NOW for t in topics)


def test_on_500_topics_each_kind_of_move_happens_in_a_sane_share() -> None:
    topics = _run(_gansu(), seed=21, topics=500)

    def share(count: int) -> float:
        return count / len(topics)

    def moved_by(kind: TransferKind) -> int:
        return sum(any(h.via == kind for h in t.route) for t in topics)

    settled_at_home = sum(len(t.route) == 1 for t in topics)
    assert 0.5 < share(settled_at_home) < 0.9  # most settle at their own level
    assert 0.05 < share(moved_by(TransferKind.ESCALATION)) < 0.3
    assert 0 < share(sum(len(t.route) > 2 for t in topics)) < 0.1  # two levels up
    assert 0 < share(moved_by(TransferKind.DELEGATION)) < 0.1
    assert 0 < share(moved_by(TransferKind.TAKEOVER)) < 0.1
    assert 0 < share(sum(t.returns > 0 for t in topics)) < 0.1
    assert 0 < share(sum(t.reopened > 0 for t in topics)) < 0.1
    assert {t.location[:2] for t in topics} == {"62"}
    assert Counter(len(t.location) for t in topics).keys() == {9, 12}  # townships, villages
