"""The auditors' REST reads over real HTTP: the streamed export and a topic's history
(as of an instant), scoped to the token's subtree; other roles refused; an
auditor's commands refused."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import httpx
import pytest

from api.entry.demo import run_scenario
from projections.audit import EXPORT_COLUMNS
from tests.e2e.conftest import Live
from tests.utils.factories import (
    COUNTY,
    FAR_VILLAGE,
    PROVINCE,
    SIBLING_COUNTY,
    SMALL_HIERARCHY,
    TOWNSHIP,
    VILLAGE,
    staff,
    submission,
)
from tests.utils.units import load_units


@dataclass
class Audited:
    live: Live
    client: httpx.Client
    scenario: uuid.UUID
    far: uuid.UUID
    times: list[datetime]

    def get(self, path: str, as_unit: str, /, *roles: str, **params: str) -> httpx.Response:
        """GET with a token of `as_unit` and `roles`; `params` are the query's."""
        headers = self.live.headers(as_unit, *roles)
        return self.client.get(f"{self.live.url}/api/v1{path}", params=params, headers=headers)


@pytest.fixture
def audited(live: Live) -> Iterator[Audited]:
    runtime = live.server.state.runtime
    tid = run_scenario(runtime.app)
    far = runtime.app.submit_topic(staff(FAR_VILLAGE), **submission(FAR_VILLAGE)).topic_id
    runtime.projections.wait_for(runtime.app.head_position(), timeout=30)
    times = [e.timestamp for e in runtime.app.events_of(tid)]
    with httpx.Client(timeout=60) as client:
        yield Audited(live, client, tid, far, times)


def refusal(response: httpx.Response, status: int, rule: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["rule"] == rule, body
    detail: str = body["detail"]
    return detail


def test_an_auditor_exports_the_subtree_streamed_in_csv_and_jsonl(audited: Audited) -> None:
    jsonl = audited.get("/audit/export", COUNTY, "AUDITOR", format="jsonl")
    assert jsonl.status_code == 200, jsonl.text
    assert jsonl.headers["content-type"] == "application/x-ndjson"
    assert "content-length" not in jsonl.headers  # streamed, chunked
    rows = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [r["version"] for r in rows] == list(range(1, len(audited.times) + 1))
    assert {r["topic_id"] for r in rows} == {str(audited.scenario)}
    assert rows[3]["actor_unit_name"] == "酒泉路街道"
    assert rows[3]["actor_role"] == "STAFF"

    table = audited.get("/audit/export", COUNTY, "AUDITOR", format="csv")
    assert table.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(table.text)))
    assert tuple(parsed[0]) == EXPORT_COLUMNS
    assert [int(r["version"]) for r in parsed] == [r["version"] for r in rows]

    lo, hi = audited.times[2], audited.times[9]
    window = audited.get(
        "/audit/export",
        COUNTY,
        "AUDITOR",
        format="jsonl",
        unit=TOWNSHIP,  # a unit inside the token's subtree
        **{"from": lo.isoformat(), "to": hi.isoformat()},
    )
    versions = [json.loads(line)["version"] for line in window.text.splitlines()]
    assert versions == [v for v, t in enumerate(audited.times, start=1) if lo <= t < hi]

    # a rename after the first export: the next one still names the unit as it was
    renamed = [
        replace(r, name="酒泉路新街道") if r.code == TOWNSHIP else r for r in SMALL_HIERARCHY
    ]
    load_units(audited.live.server.state.runtime, renamed)
    again = audited.get("/audit/export", COUNTY, "AUDITOR", format="jsonl")
    assert [json.loads(line) for line in again.text.splitlines()] == rows
    history = audited.get(f"/topics/{audited.scenario}/history", COUNTY, "AUDITOR").json()
    assert history["history"][3]["actor_unit_name"] == "酒泉路街道"

    # the county's leaders too; the sibling county's topic only to its own auditors
    assert audited.get("/audit/export", COUNTY, "LEADER").status_code == 200
    far = audited.get("/audit/export", SIBLING_COUNTY, "AUDITOR")
    assert [json.loads(line)["topic_id"] for line in far.text.splitlines()] == [str(audited.far)]


def test_exports_outside_the_subtree_or_without_the_role_are_refused(audited: Audited) -> None:
    for unit in (SIBLING_COUNTY, PROVINCE, "629999"):
        detail = refusal(
            audited.get("/audit/export", COUNTY, "AUDITOR", unit=unit), 404, "UNIT_NOT_FOUND"
        )
        assert unit in detail
    for role in ("STAFF", "HANDLER", "MEMBER"):
        detail = refusal(audited.get("/audit/export", COUNTY, role), 403, "AUDIT_ROLE_REQUIRED")
        assert role in detail
    naive = audited.get("/audit/export", COUNTY, "AUDITOR", **{"from": "2026-03-01T08:00:00"})
    assert "2026-03-01T08:00:00" in refusal(naive, 400, "TIME_WITHOUT_OFFSET")
    refusal(audited.get("/audit/export", COUNTY, "AUDITOR", format="xml"), 400, "INVALID_FORMAT")
    unsigned = audited.client.get(f"{audited.live.url}/api/v1/audit/export")
    assert unsigned.status_code == 401


def test_an_auditor_reads_a_history_as_of_an_instant(audited: Audited) -> None:
    path = f"/topics/{audited.scenario}/history"
    full = audited.get(path, COUNTY, "AUDITOR")
    assert full.status_code == 200, full.text
    document = full.json()
    assert len(document["history"]) == len(audited.times)
    assert document["history"][1]["actor_unit_name"] == "畅家巷社区居委会"

    at = audited.times[3] + (audited.times[4] - audited.times[3]) / 2
    then = audited.get(path, VILLAGE, "AUDITOR", asOf=at.isoformat()).json()
    assert then["state"]["owner"] == {"code": TOWNSHIP, "name": "酒泉路街道"}
    assert then["state"]["pending_transfer"]["to"]["code"] == COUNTY
    assert [h["version"] for h in then["history"]] == [1, 2, 3, 4]
    before = audited.get(path, COUNTY, "LEADER", asOf=(audited.times[0] - timedelta(1)).isoformat())
    assert before.json()["state"] is None

    refusal(audited.get(path, SIBLING_COUNTY, "AUDITOR"), 404, "TOPIC_NOT_FOUND")
    refusal(
        audited.get(f"/topics/{uuid.uuid4()}/history", COUNTY, "AUDITOR"), 404, "TOPIC_NOT_FOUND"
    )
    refusal(audited.get(path, COUNTY, "STAFF"), 403, "AUDIT_ROLE_REQUIRED")
    refusal(
        audited.get(path, COUNTY, "AUDITOR", asOf="2026-03-01T08:00"), 400, "TIME_WITHOUT_OFFSET"
    )


def test_an_auditor_may_run_no_command(audited: Audited) -> None:
    url = f"{audited.live.url}/api/v1/topics"
    headers = audited.live.headers(COUNTY, "AUDITOR")
    comment = audited.client.post(
        f"{url}/{audited.scenario}/comments", json={"text": "审计意见"}, headers=headers
    )
    refusal(comment, 403, "ROLE_NOT_PERMITTED")
    body = {k: v for k, v in submission().items() if k != "location"} | {"locationUnit": VILLAGE}
    submit = audited.client.post(url, json=body, headers=headers)
    refusal(submit, 403, "ROLE_NOT_PERMITTED")
    graphql = audited.client.post(
        f"{audited.live.url}/graphql",
        json={"query": f'mutation {{ closeTopic(input: {{topicId: "{audited.scenario}",'
              ' summary: "x"}) { position } }'},
        headers=headers,
    )  # fmt: skip
    assert graphql.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
