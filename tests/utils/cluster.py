"""Distributed mode as operators run it: `linkage serve`, `linkage relay` and
`linkage projector` as separate processes on one database and one broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from api.auth import TokenService
from domain.topic import Role
from infra.bootstrap import Runtime
from tests.utils.kafka import free_port


@dataclass
class Cluster:
    """The three processes of DESIGN §7 around `runtime`'s database and broker."""

    runtime: Runtime
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.runtime.open_read_models()  # the read-model and stream tables

    @property
    def env(self) -> dict[str, str]:
        s = self.runtime.settings
        assert s.kafka_bootstrap is not None
        assert s.secret is not None
        return {
            **os.environ,
            "LINKAGE_HOME": str(s.home),
            "LINKAGE_DATABASE_URL": self.runtime.database.conninfo_url,
            "LINKAGE_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "LINKAGE_KAFKA_TOPIC": s.kafka_topic,
            "LINKAGE_KAFKA_GROUP": s.kafka_group,
            "LINKAGE_KAFKA_PARTITIONS": str(s.kafka_partitions),
            "LINKAGE_SECRET": s.secret,
        }

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """`linkage ARGS` as process `name` (its output in logs/NAME.log)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "api.entry.cli", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs[name] = proc
        return proc

    def relay(self, name: str = "relay", *args: str) -> subprocess.Popen[bytes]:
        return self.start(name, "relay", *args)

    def projector(self, name: str = "projector") -> subprocess.Popen[bytes]:
        return self.start(name, "projector")

    def serve(self) -> str:
        self.start("api", "serve", "--port", str(self.port))
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.procs["api"].poll() is None, self.log("api")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the API did not answer within 60 s:\n" + self.log("api"))

    def kill(self, name: str) -> None:
        """kill -9: no cleanup, no last words."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self, name: str) -> int:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise AssertionError(f"{name} did not stop on SIGTERM:\n{self.log(name)}") from None

    def stop_all(self) -> None:
        for name in list(self.procs):
            if self.procs[name].poll() is None:
                self.stop(name)
            else:
                self.procs.pop(name)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- what the tests look at ------------------------------------------------------

    def token(self, unit: str, *roles: Role | str, user: str | None = None) -> str:
        assert self.runtime.settings.secret is not None
        chosen = [Role(str(r).upper()) for r in roles] or [Role.STAFF]
        return TokenService(self.runtime.settings.secret, None).issue(unit, chosen, user_id=user)

    def headers(self, unit: str, *roles: Role | str, user: str | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.token(unit, *roles, user=user)}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fed_up_to(self) -> int:
        return self.runtime.projections.position()

    def wait_fed(self, position: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.fed_up_to() < position:
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"{name} exited:\n{self.log(name)}"
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"read models fed up to {self.fed_up_to()}, not {position}, in {timeout} s\n"
                    + "\n".join(f"--- {n}\n{self.log(n)[-3000:]}" for n in self.procs)
                )
            time.sleep(0.1)
