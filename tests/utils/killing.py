"""Killing a projector process with SIGKILL while a batch is written but not committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from projections.runner import ProjectionRunner


def kill_mid_batch(
    url: str, runner: ProjectionRunner, after_position: int, *, real: bool, slow: float
) -> None:
    """Start `tests.utils.run_slow_projection` on `url`, let its views pass
    `after_position` (as `runner` reads the tracking), then kill -9 it inside a batch."""
    args = [
        sys.executable,
        "-m",
        "tests.utils.run_slow_projection",
        url,
        *(["real"] if real else []),
    ]
    proc = subprocess.Popen(
        args, env={**os.environ, "SLOW_VIEW_SECONDS": str(slow)}, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while runner.position() < after_position and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(slow / 3)  # inside the next batch's sleep: written, not committed
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
