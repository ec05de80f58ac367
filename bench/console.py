"""The province's cockpit load time in the console, on the demo's data (DESIGN issue 8).

    python -m bench.console [--home bench/.data/console] [--runs 10] [--port 8765]
                            [--screenshot docs/cockpit.png]

Starts `linkage demo` on the store in `--home` (the first run imports Gansu and
simulates its year of topics), follows the province's printed sign-in link in
headless Chromium and reads, per run, from the page's own clock (navigation
start = 0): DOMContentLoaded, the `cockpit-figures` mark (counts, rates and tables
on the page), the `cockpit-ready` mark (the three ECharts charts drawn too) and the
cockpit's own GraphQL + drawing time. A cold
run uses a fresh browser profile (nothing cached); a warm run reloads the tab.
Browser, server and PostgreSQL share the machine. Results: bench/results-console.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from tests.utils.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP

HERE = Path(__file__).resolve().parent
READY = "main[data-cockpit-ms]"
TIMING = """() => ({
  dom: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
  figures: performance.getEntriesByName('cockpit-figures').at(-1).startTime,
  ready: performance.getEntriesByName('cockpit-ready').at(-1).startTime,
  cockpit: Number(document.querySelector('main').dataset.cockpitMs),
})"""


def start_demo(home: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "LINKAGE_HOME": str(home)}
    env.pop("LINKAGE_DATABASE_URL", None)
    demo = subprocess.Popen(
        [sys.executable, "-m", "api.entry.cli", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert demo.stdout is not None
    printed = []
    for line in demo.stdout:
        printed.append(line)
        if "Ctrl-C stops the demo" in line:
            break
    else:
        raise SystemExit("linkage demo stopped before serving:\n" + "".join(printed))
    match = re.search(r"^  province +(http://\S+/#token=\S+)$", "".join(printed), re.MULTILINE)
    if not match:
        raise SystemExit("no sign-in link for the province in the demo's output")
    return demo, match.group(1)


def measure(page: Page, link: str | None) -> dict[str, float]:
    if link is None:
        page.reload()
    else:
        page.goto(link)
    page.wait_for_selector(READY, timeout=30_000)
    timing: dict[str, float] = page.evaluate(TIMING)
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=HERE / ".data" / "console")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--screenshot", type=Path, help="save the cockpit as PNG here")
    args = parser.parse_args()

    demo, link = start_demo(args.home, args.port)
    cold: list[dict[str, float]] = []
    warm: list[dict[str, float]] = []
    try:
        with sync_playwright() as playwright:
            for _ in range(args.runs):
                with tempfile.TemporaryDirectory(prefix="console-bench-") as profile:
                    context = playwright.chromium.launch_persistent_context(
                        profile,
                        executable_path=str(CHROMIUM),
                        args=CHROMIUM_ARGS,
                        headless=True,
                        viewport=DESKTOP,
                    )
                    page = context.new_page()
                    cold.append(measure(page, link))
                    warm.append(measure(page, None))
                    if args.screenshot:
                        page.screenshot(path=str(args.screenshot), full_page=True)
                    context.close()
                time.sleep(0.2)
    finally:
        demo.terminate()
        demo.wait(30)

    def summary(runs: list[dict[str, float]]) -> dict[str, Any]:
        return {
            key: {
                "median_ms": round(statistics.median(r[key] for r in runs), 1),
                "max_ms": round(max(r[key] for r in runs), 1),
            }
            for key in ("dom", "figures", "ready", "cockpit")
        }

    results = {
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, {CHROMIUM} headless",
        "runs": args.runs,
        "cold": summary(cold),
        "warm": summary(warm),
    }
    (HERE / "results-console.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
