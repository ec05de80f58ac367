"""P1 and P5 of DESIGN §9: commands and reads through HTTP against `linkage serve`.

    python -m bench.api [--home bench/.data] [--clients 32] [--seconds 20] [--workers 2]

Starts `linkage serve` on the store in `--home` (the embedded server there; build
one with `python -m bench.rebuild`), then

* P1: `--clients` concurrent clients, each acting for its own village, run the
  first steps of the six-step procedure as GraphQL mutations (submit, determine,
  start and report research, two comments) for `--seconds`; commands/s and latency
  percentiles, every response checked;
* P5: sequential read latencies of the province's inbox page, the province's
  statistics and a topic with its timeline of 50 events (the store's longest topic,
  or, when none has 50 events, one this run writes: a submission and 49 comments).

The load generator runs on the same machine as the server and PostgreSQL, so the
three share the cores: it is a thread and a keep-alive `http.client` connection per
client (~0.6 ms of CPU per request; httpx's AsyncClient, used before, cost ~5 ms and
took more of the cores than the server). Results go to bench/results-api.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg

from api.auth import TokenService
from domain.topic import Role
from infra.database import start_embedded
from infra.secret import signing_secret
from infra.settings import Settings

SUBMIT = "mutation($i: SubmitTopicInput!) { submitTopic(input: $i) { position topic { topicId } } }"
STEPS = [
    ("determineTopic", "TopicNoteInput", {"note": "同意列入协商"}),
    ("startResearch", "ResearchInput", {"text": "走访住户"}),
    ("reportResearch", "ResearchInput", {"text": "调研完成"}),
    ("addComment", "CommentInput", {"text": "请尽快办理"}),
    ("addComment", "CommentInput", {"text": "已电话回复居民"}),
]
INBOX = (
    "{ inbox(first: 50) { totalCount edges { node { reason overdue"
    " topic { title owner { name } } } } } }"
)
STATS = (
    '{ stats(unit: "62") { total open closed overdue satisfactionRate'
    " children { unit { name } total satisfactionRate } months { month submitted } } }"
)
TOPIC = (
    "query($id: ID!) { topic(id: $id) { title stage owner { name } route { unit { name } }"
    " tasks { taskId status } timeline(first: 50) { totalCount"
    " edges { node { type reason actor { userId } } } } } }"
)

TOPIC_EVENTS = 50
COMMENT = "mutation($i: CommentInput!) { addComment(input: $i) { position } }"
VERSION = (
    "query($id: ID!, $p: Int) { topic(id: $id, consistentWith: $p)"
    " { timeline(first: 1) { totalCount } } }"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", default="bench/.data")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reads", type=int, default=200, help="requests per P5 read")
    args = parser.parse_args()
    results = run(Path(args.home), args.clients, args.seconds, args.workers, args.reads)
    Path("bench/results-api.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(json.dumps(results, indent=2, ensure_ascii=False))


def run(
    home: Path,
    clients: int = 32,
    seconds: float = 20.0,
    workers: int = 2,
    reads: int = 200,
    *,
    commands: bool = True,
) -> dict[str, Any]:
    """P1 (unless `commands` is false: P5 only) and P5 against `linkage serve` on the
    store in `home`; `reads` 0 leaves P5 out."""
    home = home.resolve()
    settings = Settings.from_env({"LINKAGE_HOME": str(home)})
    database = start_embedded(home / "pgdata")
    tokens = TokenService(signing_secret(settings), None)  # the server checks the units
    villages, topic_id, events, topics = _pick(database.conninfo, clients)
    port = _free_port()
    env = {**os.environ, "LINKAGE_HOME": str(home)}
    env.pop("LINKAGE_DATABASE_URL", None)
    env.pop("LINKAGE_KAFKA_BOOTSTRAP", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "api.entry.cli", "serve", "--port", str(port),
         "--workers", str(workers)],
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url)
        results: dict[str, Any] = {
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, {_memory()}",
            "store": {"topics": topics, "events": _head(database.conninfo)},
            "server": f"linkage serve --workers {workers} (uvicorn), projections in-process",
        }
        if commands:
            results["P1"] = _commands(url, tokens, villages, clients, seconds)
        if reads:
            if events < TOPIC_EVENTS:  # P5's topic has 50 events: write one that has
                topic_id = _long_topic(url, tokens, villages[0])
                events = TOPIC_EVENTS
            province = tokens.issue("62", [Role.STAFF, Role.LEADER])
            results["P5"] = {
                "inbox_page_50": _reads(url, province, INBOX, {}, reads),
                "province_stats": _reads(url, province, STATS, {}, reads),
                "topic_timeline_50": _reads(url, province, TOPIC, {"id": topic_id}, reads),
                "topic_events": events,
            }
    finally:
        server.terminate()
        server.wait(30)
    return results


class GraphQLClient:
    """One keep-alive HTTP/1.1 connection posting GraphQL for one token.

    The load generator shares the server's two cores, so it must cost little: the
    standard library's `http.client` takes ~0.6 ms of CPU per request here, httpx's
    AsyncClient ~5 ms — with it the generator used more CPU than the server did."""

    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        self._conn: HTTPConnection | None = None

    def post(self, query: str, variables: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, body); a transport failure raises OSError or HTTPException and the
        next request opens a new connection."""
        payload = json.dumps({"query": query, "variables": variables}).encode()
        if self._conn is None:
            self._conn = HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self._conn.request("POST", "/graphql", payload, self.headers)
            response = self._conn.getresponse()
            data = response.read()
        except (OSError, HTTPException):
            self.close()
            raise
        body = json.loads(data) if data else {}
        return response.status, body if isinstance(body, dict) else {}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _commands(
    url: str, tokens: TokenService, villages: list[str], clients: int, seconds: float
) -> dict[str, Any]:
    """`clients` threads, each for its own village, each on its own connection."""
    latencies: list[float] = []  # of every answered command, failed or not
    failures: list[str] = []
    answered_failures = [0]  # failures with an answer (not a reset connection)
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(village: str) -> None:
        connection = GraphQLClient(url, tokens.issue(village, [Role.STAFF]))

        def post(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            started = time.perf_counter()
            try:
                status, body = connection.post(query, variables)
            except (OSError, HTTPException) as exc:  # counts, does not crash
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}"[:300])
                return {}
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if status != 200 or body.get("errors"):
                    failures.append(str(body.get("errors") or status)[:300])
                    answered_failures[0] += 1
            return body

        n = 0
        try:
            while time.perf_counter() < deadline:
                n += 1
                submit = {
                    "title": f"压测议题 {village}-{n}",
                    "description": "小区路灯损坏，夜间出行不便",
                    "category": "市政设施",
                    "source": "GRID",
                    "locationUnit": village,
                }
                body = post(SUBMIT, {"i": submit})
                if not body.get("data"):
                    continue
                tid = body["data"]["submitTopic"]["topic"]["topicId"]
                for name, kind, extra in STEPS:
                    query = f"mutation($i: {kind}!) {{ {name}(input: $i) {{ position }} }}"
                    post(query, {"i": {"topicId": tid, **extra}})
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(v,)) for v in villages[:clients]]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    succeeded = len(latencies) - answered_failures[0]
    return {
        "clients": clients,
        "commands": succeeded + len(failures),
        "failed": len(failures),
        "first_failures": failures[:3],
        "seconds": round(elapsed, 1),
        "commands_per_s": round(succeeded / elapsed, 1),  # failed commands not counted
        **_percentiles(latencies),
        "load_generator": "one thread and one keep-alive connection per client (http.client)",
        "target": ">= 2000 commands/s, p99 < 50 ms",
    }


def _reads(url: str, token: str, query: str, variables: dict[str, Any], n: int) -> dict[str, Any]:
    latencies = []
    connection = GraphQLClient(url, token)
    try:
        for i in range(n + 10):
            started = time.perf_counter()
            status, body = connection.post(query, variables)
            if i >= 10:  # warm-up excluded
                latencies.append(time.perf_counter() - started)
            if status != 200 or body.get("errors"):
                raise SystemExit(f"read failed ({status}): {body.get('errors')}")
    finally:
        connection.close()
    return _percentiles(latencies)


def _long_topic(url: str, tokens: TokenService, village: str) -> str:
    """A topic of `TOPIC_EVENTS` events (submitted, then commented on), once the read
    models show all of them."""
    connection = GraphQLClient(url, tokens.issue(village, [Role.STAFF]))
    try:

        def post(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            status, body = connection.post(query, variables)
            if status != 200 or body.get("errors") or not body.get("data"):
                raise SystemExit(f"writing P5's topic failed ({status}): {body.get('errors')}")
            data: dict[str, Any] = body["data"]
            return data

        submit = {
            "title": "P5 读取基准议题",
            "description": "五十个事件的议题，用于读取延迟测量",
            "category": "市政设施",
            "source": "GRID",
            "locationUnit": village,
        }
        topic_id = str(post(SUBMIT, {"i": submit})["submitTopic"]["topic"]["topicId"])
        position = 0
        for n in range(TOPIC_EVENTS - 1):
            comment = {"topicId": topic_id, "text": f"第 {n + 1} 条意见"}
            position = post(COMMENT, {"i": comment})["addComment"]["position"]
        found = post(VERSION, {"id": topic_id, "p": position})["topic"]
        if found is None or found["timeline"]["totalCount"] != TOPIC_EVENTS:
            raise SystemExit(f"P5's topic {topic_id} does not show {TOPIC_EVENTS} events")
        return topic_id
    finally:
        connection.close()


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100, method="inclusive")  # never beyond the max
    return {
        "p50_ms": round(q[49], 1),
        "p95_ms": round(q[94], 1),
        "p99_ms": round(q[98], 1),
        "max_ms": round(ms[-1], 1),
    }


def _pick(conninfo: str, clients: int) -> tuple[list[str], str, int, int]:
    """Villages for the clients, and the topic with the most events (≤ 50 wanted)."""
    with psycopg.connect(conninfo) as conn:
        villages = [
            r[0]
            for r in conn.execute(
                "SELECT code FROM units WHERE level = 5 AND NOT retired ORDER BY code LIMIT %s",
                (clients,),
            )
        ]
        row = conn.execute(
            "SELECT topic_id, version FROM topic_summary ORDER BY version DESC LIMIT 1"
        ).fetchone()
        topics = conn.execute("SELECT count(*) FROM topic_summary").fetchone()
    if row is None or not villages or topics is None:
        raise SystemExit("the store is empty: build it with `python -m bench.rebuild`")
    return villages, str(row[0]), int(row[1]), int(topics[0])


def _head(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT max(notification_id) FROM linkage_events").fetchone()
    return int(row[0]) if row and row[0] else 0


def _wait_ready(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server at {url} did not answer within {timeout:.0f} s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memory() -> str:
    with open("/proc/meminfo", encoding="ascii") as f:
        kib = int(f.readline().split()[1])
    return f"{kib / 1024**2:.0f} GiB"


if __name__ == "__main__":
    main()
