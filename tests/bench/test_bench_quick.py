"""`python -m bench --quick` runs every registered measurement end to end.

A smoke test of the harness, not of performance: no figure is compared with
anything. It runs the real thing as a user would — a subprocess with its own
embedded PostgreSQL, `linkage serve`, relay and projector processes and a Tansu
broker — and checks what it leaves: the exit status, results.json and the table.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.measurements import REGISTRY

REPO = Path(__file__).resolve().parents[2]


def _run(module: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_bench_measures_everything_and_prints_the_table(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    done = _run(
        "bench", "--quick", "--output", str(output), "--home", str(tmp_path / "home"), timeout=840
    )
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(output.read_text(encoding="utf-8"))
    assert results["mode"] == "quick"
    assert {"platform", "cores", "ram_gib"} <= results["machine"].keys()
    assert len(results["load_average_start"]) == len(results["load_average_end"]) == 3
    store = results["store"]["at_end"]
    assert store["events"] >= 2_000
    assert store["topics"] > 0
    assert store["database_bytes"] > 0
    rows = {row["key"]: row for row in results["measurements"]}
    for measurement in REGISTRY:
        merged = importlib.util.find_spec(measurement.module) is not None
        for spec in measurement.rows:
            row = rows[spec.key]
            if merged:
                assert row["status"] == "ok", (spec.key, row["reason"])
                assert isinstance(row["value"], int | float), spec.key
                assert row["value"] > 0, spec.key
                assert row["unit"] == spec.unit
                assert row["met"] in (True, False, None)
            else:
                assert row["status"] == "not available", spec.key
                assert measurement.module in row["reason"]
            assert row["seconds"] >= 0
    assert rows["P1 rate"]["vs_reference"] is not None  # beside raw eventsourcing saves

    table = done.stdout[done.stdout.index("| # | what |") :]
    for key in rows:
        assert f"| {key} |" in table
    assert "load average at start" in done.stdout

    # issue 7's scale check runs against a store that exists: this one
    scale = tmp_path / "scale.json"
    done = _run(
        "bench.scale",
        "--home",
        str(tmp_path / "home"),
        "--clients",
        "2",
        "--seconds",
        "2",
        "--reads",
        "3",
        "--output",
        str(scale),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(scale.read_text(encoding="utf-8"))
    size = found["size"]
    assert size["topics"] == found["api"]["store"]["topics"] > 0
    assert size["pgdata_bytes"] > size["database_bytes"] > size["event store bytes"] > 0
    assert size["hash chain bytes"] > 0
    assert size["read models bytes"] > 0
    assert found["api"]["P1"]["commands"] > 0
    assert found["api"]["P1"]["failed"] == 0
    assert set(found["api"]["P5"]) >= {"inbox_page_50", "province_stats", "topic_timeline_50"}
    assert found["verify"]["intact"]
    assert found["verify"]["events"] >= store["events"]
