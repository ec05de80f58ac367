"""Every setting in one place, read from the environment and checked at once.

A missing or malformed setting fails fast with a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from psycopg.conninfo import conninfo_to_dict

from domain.clock import DEFAULT_TIMEZONE

DEFAULT_KAFKA_TOPIC = "linkage.events"
DEFAULT_KAFKA_PARTITIONS = 6
DEFAULT_KAFKA_GROUP = "linkage-projector"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str | None
    kafka_bootstrap: str | None
    kafka_topic: str
    secret: str | None
    kafka_partitions: int = DEFAULT_KAFKA_PARTITIONS  # when the relay creates the topic
    kafka_group: str = DEFAULT_KAFKA_GROUP  # the projectors' consumer group
    timezone: str = DEFAULT_TIMEZONE  # the one clock every surface shows (IANA name)

    @property
    def display_zone(self) -> tzinfo:
        return _time_zone(self.timezone)

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("LINKAGE_HOME") or platformdirs.user_data_dir("linkage"))
        if home.exists() and not home.is_dir():
            raise SettingsError(f"LINKAGE_HOME={home} exists and is not a directory")
        database_url = (env.get("LINKAGE_DATABASE_URL") or "").strip() or None
        if database_url is not None:
            _check_database_url(database_url)
        bootstrap = (env.get("LINKAGE_KAFKA_BOOTSTRAP") or "").strip() or None
        if bootstrap is not None:
            _check_bootstrap(bootstrap)
        topic = (env.get("LINKAGE_KAFKA_TOPIC") or DEFAULT_KAFKA_TOPIC).strip()
        secret = (env.get("LINKAGE_SECRET") or "").strip() or None
        partitions = _positive_int(env, "LINKAGE_KAFKA_PARTITIONS", DEFAULT_KAFKA_PARTITIONS)
        group = (env.get("LINKAGE_KAFKA_GROUP") or DEFAULT_KAFKA_GROUP).strip()
        zone = (env.get("LINKAGE_TIMEZONE") or DEFAULT_TIMEZONE).strip()
        _time_zone(zone)  # an unknown zone fails now, naming the variable
        return cls(home, database_url, bootstrap, topic, secret, partitions, group, zone)

    @property
    def distributed(self) -> bool:
        """Kafka feeds the read models (relay and projector processes)."""
        return self.kafka_bootstrap is not None


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise SettingsError(f"{name} must be a whole number ≥ 1, not {text!r}")
    return int(text)


def _time_zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"LINKAGE_TIMEZONE must be an IANA time zone such as {DEFAULT_TIMEZONE}, not {name!r}"
        ) from None


def _check_database_url(url: str) -> None:
    if not url.startswith(("postgresql://", "postgres://")):
        raise SettingsError(
            "LINKAGE_DATABASE_URL must be a PostgreSQL URL like "
            f"postgresql://user:password@host:5432/dbname, not {url!r}"
        )
    try:
        params = conninfo_to_dict(url)
    except Exception as exc:
        raise SettingsError(f"LINKAGE_DATABASE_URL is malformed: {exc}") from None
    if not params.get("dbname"):
        raise SettingsError(f"LINKAGE_DATABASE_URL names no database: {url!r}")


def _check_bootstrap(bootstrap: str) -> None:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            raise SettingsError(
                f"LINKAGE_KAFKA_BOOTSTRAP must list host:port pairs, not {bootstrap!r}"
            )
