"""A table (Chinese header, rows of plain values) as the files offices open: .xlsx
(openpyxl) and CSV in UTF-8 with a byte-order mark, so that Excel on a Chinese
Windows reads it without mojibake. Times are shown in China time with no offset
suffix (the header says 北京时间)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

CHINA = timezone(timedelta(hours=8), "CST")
Cell = str | int | float | bool | datetime | None
MAX_WIDTH = 60


def shown(value: Cell) -> str | int | float:
    """A cell as both formats write it: times in China time, booleans as 是/否."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    return value


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([shown(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(
    sheet: str, header: Sequence[str], rows: Sequence[Sequence[Cell]], title: str | None = None
) -> bytes:
    """One sheet: an optional title line, the bold header (frozen), the rows."""
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet[:31]
    if title:
        ws.append([title])
        ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    ws.append(list(header))
    head_row = ws.max_row
    for col in range(1, len(header) + 1):
        ws.cell(row=head_row, column=col).font = Font(bold=True)
    for row in rows:
        ws.append([shown(v) for v in row])
    ws.freeze_panes = f"A{head_row + 1}"
    for col, name in enumerate(header, start=1):
        cells = [str(name), *(str(shown(r[col - 1])) for r in rows)]
        width = max(len(c.encode("gbk", "replace")) for c in cells) + 2
        ws.column_dimensions[get_column_letter(col)].width = min(width, MAX_WIDTH)
        for r in range(head_row + 1, ws.max_row + 1):
            ws.cell(row=r, column=col).alignment = Alignment(wrap_text=True, vertical="top")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
