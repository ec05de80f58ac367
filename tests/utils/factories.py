"""Factories shared by the tests: a small real slice of Gansu, actors, apps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.application import LinkageApp
from domain.topic import Actor, Role
from domain.units import InMemoryUnitDirectory, Level, UnitRecord

PROVINCE = "62"  # 甘肃省
CITY = "6201"  # 兰州市
OTHER_CITY = "6202"  # 嘉峪关市
COUNTY = "620102"  # 城关区
SIBLING_COUNTY = "620103"  # 七里河区
TOWNSHIP = "620102001"  # 酒泉路街道
SIBLING_TOWNSHIP = "620102002"  # 张掖路街道
VILLAGE = "620102001001"  # 畅家巷社区居委会
SIBLING_VILLAGE = "620102001002"  # 张家园社区居委会
COUSIN_VILLAGE = "620102002001"  # 陇西路社区居委会
FAR_TOWNSHIP = "620103001"  # 西园街道
FAR_VILLAGE = "620103001001"  # 下西园社区居委会

SMALL_HIERARCHY = [
    UnitRecord(PROVINCE, "甘肃省", Level.PROVINCE, None),
    UnitRecord(CITY, "兰州市", Level.CITY, PROVINCE),
    UnitRecord(OTHER_CITY, "嘉峪关市", Level.CITY, PROVINCE),
    UnitRecord(COUNTY, "城关区", Level.COUNTY, CITY),
    UnitRecord(SIBLING_COUNTY, "七里河区", Level.COUNTY, CITY),
    UnitRecord(TOWNSHIP, "酒泉路街道", Level.TOWNSHIP, COUNTY),
    UnitRecord(SIBLING_TOWNSHIP, "张掖路街道", Level.TOWNSHIP, COUNTY),
    UnitRecord(FAR_TOWNSHIP, "西园街道", Level.TOWNSHIP, SIBLING_COUNTY),
    UnitRecord(VILLAGE, "畅家巷社区居委会", Level.VILLAGE, TOWNSHIP),
    UnitRecord(SIBLING_VILLAGE, "张家园社区居委会", Level.VILLAGE, TOWNSHIP),
    UnitRecord(COUSIN_VILLAGE, "陇西路社区居委会", Level.VILLAGE, SIBLING_TOWNSHIP),
    UnitRecord(FAR_VILLAGE, "下西园社区居委会", Level.VILLAGE, FAR_TOWNSHIP),
]

START = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)

FULL_PANEL: list[dict[str, str | None]] = [
    {"name": "王委员", "kind": "MEMBER", "member_id": "M-001"},
    {"name": "李书记", "kind": "CADRE", "member_id": None},
    {"name": "水务局张科长", "kind": "DEPARTMENT", "member_id": None},
    {"name": "居民代表赵大妈", "kind": "PUBLIC", "member_id": None},
    {"name": "物业公司刘经理", "kind": "STAKEHOLDER", "member_id": None},
]


def small_directory() -> InMemoryUnitDirectory:
    return InMemoryUnitDirectory(SMALL_HIERARCHY)


def in_memory_app(units: InMemoryUnitDirectory | None = None) -> LinkageApp:
    return LinkageApp(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, units=units or small_directory()
    )


def staff(unit: str, user: str = "") -> Actor:
    return Actor(user or f"staff-{unit}", unit, Role.STAFF)


def leader(unit: str, user: str = "") -> Actor:
    return Actor(user or f"leader-{unit}", unit, Role.LEADER)


def handler(unit: str, user: str = "") -> Actor:
    return Actor(user or f"handler-{unit}", unit, Role.HANDLER)


def actor(unit: str, role: Role) -> Actor:
    return Actor(f"{role.value.lower()}-{unit}", unit, role)


def submission(location: str = VILLAGE, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "小区二次供水水压不足",
        "description": "畅家巷社区6号楼高层住户反映，早晚用水高峰时段水压不足，热水器无法点火。",
        "category": "供水",
        "source": "HOTLINE_12345",
        "location": location,
    }
    values.update(overrides)
    return values


def later(days: float) -> datetime:
    return START + timedelta(days=days)
