"""`linkage audit verify` as an operator runs it: a real process on a real store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infra.bootstrap import Runtime
from tests.utils.chain import CHAIN, EVENTS, build_store, rows


def _verify(runtime: Runtime, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.entry.cli", "audit", "verify", *args],
        env={
            **os.environ,
            "LINKAGE_DATABASE_URL": runtime.database.conninfo_url,
            "LINKAGE_HOME": str(home),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_an_intact_store_exits_0_with_a_summary(small_runtime: Runtime, tmp_path: Path) -> None:
    build_store(small_runtime)
    with small_runtime.database.connect() as conn:
        events = len(rows(conn))

    done = _verify(small_runtime, tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("linkage audit verify: hash chain intact — ")
    assert f"{events} events of 4 topics and hierarchy records (the whole store)" in done.stdout
    assert "events/s" in done.stdout
    anchor = done.stdout.split("--anchor ")[1].strip()
    again = _verify(small_runtime, tmp_path, "--anchor", anchor)
    assert again.returncode == 0, again.stdout
    assert "verifying the hash chain" in done.stderr  # the progress bar
    assert "Traceback" not in done.stderr


def test_a_tampered_store_exits_1_naming_each_bad_row(
    small_runtime: Runtime, tmp_path: Path
) -> None:
    topics = build_store(small_runtime)
    with small_runtime.database.connect() as conn:
        altered, deleted = rows(conn, topics[0])[2], rows(conn, topics[1])[1]
        conn.execute(
            f"UPDATE {EVENTS} SET state = overlay(state placing '\\x7a'::bytea from 3 for 1)"
            " WHERE notification_id = %s",
            (altered.position,),
        )
        conn.execute(f"DELETE FROM {EVENTS} WHERE notification_id = %s", (deleted.position,))
        conn.execute(f"DELETE FROM {CHAIN} WHERE position = %s", (deleted.position,))

    done = _verify(small_runtime, tmp_path)

    assert done.returncode == 1
    by_position = {int(line.split(":")[0].split()[1]): line for line in done.stdout.splitlines()}
    assert sorted(by_position) == sorted([altered.position, deleted.position])
    assert by_position[altered.position] == (
        f"position {altered.position}: topic {topics[0]} version 3: content altered — "
        "the stored event no longer matches the content hash recorded when it was written"
    )
    assert by_position[deleted.position].startswith(
        f"position {deleted.position}: topic (unknown: no trace left) version ?: "
        "row missing — removed with its chain entry: position "
    )
    [error] = done.stderr.strip().splitlines()[-1:]
    assert error.startswith("linkage: error: CHAIN_BROKEN: 2 bad row(s) in the hash chain — ")
    assert "Traceback" not in done.stderr


def test_verify_from_a_position_and_refuses_a_position_below_1(
    small_runtime: Runtime, tmp_path: Path
) -> None:
    topics = build_store(small_runtime)
    with small_runtime.database.connect() as conn:
        first = rows(conn, topics[0])[0].position
        conn.execute(f"DELETE FROM {EVENTS} WHERE notification_id = %s", (first,))

    assert _verify(small_runtime, tmp_path).returncode == 1
    later = _verify(small_runtime, tmp_path, "--from", str(first + 1))
    assert later.returncode == 0, later.stdout
    assert f"(positions {first + 1:,} to " in later.stdout

    refused = _verify(small_runtime, tmp_path, "--from", "0")
    assert refused.returncode == 2
    assert "argument --from: must be a positive whole number, not 0" in refused.stderr
    bad_anchor = _verify(small_runtime, tmp_path, "--anchor", "12:abc")
    assert bad_anchor.returncode == 2
    assert (
        "argument --anchor: an anchor is POSITION:HASH, a position ≥ 1 and 64 hex digits, "
        "not '12:abc'" in bad_anchor.stderr
    )
