"""The one clock every surface shows: the display time zone (DESIGN §12, issue 21).

Times are stored and compared in UTC; they are *shown* — in error messages, the
command line, the demo, exports — in one time zone with its offset, China
Standard Time unless the deployment says otherwise (`LINKAGE_TIMEZONE`, read by
`infra.settings`; the composition root calls `use_display_zone`). The zone is
process-wide, as a locale is: every surface of one deployment shows the same clock.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"

_chosen: list[tzinfo] = []  # empty: the default, loaded on first use


def display_zone() -> tzinfo:
    if not _chosen:
        _chosen.append(ZoneInfo(DEFAULT_TIMEZONE))
    return _chosen[0]


def use_display_zone(zone: tzinfo) -> None:
    """Show every time from now on in `zone` (the composition root calls this once)."""
    _chosen[:] = [zone]


def local(moment: datetime) -> datetime:
    """The instant in the display zone (an aware datetime; a naive one is returned as is)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(display_zone())


def shown(moment: datetime) -> str:
    """ISO 8601 in the display zone with its offset: `2026-11-05T10:00:00+08:00`."""
    return local(moment).isoformat()


def shown_minute(moment: datetime) -> str:
    """For people reading a line: `2026-11-05 10:00+08:00`."""
    return _with_offset(local(moment), "%Y-%m-%d %H:%M")


def shown_second(moment: datetime) -> str:
    """`2026-11-05 10:00:07+08:00`."""
    return _with_offset(local(moment), "%Y-%m-%d %H:%M:%S")


def shown_day(moment: datetime) -> str:
    """The calendar day in the display zone: `2026-11-05`."""
    return local(moment).strftime("%Y-%m-%d")


def _with_offset(moment: datetime, fmt: str) -> str:
    offset = moment.strftime("%z")
    return moment.strftime(fmt) + (offset[:3] + ":" + offset[3:] if offset else "")
