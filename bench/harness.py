"""The machinery of `python -m bench`: a registry of measurements, run one after the
other on this machine, written to results.json and printed as a table.

A measurement names the module and function that measures it; the module is
imported only when the measurement runs, so one that is not on this branch yet is
reported as "not available" (with the reason) instead of stopping the run. A
measurement yields one or more rows (P1 has a rate and a p99); each row takes its
value out of the function's result dict, and is compared with its target and, for
rates, with the reference it should be read beside.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Result = Mapping[str, Any]
Extract = Callable[[Result], "tuple[float, str] | None"]


@dataclass(frozen=True)
class Row:
    """One figure of a measurement: where it is in the result, its unit and target."""

    key: str  # "P1 rate"
    what: str
    unit: str
    extract: Extract
    target: str = ""  # as DESIGN §9 writes it; empty for references
    met: Callable[[float], bool] | None = None
    reference: str | None = None  # the key of the reference row it is read beside


@dataclass(frozen=True)
class Measurement:
    """A registered measurement: `module.function` is imported and called when it runs.

    `takes` says what the function is given: the harness's Context, or only the quick
    flag (the `run(quick: bool) -> dict` of the modules other branches add)."""

    key: str
    module: str
    function: str
    rows: tuple[Row, ...]
    takes: str = "context"  # or "quick"

    def load(self) -> Callable[..., Result]:
        """The function, or ModuleNotFoundError when its module is not on this branch."""
        module = importlib.import_module(self.module)
        function: Callable[..., Result] = getattr(module, self.function)
        return function


class NotAvailableError(Exception):
    """The measurement cannot run here; the message says why (a module not merged yet)."""


@dataclass
class Context:
    """What the measurements share in one run: the store's home, the sizes, started
    services (closed at the end) and results some measurements pass to others (the
    peak memory of the processes P4 ran, for M)."""

    quick: bool
    home: Path
    sizes: Mapping[str, float]
    stack: ExitStack = field(default_factory=ExitStack)
    shared: dict[str, Any] = field(default_factory=dict)

    def size(self, name: str) -> int:
        return int(self.sizes[name])

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        """`make()` the first time `name` is asked for, the same value (or the same
        failure: a measurement that failed is not run again for another) afterwards."""
        if name not in self.shared:
            try:
                self.shared[name] = make()
            except Exception as exc:
                self.shared[name] = exc
                raise
        value = self.shared[name]
        if isinstance(value, Exception):
            raise RuntimeError(f"{name} failed before: {_reason(value)}")
        return value


def number(*paths: str) -> Extract:
    """An extractor: the first of the dotted `paths` that holds a number."""

    def extract(result: Result) -> tuple[float, str] | None:
        for path in paths:
            value: Any = result
            for part in path.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value), path
        return None

    return extract


def search(*names: str) -> Extract:
    """An extractor for a result whose shape is not known here (the modules other
    branches add): the first number found under any of `names`, nested or not,
    names tried in order; the path found goes in the row's notes."""

    def walk(value: Any, prefix: str) -> Iterator[tuple[str, str, Any]]:
        if isinstance(value, Mapping):
            for key, item in value.items():
                path = f"{prefix}.{key}" if prefix else str(key)
                yield str(key), path, item
                yield from walk(item, path)

    def extract(result: Result) -> tuple[float, str] | None:
        found = list(walk(result, ""))
        for name in names:
            for key, path, item in found:
                if key == name and isinstance(item, int | float) and not isinstance(item, bool):
                    return float(item), path
        return None

    return extract


def at_least(limit: float) -> Callable[[float], bool]:
    return lambda value: value >= limit


def below(limit: float) -> Callable[[float], bool]:
    return lambda value: value < limit


def run_all(
    registry: list[Measurement], context: Context, only: set[str] | None = None
) -> list[dict[str, Any]]:
    """Run each measurement (or those in `only`), one after the other; a failure is
    recorded with its reason and the run goes on."""
    rows: list[dict[str, Any]] = []
    for measurement in registry:
        if only and not {measurement.key, measurement.key.split()[0]} & only:
            continue
        print(f"\n== {measurement.key}: {measurement.module}.{measurement.function}", flush=True)
        started = time.perf_counter()
        status, reason = "ok", ""
        result: Result = {}
        try:
            function = measurement.load()
        except ModuleNotFoundError as exc:
            if exc.name != measurement.module:
                raise  # the module is there but something it needs is missing
            status, reason = "not available", f"{measurement.module} is not on this branch"
        else:
            try:
                arg = context.quick if measurement.takes == "quick" else context
                result = function(arg)
            except NotAvailableError as exc:
                status, reason = "not available", str(exc)
            except (Exception, SystemExit) as exc:  # the standalone benches exit with a message
                traceback.print_exc()
                status, reason = "failed", _reason(exc)
        seconds = round(time.perf_counter() - started, 1)
        for row in measurement.rows:
            rows.append(_row(measurement, row, status, reason, result, seconds))
    _compare(rows)
    return rows


def _reason(exc: BaseException) -> str:
    """One line: the exception's type and message (or its cause's, when it has none)."""
    message = str(exc) or str(exc.__cause__ or "")
    if isinstance(exc, SystemExit):
        return message.splitlines()[0]
    return f"{type(exc).__name__}: {message}".splitlines()[0]


def _row(
    measurement: Measurement,
    row: Row,
    status: str,
    reason: str,
    result: Result,
    seconds: float,
) -> dict[str, Any]:
    found = row.extract(result) if status == "ok" else None
    if status == "ok" and found is None:
        status, reason = "failed", f"no figure for {row.key} in the result of {measurement.module}"
    value = found[0] if found else None
    applies = not (isinstance(result, Mapping) and result.get("target_applies") is False)
    notes = [str(n) for n in result.get("notes", [])] if isinstance(result, Mapping) else []
    if found and measurement.takes == "quick":  # a result shape this module does not own
        notes.append(f"figure read from {measurement.module}'s `{found[1]}`")
    return {
        "key": row.key,
        "measurement": measurement.key,
        "what": row.what,
        "status": status,
        "reason": reason,
        "value": _rounded(value),
        "unit": row.unit,
        "target": row.target,
        "met": None if value is None or row.met is None or not applies else row.met(value),
        "seconds": seconds,
        "reference": row.reference,
        "notes": notes,
        "details": result,
    }


def _compare(rows: list[dict[str, Any]]) -> None:
    """A rate beside its reference: value / reference value, both from this run."""
    values = {r["key"]: r["value"] for r in rows}
    for row in rows:
        ref = values.get(row["reference"]) if row["reference"] else None
        row["vs_reference"] = round(row["value"] / ref, 2) if row["value"] and ref else None


def _rounded(value: float | None) -> float | None:
    if value is None:
        return None
    return round(value) if abs(value) >= 100 else round(value, 2)


def machine() -> dict[str, Any]:
    with open("/proc/meminfo", encoding="ascii") as f:
        total_kib = int(f.readline().split()[1])
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": round(total_kib / 1024**2, 1),
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write_results(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (what README shows)."""
    lines = [
        "| # | what | measured | target | met | vs reference | s |",
        "|---|---|---:|---|:-:|---:|---:|",
    ]
    for row in rows:
        if row["status"] == "ok":
            measured = f"{_format(row['value'])} {row['unit']}"
        else:
            measured = f"{row['status']}: {row['reason']}"
        met = {True: "yes", False: "no", None: "–"}[row["met"]]
        vs = f"{row['vs_reference']}× {row['reference']}" if row["vs_reference"] else ""
        lines.append(
            f"| {row['key']} | {row['what']} | {measured} | {row['target']} | {met} | {vs} "
            f"| {row['seconds']} |"
        )
    return "\n".join(lines)


def _format(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:g}"
