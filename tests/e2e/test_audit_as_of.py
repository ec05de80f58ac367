"""`topic(asOf)` over real HTTP at every instant of a long six-step topic: at each
event, between each two, before it existed (null) and after its close — each answer
equal to the topic rebuilt by the domain from the events up to then."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.entry.demo import run_scenario
from domain.application import LinkageApp
from tests.e2e.conftest import Live
from tests.integration.test_audit_asof import instants
from tests.utils.factories import COUNTY, VILLAGE
from tests.utils.graphql import GraphQLSession

AS_OF = """
query($t: ID!, $at: DateTime!) { topic(id: $t, asOf: $at) {
  version stage asOf owner { code } route { unit { code } via }
  pendingTransfer { kind toUnit { code } }
  coOrganizers { code }
  tasks { taskId status supervisions }
  meetings { meetingId recommendations }
  feedback returnVisits { satisfaction }
  timeline(first: 100) { totalCount edges { node { version } } }
} }
"""


def expected(app: LinkageApp, topic_id: Any, version: int) -> dict[str, Any]:
    """The topic as the domain aggregate stands at `version`, in the query's shape."""
    t = app.get_topic(topic_id, version=version)
    return {
        "version": t.version,
        "stage": t.stage.value,
        "owner": {"code": t.owner},
        "route": [
            {"unit": {"code": h.unit}, "via": None if h.via is None else str(h.via)}
            for h in t.route
        ],
        "pendingTransfer": None
        if t.pending is None
        else {"kind": str(t.pending.kind), "toUnit": {"code": t.pending.to_unit}},
        "coOrganizers": [{"code": c} for c in t.co_organizers],
        "tasks": [
            {"taskId": k, "status": str(task.status), "supervisions": task.supervisions}
            for k, task in t.tasks.items()
        ],
        "meetings": [
            {"meetingId": k, "recommendations": list(m.recommendations)}
            for k, m in t.meetings.items()
        ],
        "feedback": t.feedback,
        "returnVisits": [{"satisfaction": str(v.satisfaction)} for v in t.return_visits],
    }


def test_as_of_at_every_instant_equals_the_events_applied_up_to_then(live: Live) -> None:
    app = live.server.state.runtime.app
    tid = run_scenario(app)
    events = list(app.events_of(tid))
    assert len(events) >= 20
    times = [e.timestamp for e in events]
    live.server.state.runtime.projections.wait_for(app.head_position(), timeout=30)

    with (
        GraphQLSession(live.url, live.headers(VILLAGE)) as village,
        GraphQLSession(live.url, live.headers(COUNTY, "AUDITOR")) as auditor,
    ):
        for at in instants(times):
            version = sum(1 for when in times if when <= at)
            for session in (village, auditor):
                topic = session.run(AS_OF, t=str(tid), at=at.isoformat())["topic"]
                if version == 0:
                    assert topic is None, at
                    continue
                timeline = topic.pop("timeline")
                assert topic.pop("asOf") is not None
                assert topic == expected(app, tid, version), (at, version)
                assert timeline["totalCount"] == version
                assert [e["node"]["version"] for e in timeline["edges"]] == list(
                    range(1, version + 1)
                )
        # an instant given in China time is the same instant
        china = (times[3] + timedelta(hours=8)).replace(tzinfo=None).isoformat() + "+08:00"
        assert village.run(AS_OF, t=str(tid), at=china)["topic"]["version"] == sum(
            1 for when in times if when <= times[3]
        )
