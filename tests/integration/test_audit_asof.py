"""The time → version index of `asOf`: the timeline read model finds the version at an
instant, and the store's tail decides wherever the timeline lags (or is empty); the
export's pages of topics."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from api.entry.demo import run_scenario
from infra.bootstrap import Runtime
from projections import audit
from projections.audit import UnitNames, count_topics, events_as_of, export_rows, export_window
from projections.envelope import Envelope
from projections.timeline import TimelineView
from tests.utils.factories import COUNTY, SIBLING_VILLAGE, staff, submission
from tests.utils.projecting import stored_envelopes


def instants(times: list[datetime]) -> list[datetime]:
    """Before the first event, at each event, between each two, after the last."""
    result = [times[0] - timedelta(seconds=1)]
    for earlier, later in zip(times, [*times[1:], times[-1] + timedelta(days=1)], strict=True):
        result += [earlier, earlier + (later - earlier) / 2]
    return result


@pytest.fixture
def scenario(small_runtime: Runtime) -> tuple[uuid.UUID, list[Envelope]]:
    tid = run_scenario(small_runtime.app)
    return tid, [e for e in stored_envelopes(small_runtime) if e.topic_id == str(tid)]


@pytest.mark.parametrize("indexed", [0, 1, 7, 15, -1], ids=lambda n: f"indexed-{n}")
def test_the_version_at_every_instant_is_right_however_far_the_timeline_lags(
    small_runtime: Runtime, scenario: tuple[uuid.UUID, list[Envelope]], indexed: int
) -> None:
    tid, events = scenario
    assert len(events) >= 20
    view = TimelineView(small_runtime.database.datastore(), small_runtime.units)
    view.create_table()
    fed = events if indexed == -1 else events[:indexed]
    with view.datastore.transaction(commit=True) as curs:
        view.apply(curs, fed)

    with small_runtime.database.connect() as conn:
        for at in instants([e.occurred_at for e in events]):
            found = events_as_of(conn, small_runtime.app, tid, at)
            expected = [e.version for e in events if e.occurred_at <= at]
            assert [e.originator_version for e in found] == expected, (at, indexed)
    view.datastore.close()


def test_a_gap_in_the_timeline_is_not_trusted(
    small_runtime: Runtime, scenario: tuple[uuid.UUID, list[Envelope]]
) -> None:
    tid, events = scenario
    view = TimelineView(small_runtime.database.datastore(), small_runtime.units)
    view.create_table()
    with view.datastore.transaction(commit=True) as curs:
        view.apply(curs, events[:10])
        view.apply(curs, events[12:14])  # versions 11 and 12 missing

    with small_runtime.database.connect() as conn:
        at = events[11].occurred_at
        found = events_as_of(conn, small_runtime.app, tid, at)
    assert [e.originator_version for e in found] == [
        e.version for e in events if e.occurred_at <= at
    ]
    view.datastore.close()


def test_an_export_in_pages_of_one_topic_equals_one_page(
    small_runtime: Runtime,
    scenario: tuple[uuid.UUID, list[Envelope]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = small_runtime.app
    for n in range(3):
        app.submit_topic(staff(SIBLING_VILLAGE), **submission(SIBLING_VILLAGE, title=f"议题{n}"))
    small_runtime.projections.catch_up()
    window = export_window(COUNTY, None, None)
    with small_runtime.database.connect() as conn:
        names = UnitNames.load(conn, app)
        assert count_topics(conn, window) == 4
        whole = list(export_rows(conn, window, names))
        monkeypatch.setattr(audit, "EXPORT_TOPICS", 1)
        pages: list[int] = []
        paged = list(export_rows(conn, window, names, pages.append))
    assert paged == whole
    assert pages == [1, 1, 1, 1]
    assert len(whole) == len(scenario[1]) + 3
    assert [(r["topic_id"], r["version"]) for r in whole] == sorted(
        (r["topic_id"], r["version"]) for r in whole
    )
