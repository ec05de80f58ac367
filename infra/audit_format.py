"""The audit reads' output formats: CSV and JSON Lines, streamed in UTF-8 chunks.

Used by the REST export (`api.rest.audit`) and the console (`linkage audit …`);
the rows come from `projections.audit`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, cast

from domain.errors import BadInputError
from projections.audit import json_default

ExportFormat = Literal["csv", "jsonl"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl")


def jsonl_lines(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False, default=json_default) + "\n"


def csv_lines(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    """CSV text, header first; `data` as compact JSON in one cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: Iterable[Any]) -> str:
        writer.writerow(list(values))
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(columns)
    for row in rows:
        yield line(_cell(row.get(c)) for c in columns)


def formatted(
    rows: Iterable[Mapping[str, Any]], fmt: ExportFormat, columns: tuple[str, ...]
) -> Iterator[str]:
    return csv_lines(rows, columns) if fmt == "csv" else jsonl_lines(rows)


def check_format(fmt: str, allowed: Iterable[str] = EXPORT_FORMATS) -> ExportFormat:
    allowed = tuple(allowed)
    if fmt not in allowed:
        raise BadInputError("INVALID_FORMAT", f"format {fmt!r} is not one of: {', '.join(allowed)}")
    return cast(ExportFormat, fmt)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=json_default, sort_keys=True)
    return str(value)


def chunked(lines: Iterable[str], size: int = 64 * 1024) -> Iterator[bytes]:
    """UTF-8 chunks of about `size` bytes (a streamed response sends one per write)."""
    parts: list[bytes] = []
    held = 0
    for line in lines:
        data = line.encode("utf-8")
        parts.append(data)
        held += len(data)
        if held >= size:
            yield b"".join(parts)
            parts, held = [], 0
    if parts:
        yield b"".join(parts)
