"""The `linkage` command as an operator runs it: real processes, real PostgreSQL."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from api.auth import TokenService
from domain.topic import Role
from infra.bootstrap import view_classes
from infra.database import Database
from infra.units_import import GANSU

SECRET = "a-test-signing-secret-of-32-chars-or-more"


def _env(database: Database, home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LINKAGE_DATABASE_URL": database.conninfo_url,
        "LINKAGE_HOME": str(home),
        "LINKAGE_SECRET": SECRET,
        **extra,
    }


def _linkage(database: Database, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.entry.cli", *args],
        env=_env(database, home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_imports_gansu_and_prints_the_decision_history(
    database: Database, tmp_path: Path
) -> None:
    done = _linkage(database, tmp_path, "demo", "--no-serve")

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "recorded 19,224 added" in out
    assert "畅家巷社区居委会(620102001001) → 酒泉路街道(620102001) → 城关区(620102)" in out
    assert "申请上交(EscalationRequested)" in out  # events in Chinese, the code beside
    assert "涉及区级供水管网改造和资金，街道层面无法解决" in out
    assert "议题办结(TopicClosed)" in out
    assert "酒泉路街道(620102001) 工作人员 chen.jing" in out  # roles in Chinese
    assert "STAFF" not in out
    assert "已办结(CLOSED)；流转" in out
    assert "300 topics with" in out
    # the simulated year, the water scenario and five topics left open across the levels
    assert "甘肃省 统计 (stats): 306 个议题" in out
    assert "城关区(620102) → 兰州市(6201)，待 甘肃省(62) 接收" in out
    assert "待 畅家巷社区居委会(620102001001) 接收" in out
    assert "满意率" in out
    assert "甘肃省 跨层级议题 (cross-level topics)" in out
    # every time in China time with its offset, none in UTC
    history = out.split("decision history (决策记录):")[1].split("各级待办")[0]
    times = re.findall(r"^  v\d+ +(\d{4}-\d\d-\d\d \d\d:\d\d)(\S*)  ", history, re.MULTILINE)
    assert len(times) == len(re.findall(r"^  v\d+ ", history, re.MULTILINE)) > 20
    assert {offset for _, offset in times} == {"+08:00"}
    assert "UTC" not in out
    head = out.split("store head position ")[1].split(";")[0]
    assert out.rstrip().endswith(f"read models at {head}")
    assert "Traceback" not in done.stderr


def test_demo_on_a_store_that_has_units_neither_imports_nor_records_its_topics_again(
    database: Database, tmp_path: Path
) -> None:
    first = _linkage(database, tmp_path, "demo", "--no-serve", "--topics", "10")
    assert first.returncode == 0, first.stderr

    again = _linkage(database, tmp_path, "demo", "--no-serve")

    assert again.returncode == 0, again.stderr
    assert "already holds 19,224 units" in again.stdout
    assert "甘肃省 统计 (stats): 16 个议题" in first.stdout
    assert "甘肃省 统计 (stats): 16 个议题" in again.stdout
    history = first.stdout.split("decision history")[1].split("各级待办")[0]
    assert history in again.stdout


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
        [sys.executable, "-m", "api.entry.cli", "units", "show", "62"],
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
    # the simulation ends at today's 00:00 UTC, shown as the day it is in China then
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end_day = end.astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert f"and {end_day} (Asia/Shanghai)" in simulated.stdout
    in_workers = _linkage(
        database, tmp_path, "simulate", "--province", "62", "--topics", "30", "--seed", "2",
        "--workers", "2",
    )  # fmt: skip
    assert in_workers.returncode == 0, in_workers.stderr
    assert "30 topics" in in_workers.stdout
    again = _linkage(database, tmp_path, "simulate", "--province", "62", "--topics", "40")
    assert again.returncode == 1
    assert again.stderr.splitlines()[-1].startswith("linkage: error: ")
    assert "SIMULATION_ALREADY_RECORDED" in again.stderr
    assert "Traceback" not in again.stderr

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


KNOWN_VIEWS = ", ".join(sorted(cls.name for cls in view_classes()))


def test_unknown_projection_and_province_fail_with_one_line(
    database: Database, tmp_path: Path
) -> None:
    unknown = _linkage(database, tmp_path, "projections", "rebuild", "nope")
    no_province = _linkage(database, tmp_path, "simulate", "--province", "99", "--topics", "5")

    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        f"linkage: error: no projection named 'nope'; known: {KNOWN_VIEWS}"
    )
    assert no_province.returncode == 1
    assert "PROVINCE_NOT_IMPORTED" in no_province.stderr
    assert "Traceback" not in no_province.stderr + unknown.stderr


# -- tokens ------------------------------------------------------------------------------


def test_token_issue_prints_only_a_token_that_verifies_with_the_same_secret(
    database: Database, tmp_path: Path
) -> None:
    assert _linkage(database, tmp_path, "units", "import", str(GANSU), "--quiet").returncode == 0

    done = _linkage(
        database, tmp_path, "token", "issue", "--unit", "620102", "--role", "Staff,LEADER",
        "--user", "sun.wei", "--ttl", "2h",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    principal = TokenService(SECRET, None).verify(done.stdout.strip())
    assert (principal.user_id, principal.unit) == ("sun.wei", "620102")
    assert principal.roles == (Role.STAFF, Role.LEADER)
    assert timedelta(minutes=119) < principal.expires_at - datetime.now(UTC) <= timedelta(hours=2)


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        pytest.param(
            ["--unit", "629999", "--role", "staff"],
            1,
            "linkage: error: UNIT_NOT_FOUND: unit '629999' is not in the imported hierarchy",
            id="unknown unit",
        ),
        pytest.param(
            ["--unit", "62", "--role", "staff,boss"],
            2,
            "linkage: error: INVALID_VALUE: role 'boss' is not one of: "
            "staff, leader, handler, member, auditor, intake",
            id="unknown role",
        ),
        pytest.param(
            ["--unit", "62", "--role", "staff", "--ttl", "8 hours"],
            2,
            "linkage: error: TOKEN_TTL_INVALID: --ttl '8 hours' must look like 90s, 30m, 8h or 7d",
            id="malformed ttl",
        ),
        pytest.param(
            ["--unit", "62", "--role", "staff", "--ttl", "90d"],
            2,
            "linkage: error: TOKEN_TTL_OUT_OF_RANGE: --ttl '90d' is out of range: "
            "a token lives between 1 s and 30 days",
            id="ttl too long",
        ),
    ],
)
def test_token_issue_refuses_unknown_units_roles_and_lifetimes_in_one_line(
    database: Database, tmp_path: Path, args: list[str], status: int, message: str
) -> None:
    done = _linkage(database, tmp_path, "token", "issue", *args)

    assert done.returncode == status  # 2: the command line is not valid
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith(message)


# -- serving -----------------------------------------------------------------------------


class Running:
    """A `linkage` subprocess whose stdout is read line by line as it comes (stderr,
    where progress bars go, is written to a file so that no pipe fills up)."""

    def __init__(self, env: dict[str, str], stderr: Path, *args: str) -> None:
        self.stderr_path = stderr
        with stderr.open("w") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.entry.cli", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, marker: str, timeout: float = 120) -> str:
        """Everything printed up to the line containing `marker`."""
        deadline = time.monotonic() + timeout
        while not any(marker in line for line in self.out):
            try:
                self.out.append(self.lines.get(timeout=0.2))
            except queue.Empty:
                if self.process.poll() is not None and not self.reader.is_alive():
                    code = self.process.returncode
                    raise AssertionError(f"exited {code}: {self.stderr()}") from None
                if time.monotonic() > deadline:
                    raise AssertionError(f"{marker!r} not printed within {timeout} s") from None
        return "".join(self.out)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.process.wait(30)

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_healthy(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url + "/healthz", timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_answers_with_cli_tokens_and_stops_cleanly_on_a_signal(
    database: Database, tmp_path: Path, signum: int
) -> None:
    assert _linkage(database, tmp_path, "units", "import", str(GANSU), "--quiet").returncode == 0
    token = _linkage(database, tmp_path, "token", "issue", "--unit", "6201", "--role", "staff")
    port = _free_port()
    env = _env(database, tmp_path)

    with Running(env, tmp_path / "err", "serve", "--port", str(port)) as server:
        printed = server.wait_for("serving the API")
        url = f"http://127.0.0.1:{port}"
        health = _wait_healthy(url)
        ready = httpx.get(url + "/readyz", timeout=10)
        me = _graphql(url, token.stdout.strip(), "{ me { userId unit { name } } }")
        code = server.stop(signum)
        stderr = server.stderr()

    assert f"serving the API on {url}" in printed
    assert health.json() == {"status": "ok"}
    assert ready.json()["status"] == "ready"
    assert me["me"] == {"userId": "user-6201", "unit": {"name": "兰州市"}}
    assert code == 0
    assert stderr.strip() == "linkage: stopped"


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_in_use_fails_in_one_line_before_any_work(
    database: Database, tmp_path: Path, command: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        done = _linkage(database, tmp_path, command, "--port", str(port))

    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"linkage: error: cannot listen on 127.0.0.1:{port}: address already in use"
    )
    assert "importing" not in done.stdout


def test_serving_without_linkage_secret_beside_a_database_url_fails_naming_it(
    database: Database, tmp_path: Path
) -> None:
    env = {**_env(database, tmp_path), "LINKAGE_SECRET": ""}

    done = subprocess.run(
        [sys.executable, "-m", "api.entry.cli", "demo", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.startswith("linkage: error: LINKAGE_SECRET is required")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "importing" not in done.stdout


def test_demo_serves_the_api_and_prints_tokens_for_every_level(
    database: Database, tmp_path: Path
) -> None:
    port = _free_port()

    env = _env(database, tmp_path)
    with Running(env, tmp_path / "err", "demo", "--topics", "20", "--port", str(port)) as demo:
        printed = demo.wait_for("Ctrl-C stops the demo")
        url = f"http://127.0.0.1:{port}"
        welcome = printed[printed.index("控制台 (console)") :]
        logins = re.findall(
            r"^  (\S+) (\S+)\((\d+)\) (\S+)\n    (http://\S+/#token=(\S+))$", welcome, re.MULTILINE
        )
        links = {title: link for title, _, _, _, link, _ in logins}
        tokens = _token_file(tmp_path / "demo-tokens.env")
        query = json.loads(welcome.split(" -d '")[1].split("'")[0])["query"]
        health = httpx.get(url + "/healthz", timeout=10)
        console = httpx.get(links["乡镇级"].split("#")[0], timeout=10)
        linked = _graphql(url, links["乡镇级"].split("#token=")[1], "{ me { unit { code } } }")
        sample = _graphql(url, tokens["province"], query)
        inboxes = {
            level: _graphql(url, token, INBOX)["inbox"]
            for level, token in tokens.items()
            if level != "auditor"
        }
        code = demo.stop()

    assert health.json() == {"status": "ok"}
    # the console's sign-in links lead, one per level in Chinese, then the API
    assert welcome.index("控制台") < welcome.index("开发者") < welcome.index(f"{url}/graphql")
    assert [(title, name, unit, roles) for title, name, unit, roles, _, _ in logins] == [
        ("省级", "甘肃省", "62", "工作人员、领导"),
        ("市级", "兰州市", "6201", "工作人员"),
        ("县级", "城关区", "620102", "工作人员"),
        ("乡镇级", "酒泉路街道", "620102001", "工作人员"),
        ("村级", "畅家巷社区居委会", "620102001001", "工作人员"),
        ("审计", "甘肃省", "62", "督查审计"),
    ]
    assert set(tokens) == {"province", "city", "county", "township", "village", "auditor"}
    assert [token for *_, token in logins] == list(tokens.values())  # the file's, in order
    assert all(printed.count(token) == 1 for token in tokens.values())  # each printed once
    assert len(welcome.splitlines()) <= 24  # one screen
    assert (tmp_path / "demo-tokens.env").stat().st_mode & 0o077 == 0  # the owner's only
    assert sample["me"] == {"unit": {"name": "甘肃省"}}
    assert "五级联动协商" in console.text
    assert linked["me"] == {"unit": {"code": "620102001"}}
    assert sample["stats"]["total"] == 26  # 20 simulated, the water scenario, 5 left open
    assert sample["inbox"]["totalCount"] >= 2
    reasons = {level: {e["node"]["reason"] for e in i["edges"]} for level, i in inboxes.items()}
    assert "TRANSFER_PENDING" in reasons["province"]  # the Yellow River topic, from the city
    assert "TASK_TO_COMPLETE" in reasons["city"]  # the overdue commuter-bus task
    assert "OWNED" in reasons["county"]  # the lifts it took over
    assert "TASK_TO_SIGN" in reasons["township"]
    assert {"OWNED", "TASK_TO_COMPLETE", "TRANSFER_PENDING"} <= reasons["village"]
    assert any(e["node"]["overdue"] for e in inboxes["city"]["edges"])
    assert code == 0


INBOX = "{ inbox(first: 20) { totalCount edges { node { reason overdue } } } }"


def _graphql(url: str, token: str, query: str) -> dict[str, Any]:
    response = httpx.post(
        url + "/graphql",
        json={"query": query},
        headers={"Authorization": "Bearer " + token},
        timeout=10,
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def _token_file(path: Path) -> dict[str, str]:
    """level -> token, from the lines `LINKAGE_TOKEN_<LEVEL>=<token>` of the demo's file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = (line.removeprefix("LINKAGE_TOKEN_").split("=", 1) for line in lines)
    return {level.lower(): token for level, token in pairs}
