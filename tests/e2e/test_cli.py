"""The `linkage` command as an operator runs it: real processes, real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infra.database import Database
from infra.units_import import GANSU


def _linkage(database: Database, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LINKAGE_DATABASE_URL": database.conninfo_url,
        "LINKAGE_HOME": str(home),
    }
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_imports_gansu_and_prints_the_decision_history(
    database: Database, tmp_path: Path
) -> None:
    done = _linkage(database, tmp_path, "demo")

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "recorded 19,224 added" in out
    assert "畅家巷社区居委会(620102001001) → 酒泉路街道(620102001) → 城关区(620102)" in out
    assert "EscalationRequested" in out
    assert "涉及区级供水管网改造和资金，街道层面无法解决" in out
    assert "TopicClosed" in out
    assert "300 topics with" in out
    assert "甘肃省 stats: 301 topics" in out  # the simulated year and the scenario's topic
    assert "满意率" in out
    assert "cross-level topics (跨层级议题) in 甘肃省" in out
    head = out.split("store head position ")[1].split(";")[0]
    assert out.rstrip().endswith(f"read models at {head}")
    assert "Traceback" not in done.stderr


def test_demo_on_a_store_that_has_units_does_not_import_again(
    database: Database, tmp_path: Path
) -> None:
    assert _linkage(database, tmp_path, "demo").returncode == 0

    again = _linkage(database, tmp_path, "demo")

    assert again.returncode == 0, again.stderr
    assert "already holds 19,224 units" in again.stdout


def test_a_broken_divisions_folder_fails_with_one_line_naming_file_and_line(
    database: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    for item in GANSU.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    cities = (folder / "cities.csv").read_text(encoding="utf-8").splitlines()
    cities[3] = cities[3].replace(cities[3].split(",")[0], "620", 1)
    (folder / "cities.csv").write_text("\n".join(cities) + "\n", encoding="utf-8")

    done = _linkage(database, tmp_path, "units", "import", str(folder), "--quiet")

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("linkage: error: cities.csv:4:")
    assert "620" in lines[0]


def test_a_bad_database_url_fails_fast_naming_the_setting(tmp_path: Path) -> None:
    env = {**os.environ, "LINKAGE_DATABASE_URL": "mysql://nope", "LINKAGE_HOME": str(tmp_path)}

    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", "units", "show", "62"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert "LINKAGE_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_units_show_prints_the_chain_of_ancestors(database: Database, tmp_path: Path) -> None:
    assert _linkage(database, tmp_path, "units", "import", str(GANSU), "--quiet").returncode == 0

    done = _linkage(database, tmp_path, "units", "show", "620102001001")

    assert done.returncode == 0, done.stderr
    assert "甘肃省(62) › 兰州市(6201) › 城关区(620102) › 酒泉路街道(620102001)" in done.stdout


def test_projections_status_rebuild_and_simulate_work_from_the_command_line(
    database: Database, tmp_path: Path
) -> None:
    assert _linkage(database, tmp_path, "units", "import", str(GANSU), "--quiet").returncode == 0
    simulated = _linkage(database, tmp_path, "simulate", "--province", "62", "--topics", "40")
    assert simulated.returncode == 0, simulated.stderr
    assert "40 topics" in simulated.stdout

    before = _linkage(database, tmp_path, "projections", "status")
    rebuilt = _linkage(database, tmp_path, "projections", "rebuild")
    after = _linkage(database, tmp_path, "projections", "status")

    assert before.returncode == rebuilt.returncode == after.returncode == 0, rebuilt.stderr
    lines = {line.split()[0]: line.split() for line in after.stdout.splitlines()[1:4]}
    assert set(lines) == {"topics", "timeline", "stats"}
    for _name, position, head, lag, dead, parked in lines.values():
        assert position == head
        assert (lag, dead, parked) == ("0", "0", "0")
    assert "rebuilt from position 0" in rebuilt.stdout


def test_unknown_projection_and_province_fail_with_one_line(
    database: Database, tmp_path: Path
) -> None:
    unknown = _linkage(database, tmp_path, "projections", "rebuild", "nope")
    no_province = _linkage(database, tmp_path, "simulate", "--province", "99", "--topics", "5")

    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        "linkage: error: no projection named 'nope'; known: stats, timeline, topics"
    )
    assert no_province.returncode == 1
    assert "PROVINCE_NOT_IMPORTED" in no_province.stderr
    assert "Traceback" not in no_province.stderr + unknown.stderr
