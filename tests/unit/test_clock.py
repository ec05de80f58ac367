"""One clock (issue 21): times are shown in the display zone with its offset, errors
included, and the zone is a setting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from domain.clock import display_zone, shown, shown_day, shown_minute, use_display_zone
from domain.errors import BadInputError
from domain.topic_commands import DelegateTopic
from infra.settings import Settings, SettingsError
from tests.utils.factories import COUNTY, TOWNSHIP, in_memory_app, later, staff, submission

BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def zone_restored() -> Iterator[None]:
    before = display_zone()
    yield
    use_display_zone(before)


def test_times_are_shown_in_china_time_by_default_with_the_offset() -> None:
    moment = datetime(2026, 11, 4, 16, 30, tzinfo=UTC)
    assert shown(moment) == "2026-11-05T00:30:00+08:00"
    assert shown_minute(moment) == "2026-11-05 00:30+08:00"
    assert shown_day(moment) == "2026-11-05"  # the day in China, not in UTC


def test_the_display_zone_is_a_setting_with_china_time_by_default(tmp_path: Path) -> None:
    default = Settings.from_env({"LINKAGE_HOME": str(tmp_path)})
    chosen = Settings.from_env({"LINKAGE_HOME": str(tmp_path), "LINKAGE_TIMEZONE": "Asia/Urumqi"})
    assert default.display_zone == ZoneInfo("Asia/Shanghai")
    assert chosen.display_zone == ZoneInfo("Asia/Urumqi")


def test_an_unknown_time_zone_fails_fast_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"LINKAGE_TIMEZONE.*'Mars/Olympus'"):
        Settings.from_env({"LINKAGE_HOME": str(tmp_path), "LINKAGE_TIMEZONE": "Mars/Olympus"})


def test_a_refusal_echoes_a_china_time_input_as_the_same_china_time() -> None:
    app = in_memory_app()
    tid = app.submit_topic(staff(COUNTY), **submission(COUNTY), at=later(0)).topic_id
    due = later(1).astimezone(BEIJING)  # before the command's time: refused
    with pytest.raises(BadInputError) as refused:
        app.handle(
            staff(COUNTY),
            DelegateTopic(topic_id=tid, to_unit=TOWNSHIP, instructions="下放", due=due),
            at=later(2),
        )
    assert refused.value.rule == "DUE_NOT_IN_FUTURE"
    assert due.isoformat() in refused.value.message  # as given, +08:00
    assert "+00:00" not in refused.value.message


def test_a_refusal_follows_the_configured_zone(zone_restored: None) -> None:
    use_display_zone(ZoneInfo("Europe/Berlin"))
    app = in_memory_app()
    tid = app.submit_topic(staff(COUNTY), **submission(COUNTY), at=later(0)).topic_id
    due = datetime(2020, 1, 10, 9, 0, tzinfo=BEIJING)  # long before: refused
    with pytest.raises(BadInputError) as refused:
        app.handle(
            staff(COUNTY),
            DelegateTopic(topic_id=tid, to_unit=TOWNSHIP, instructions="下放", due=due),
            at=later(2),
        )
    assert "2020-01-10T02:00:00+01:00" in refused.value.message  # the same instant in Berlin
