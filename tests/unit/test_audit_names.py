"""Unit names at an instant, and the export formats (no database)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any, cast

from api.entry.cli import build_parser
from infra.audit_format import chunked, csv_lines, jsonl_lines
from projections.audit import UnitNames

JAN, MAR, JUN = (datetime(2026, m, 1, tzinfo=UTC) for m in (1, 3, 6))


def names() -> UnitNames:
    # 620102001 was 酒泉路街道 until March, 酒泉路新街道 until June, 酒泉路中心街道 since
    found = UnitNames(cast(Any, None), {"620102001": [(MAR, "酒泉路街道"), (JUN, "酒泉路新街道")]})
    found.current.update({"620102001": "酒泉路中心街道", "620102": "城关区"})
    return found


def test_a_unit_renamed_twice_has_each_name_in_its_time() -> None:
    n = names()
    assert n.name_at("620102001", JAN) == "酒泉路街道"
    assert n.name_at("620102001", MAR) == "酒泉路新街道"  # renamed at that instant
    assert n.name_at("620102001", datetime(2026, 4, 1, tzinfo=UTC)) == "酒泉路新街道"
    assert n.name_at("620102001", JUN) == "酒泉路中心街道"
    assert n.name_at("620102", JAN) == "城关区"  # never renamed


def test_csv_and_jsonl_keep_chinese_and_nested_fields() -> None:
    rows = [{"version": 1, "reason": "水压不足，热水器无法点火", "data": {"at": JAN, "a": [1]}}]
    text = "".join(csv_lines(rows, ("version", "reason", "data")))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[0]["reason"] == "水压不足，热水器无法点火"
    assert json.loads(parsed[0]["data"]) == {"a": [1], "at": "2026-01-01T08:00:00+08:00"}
    line = "".join(jsonl_lines(rows))
    assert "水压不足" in line  # not \\u-escaped
    assert json.loads(line)["data"]["at"] == "2026-01-01T08:00:00+08:00"
    chunks = list(chunked([line] * 1000, size=4096))
    assert len(chunks) > 1
    assert b"".join(chunks).decode("utf-8") == line * 1000


def test_the_audit_group_holds_verify_history_and_export() -> None:
    parser = build_parser()
    args = parser.parse_args(["audit", "export", "--unit", "62", "--format", "csv"])
    assert (args.unit, args.format, args.date_from) == ("62", "csv", None)
    args = parser.parse_args(["audit", "verify", "--from", "5"])
    assert args.start == 5
    args = parser.parse_args(["audit", "history", "00000000-0000-0000-0000-000000000001"])
    assert args.audit_command == "history"
