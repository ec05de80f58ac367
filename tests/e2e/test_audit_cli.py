"""`linkage audit history` and `linkage audit export` as an operator runs them: real
processes on a real PostgreSQL holding the six-step scenario, a township renamed
after it, a topic handled after the rename and a topic in a sibling county."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from api.entry.demo import run_scenario
from domain.topic_commands import AcceptTransfer, EscalateTopic
from infra.bootstrap import Runtime
from infra.database import Database
from projections.audit import EXPORT_COLUMNS, HISTORY_COLUMNS
from tests.utils.factories import (
    COUNTY,
    FAR_VILLAGE,
    SMALL_HIERARCHY,
    TOWNSHIP,
    VILLAGE,
    staff,
    submission,
)
from tests.utils.units import load_units

OLD_NAME, NEW_NAME = "酒泉路街道", "酒泉路新街道"
CHINA = ZoneInfo("Asia/Shanghai")
PHONE = "13800000000"


@dataclass
class Store:
    database: Database
    home: Path
    scenario: uuid.UUID  # closed before the rename
    later: uuid.UUID  # handled by the township after the rename
    far: uuid.UUID  # in the sibling county
    times: list[datetime]  # the scenario's event times
    renamed_at: datetime

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "LINKAGE_DATABASE_URL": self.database.conninfo_url,
            "LINKAGE_HOME": str(self.home),
            "LINKAGE_SECRET": "a-test-signing-secret-of-32-chars-or-more",
            **extra,
        }
        return subprocess.run(
            [sys.executable, "-m", "api.entry.cli", "audit", *args],
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=300,
            check=False,
        )

    def ok(self, *args: str, **extra: str) -> str:
        done = self.run(*args, **extra)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        return done.stdout

    def refused(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 1, done.stdout
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("linkage: error: ")
        return lines[0]


@pytest.fixture
def store(small_runtime: Runtime, database: Database, tmp_path: Path) -> Store:
    app = small_runtime.app
    tid = run_scenario(app)
    times = [e.timestamp for e in app.events_of(tid)]
    renamed = [replace(r, name=NEW_NAME) if r.code == TOWNSHIP else r for r in SMALL_HIERARCHY]
    load_units(small_runtime, renamed)
    renamed_at = datetime.now(UTC)  # after the rename, before anything that follows
    later = app.submit_topic(
        staff(VILLAGE), **submission(submitter={"name": "张三", "phone": PHONE})
    ).topic_id
    app.handle(staff(VILLAGE), EscalateTopic(topic_id=later, reason="社区无力解决"))
    app.handle(staff(TOWNSHIP), AcceptTransfer(topic_id=later, note="街道受理"))
    far = app.submit_topic(staff(FAR_VILLAGE), **submission(FAR_VILLAGE)).topic_id
    return Store(database, tmp_path / "home", tid, later, far, times, renamed_at)


def test_history_in_text_json_and_csv(store: Store) -> None:
    text = store.ok("history", str(store.scenario))
    assert f"decision history (决策记录, {len(store.times)} events)" in text
    assert "申请上交(EscalationRequested)" in text
    assert "涉及区级供水管网改造和资金，街道层面无法解决" in text
    assert f"{OLD_NAME}({TOWNSHIP}) 工作人员 chen.jing" in text  # named as it was then
    submitted = store.times[0].astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    assert f"v1   {submitted}+08:00  提交议题(TopicSubmitted)" in text  # China time
    assert NEW_NAME not in text

    document = json.loads(store.ok("history", str(store.scenario), "--format", "json"))
    assert document["state"] is None
    assert document["as_of"] is None
    history = document["history"]
    assert [h["version"] for h in history] == list(range(1, len(store.times) + 1))
    escalated = history[3]
    assert (escalated["type"], escalated["actor_unit"], escalated["actor_role"]) == (
        "EscalationRequested",
        TOWNSHIP,
        "STAFF",
    )
    assert escalated["actor_unit_name"] == OLD_NAME
    assert escalated["occurred_at"] == store.times[3].astimezone(CHINA).isoformat()
    assert escalated["reason"] == "涉及区级供水管网改造和资金，街道层面无法解决"

    rows = list(
        csv.DictReader(io.StringIO(store.ok("history", str(store.scenario), "--format", "csv")))
    )
    assert tuple(rows[0]) == HISTORY_COLUMNS
    assert [int(r["version"]) for r in rows] == [h["version"] for h in history]
    assert rows[3]["actor_unit_name"] == OLD_NAME

    later = json.loads(store.ok("history", str(store.later), "--format", "json"))
    accepted = later["history"][-1]
    assert (accepted["type"], accepted["actor_unit_name"]) == ("TransferAccepted", NEW_NAME)
    assert PHONE not in json.dumps(later, ensure_ascii=False)
    assert later["history"][0]["data"]["submitter"] == "(withheld: personal data)"


def test_history_as_of_shows_the_state_then_and_the_history_up_to_then(store: Store) -> None:
    # after the township escalated (v4), before the county accepted (v5)
    at = store.times[3] + (store.times[4] - store.times[3]) / 2
    document = json.loads(
        store.ok("history", str(store.scenario), "--as-of", at.isoformat(), "--format", "json")
    )
    state = document["state"]
    assert state["version"] == 4
    assert state["owner"] == {"code": TOWNSHIP, "name": OLD_NAME}
    assert state["pending_transfer"]["kind"] == "ESCALATION"
    assert state["pending_transfer"]["to"]["code"] == COUNTY
    assert [h["code"] for h in state["route"]] == [VILLAGE, TOWNSHIP]
    assert [h["version"] for h in document["history"]] == [1, 2, 3, 4]

    china = (at + timedelta(hours=8)).replace(tzinfo=None).isoformat() + "+08:00"
    text = store.ok("history", str(store.scenario), "--as-of", china)
    assert f"owner {OLD_NAME}({TOWNSHIP})" in text
    assert "pending ESCALATION to 城关区(620102)" in text
    assert f"as of {at.astimezone(CHINA).isoformat()}" in text  # the instant given, China time
    assert "decision history up to then (决策记录, 4 events)" in text

    before = store.times[0] - timedelta(seconds=1)
    early = json.loads(
        store.ok("history", str(store.scenario), "--as-of", before.isoformat(), "--format", "json")
    )
    assert (early["state"], early["history"]) == (None, [])
    assert "did not exist yet" in store.ok(
        "history", str(store.scenario), "--as-of", before.isoformat()
    )


def test_export_streams_what_the_unit_sees_with_names_as_they_were(store: Store) -> None:
    out = store.home.parent / "export.jsonl"
    done = store.run("export", "--unit", COUNTY, "--format", "jsonl", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert (
        f"exported {len(store.times) + 3} events of 2 topics seen by unit {COUNTY}" in done.stderr
    )
    text = out.read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines()]
    assert {r["topic_id"] for r in rows} == {str(store.scenario), str(store.later)}
    assert str(store.far) not in text  # the sibling county's topic
    assert PHONE not in text
    assert "张三" not in text
    township = [r for r in rows if r["actor_unit"] == TOWNSHIP]
    assert township
    for row in township:
        renamed = datetime.fromisoformat(row["occurred_at"]) > store.renamed_at
        assert row["actor_unit_name"] == (NEW_NAME if renamed else OLD_NAME), row
    assert {r["actor_unit_name"] for r in township} == {OLD_NAME, NEW_NAME}
    assert [(r["topic_id"], r["version"]) for r in rows] == sorted(
        (r["topic_id"], r["version"]) for r in rows
    )

    table = list(
        csv.DictReader(io.StringIO(store.ok("export", "--unit", COUNTY, "--format", "csv")))
    )
    assert tuple(table[0]) == EXPORT_COLUMNS
    assert [(r["topic_id"], int(r["version"]), r["actor_unit_name"]) for r in table] == [
        (r["topic_id"], r["version"], r["actor_unit_name"]) for r in rows
    ]

    lo, hi = store.times[5], store.times[12]
    window = [
        json.loads(line)
        for line in store.ok(
            "export", "--unit", COUNTY, "--format", "jsonl",
            "--from", lo.isoformat(), "--to", hi.isoformat(),
        ).splitlines()
    ]  # fmt: skip
    expected = [v for v, t in enumerate(store.times, start=1) if lo <= t < hi]
    assert [r["version"] for r in window] == expected

    village = store.ok("export", "--unit", FAR_VILLAGE, "--format", "jsonl")
    assert [json.loads(line)["topic_id"] for line in village.splitlines()] == [str(store.far)]


def test_bad_input_is_one_line_naming_the_rule(store: Store) -> None:
    unknown = str(uuid.uuid4())
    assert "TOPIC_NOT_FOUND" in store.refused("history", unknown)
    assert unknown in store.refused("history", unknown, "--format", "json")
    naive = store.refused("history", str(store.scenario), "--as-of", "2026-03-01T08:00")
    assert "TIME_WITHOUT_OFFSET" in naive
    assert "2026-03-01T08:00" in naive
    for bad in ("yesterday", "2026/11/05", "2026-02-30", "2026-11-05+25:00", "05.11.2026"):
        refused = store.refused("history", str(store.scenario), "--as-of", bad)
        assert "INVALID_TIME" in refused, bad
        assert bad in refused
    for refused in (
        naive,
        store.refused("export", "--unit", COUNTY, "--from", "x", "--format", "csv"),
    ):
        # in Chinese, naming every form the hint shows, each of which is accepted
        assert "2026-11-05T10:00+08:00（时刻" in refused
        assert "2026-11-05+08:00（日期，带偏移）" in refused
        assert "2026-11-05（日期，按显示时区 Asia/Shanghai）" in refused
    assert "INVALID_FORMAT" in store.refused("history", str(store.scenario), "--format", "xml")
    assert "UNIT_NOT_FOUND" in store.refused("export", "--unit", "629999", "--format", "csv")
    inverted = store.refused(
        "export", "--unit", COUNTY, "--format", "csv",
        "--from", "2026-03-02T00:00+08:00", "--to", "2026-03-01T00:00+08:00",
    )  # fmt: skip
    assert "DATE_RANGE_INVERTED" in inverted
    assert "OUTPUT_NOT_WRITABLE" in store.refused(
        "export", "--unit", COUNTY, "--format", "csv", "--output", "/nonexistent/dir/x.csv"
    )


def test_dates_are_accepted_as_the_hints_show_them_in_the_display_zone(store: Store) -> None:
    def window(*bounds: str, **env: str) -> list[tuple[str, int]]:
        out = store.ok("export", "--unit", COUNTY, "--format", "jsonl", *bounds, **env)
        return [(r["topic_id"], r["version"]) for r in map(json.loads, out.splitlines())]

    every = [json.loads(line) for line in store.ok(
        "export", "--unit", COUNTY, "--format", "jsonl").splitlines()]  # fmt: skip
    first, last = store.times[5].astimezone(CHINA).date(), store.times[12].astimezone(CHINA).date()

    def expected(zone: ZoneInfo) -> list[tuple[str, int]]:
        lo = datetime.combine(first, time(0), tzinfo=zone)
        hi = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)  # --to a day: its end
        return [
            (r["topic_id"], r["version"])
            for r in every
            if lo <= datetime.fromisoformat(r["occurred_at"]) < hi
        ]

    days = ("--from", first.isoformat(), "--to", last.isoformat())
    with_offset = ("--from", f"{first}+08:00", "--to", f"{last}+08:00")  # the hint's own form
    assert window(*days) == window(*with_offset) == expected(CHINA)
    assert 0 < len(expected(CHINA)) < len(every)
    utc = ZoneInfo("UTC")
    assert window(*days, LINKAGE_TIMEZONE="UTC") == expected(utc)  # the days of the setting

    # the history's own times follow the setting too
    text = store.ok("history", str(store.scenario), LINKAGE_TIMEZONE="UTC")
    assert store.times[0].astimezone(utc).strftime("v1   %Y-%m-%d %H:%M+00:00") in text
    # --as-of a day: the state at the end of that day
    day = store.times[3].astimezone(CHINA).date()
    at_day = json.loads(
        store.ok("history", str(store.scenario), "--as-of", day.isoformat(), "--format", "json")
    )
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA)
    assert at_day["history"][-1]["version"] == sum(1 for t in store.times if t < end)
