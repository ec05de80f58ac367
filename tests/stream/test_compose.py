"""docker-compose.yml cannot run here (no Docker engine): it is parsed and checked
against the settings the code reads and the processes DESIGN §7 names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.entry.cli import build_parser
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


class Recording(dict[str, str]):
    """An environment that remembers which variables the settings asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    values = {str(k): str(v) for k, v in env.items()}
    # ${VAR:?message} is the operator's to set: stand in a value to read the rest
    return {k: re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "operator-set", v) for k, v in values.items()}


def settings_variables() -> set[str]:
    recording = Recording({})
    Settings.from_env(recording)
    return recording.asked


def test_compose_has_the_five_services_of_distributed_mode() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "kafka", "api", "relay", "projector"}
    assert services["postgres"]["image"] == "postgres:17"
    assert re.fullmatch(r"apache/kafka:3\.9(\.\d+)?", services["kafka"]["image"])
    kraft = services["kafka"]["environment"]
    assert kraft["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kraft
    assert services["api"]["build"]["dockerfile"] == "infra/Dockerfile"
    assert (ROOT / services["api"]["build"]["dockerfile"]).is_file()


@pytest.mark.parametrize("name", ["api", "relay", "projector"])
def test_each_process_gets_the_settings_it_reads(name: str) -> None:
    spec = compose()
    service = spec["services"][name]
    env = environment(service)
    known = settings_variables()
    linkage_vars = {k for k in env if k.startswith("LINKAGE_")}
    assert linkage_vars <= known, f"variables no setting reads: {linkage_vars - known}"
    assert {"LINKAGE_DATABASE_URL", "LINKAGE_KAFKA_BOOTSTRAP", "LINKAGE_SECRET"} <= linkage_vars

    settings = Settings.from_env(env)  # every value passes the settings' own checks
    assert settings.distributed
    assert settings.database_url is not None
    assert settings.kafka_bootstrap is not None
    db_host = re.search(r"@([^:/]+)", settings.database_url)
    assert db_host is not None
    assert db_host.group(1) == "postgres"
    postgres = spec["services"]["postgres"]["environment"]
    assert settings.database_url == (
        f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    advertised = spec["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"PLAINTEXT://{settings.kafka_bootstrap}" in advertised.split(",")

    command = service["command"]
    assert command[0] == "linkage"
    args = build_parser().parse_args(command[1:])  # a command the CLI accepts
    assert args.command == {"api": "serve", "relay": "relay", "projector": "projector"}[name]
    depends = service["depends_on"]
    assert depends["postgres"]["condition"] == depends["kafka"]["condition"] == "service_healthy"


def test_the_secret_is_required_from_the_operator() -> None:
    raw = compose()["services"]["api"]["environment"]["LINKAGE_SECRET"]
    assert raw.startswith("${LINKAGE_SECRET:?"), "the signing key must not be committed"


def test_the_image_installs_the_packages_the_project_ships() -> None:
    dockerfile = (ROOT / "infra" / "Dockerfile").read_text(encoding="utf-8")
    for package in ("domain", "projections", "api", "infra"):
        assert f"COPY {package} {package}" in dockerfile
    assert "pip install --no-cache-dir ." in dockerfile
