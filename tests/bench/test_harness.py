"""The harness of `python -m bench`: how a registry of measurements becomes rows.

The measurements here are small functions of this module, registered by name as
the real ones are; nothing is timed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.harness import (
    Context,
    Measurement,
    NotAvailableError,
    Row,
    at_least,
    below,
    number,
    run_all,
    search,
    table,
)
from bench.memory import descendants, peak_rss_mb, process_tree_peak

HERE = "tests.bench.test_harness"
REPO = Path(__file__).resolve().parents[2]


def fast_writes(context: Context) -> dict[str, Any]:
    return {"events_per_s": 30_000, "notes": ["on a store of 十 events"]}


def slow_reference(context: Context) -> dict[str, Any]:
    return {"rows_per_s": 10_000}


def broken(context: Context) -> dict[str, Any]:
    raise RuntimeError("the broker did not answer\nsecond line")


def unavailable(context: Context) -> dict[str, Any]:
    raise NotAvailableError("needs a national store")


def shaped_elsewhere(quick: bool) -> dict[str, Any]:
    assert quick is True  # given only the flag, as `run(quick: bool)` of other branches
    return {"graphql": {"p50_ms": 3.0, "p95_ms": 4.5}, "direct": {"p95_ms": 0.8}}


def exits(context: Context) -> dict[str, Any]:
    raise SystemExit("the store is empty: build it with `python -m bench.rebuild`")


def shared_setup(context: Context) -> dict[str, Any]:
    calls = context.shared.setdefault("calls", [])

    def make() -> dict[str, Any]:
        calls.append(1)
        raise ConnectionResetError("[Errno 104] Connection reset by peer")

    result: dict[str, Any] = context.once("lag", make)
    return result


def one_province(context: Context) -> dict[str, Any]:
    return {"seconds": 4.9, "target_applies": False}


def rate(key: str, minimum: float | None = None, reference: str | None = None) -> Row:
    met = at_least(minimum) if minimum is not None else None
    target = f"≥ {minimum}" if minimum is not None else ""
    return Row(key, key.lower(), "events/s", number("events_per_s", "rows_per_s"), target, met,
               reference)  # fmt: skip


def run(*measurements: Measurement, only: set[str] | None = None) -> dict[str, dict[str, Any]]:
    context = Context(quick=True, home=Path("/nonexistent"), sizes={})
    return {row["key"]: row for row in run_all(list(measurements), context, only)}


def test_a_rate_is_compared_with_its_target_and_read_beside_its_reference() -> None:
    rows = run(
        Measurement("R", HERE, "slow_reference", (rate("R"),)),
        Measurement("P", HERE, "fast_writes", (rate("P", 20_000, reference="R"),)),
    )
    assert rows["P"]["status"] == "ok"
    assert rows["P"]["value"] == 30_000
    assert rows["P"]["met"] is True
    assert rows["P"]["vs_reference"] == 3.0
    assert rows["P"]["notes"] == ["on a store of 十 events"]
    assert rows["R"]["met"] is None  # a reference has no target


def test_a_module_not_merged_yet_is_reported_not_available_and_the_run_goes_on() -> None:
    rows = run(
        Measurement("P2", "bench.not_merged_yet", "run", (rate("P2", 20_000),), takes="quick"),
        Measurement("P", HERE, "fast_writes", (rate("P"),)),
    )
    assert rows["P2"]["status"] == "not available"
    assert rows["P2"]["reason"] == "bench.not_merged_yet is not on this branch"
    assert rows["P2"]["value"] is None
    assert rows["P2"]["met"] is None
    assert rows["P"]["status"] == "ok"


def test_a_measurement_may_say_itself_why_it_cannot_run_here() -> None:
    rows = run(Measurement("P", HERE, "unavailable", (rate("P"),)))
    assert (rows["P"]["status"], rows["P"]["reason"]) == ("not available", "needs a national store")


def test_a_failing_measurement_is_recorded_with_a_one_line_reason() -> None:
    rows = run(
        Measurement("P4", HERE, "broken", (rate("P4 relay"), rate("P4 lag"))),
        Measurement("P", HERE, "fast_writes", (rate("P"),)),
    )
    for key in ("P4 relay", "P4 lag"):
        assert rows[key]["status"] == "failed"
        assert rows[key]["reason"] == "RuntimeError: the broker did not answer"
    assert rows["P"]["status"] == "ok"


def test_a_standalone_bench_exiting_with_a_message_fails_only_its_measurement() -> None:
    rows = run(
        Measurement("P5", HERE, "exits", (rate("P5"),)),
        Measurement("P", HERE, "fast_writes", (rate("P"),)),
    )
    assert rows["P5"]["status"] == "failed"
    assert rows["P5"]["reason"] == "the store is empty: build it with `python -m bench.rebuild`"
    assert rows["P"]["status"] == "ok"


def test_a_shared_setup_that_failed_is_not_run_again_for_the_next_measurement() -> None:
    context = Context(quick=True, home=Path("/nonexistent"), sizes={})
    registry = [
        Measurement("P4", HERE, "shared_setup", (rate("P4"),)),
        Measurement("M", HERE, "shared_setup", (rate("M"),)),
    ]
    rows = {row["key"]: row for row in run_all(registry, context)}
    assert context.shared["calls"] == [1]
    reset = "ConnectionResetError: [Errno 104] Connection reset by peer"
    assert rows["P4"]["reason"] == reset
    assert rows["M"]["reason"] == f"RuntimeError: lag failed before: {reset}"


def test_a_result_without_the_figure_fails_naming_the_row() -> None:
    rows = run(Measurement("P", HERE, "one_province", (rate("P"),)))
    assert rows["P"]["status"] == "failed"
    assert rows["P"]["reason"] == f"no figure for P in the result of {HERE}"


def test_a_result_of_unknown_shape_is_searched_by_name_and_says_where_it_was_found() -> None:
    row = Row("P6", "asOf p95", "ms", search("p95_ms", "p50_ms"), "< 5 ms", below(5))
    rows = run(Measurement("P6", HERE, "shaped_elsewhere", (row,), takes="quick"))
    assert rows["P6"]["value"] == 4.5
    assert rows["P6"]["met"] is True
    assert rows["P6"]["notes"] == [f"figure read from {HERE}'s `graphql.p95_ms`"]


def test_a_target_that_does_not_apply_to_a_quick_run_is_neither_met_nor_missed() -> None:
    row = Row("P7", "import", "s", number("seconds"), "< 60 s", below(60))
    rows = run(Measurement("P7", HERE, "one_province", (row,)))
    assert rows["P7"]["value"] == 4.9
    assert rows["P7"]["met"] is None


def test_only_runs_the_measurements_asked_for_by_key_or_by_its_first_word() -> None:
    registry = (
        Measurement("P6 asOf", HERE, "shaped_elsewhere", (rate("P6 asOf"),), takes="quick"),
        Measurement("P", HERE, "broken", (rate("P"),)),
    )
    assert set(run(*registry, only={"P6"})) == {"P6 asOf"}


def test_the_table_has_a_line_per_row_with_status_or_value() -> None:
    rows = run(
        Measurement("R", HERE, "slow_reference", (rate("R"),)),
        Measurement("P", HERE, "fast_writes", (rate("P", 20_000, reference="R"),)),
        Measurement("P2", "bench.not_merged_yet", "run", (rate("P2"),), takes="quick"),
    )
    lines = table(list(rows.values())).splitlines()
    assert lines[2].startswith("| R | r | 10,000 events/s |")
    assert lines[3] == "| P | p | 30,000 events/s | ≥ 20000 | yes | 3.0× R | 0.0 |"
    assert "not available: bench.not_merged_yet is not on this branch" in lines[4]


def test_an_unknown_measurement_is_refused_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "P1,P9"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("bench: error: unknown measurement P9 (known: M, P1,")
    assert len(done.stderr.strip().splitlines()) == 1


def test_peak_memory_is_read_for_a_process_and_its_children() -> None:
    assert (peak_rss_mb(os.getpid()) or 0) > 10
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in descendants(os.getpid())
        tree = process_tree_peak(os.getpid())
        assert tree["processes"] >= 2
        assert tree["peak_rss_mb"] >= (peak_rss_mb(os.getpid()) or 0) - 1
    finally:
        child.kill()
        child.wait()
    assert peak_rss_mb(child.pid) is None  # gone


def test_the_p6_figures_are_found_in_the_results_the_audit_modules_return() -> None:
    """The shapes of `bench.asof.run` and `bench.verify.run` (from their results files
    on main), so that their registrations here read the right figure once merged."""
    from bench.measurements import REGISTRY

    asof = {
        "direct_ms": {"p50": 3.953, "p95": 11.708, "max": 44.679},
        "graphql_ms": {"p50": 32.509, "p95": 68.225, "max": 119.977},
        "export_province": {"events": 62432, "seconds": 11.01, "events_per_s": 5668},
    }
    verify = {
        "verify_1_connection_events_per_s": 44396,
        "verify_2_connections_events_per_s": 74944,
        "insert_500_per_transaction_chained_events_per_s": 4523,
    }
    rows = {row.key: row for m in REGISTRY for row in m.rows}
    assert rows["P6 asOf"].extract(asof) == (11.708, "direct_ms.p95")
    assert rows["P6 verify"].extract(verify) == (74944, "verify_2_connections_events_per_s")
