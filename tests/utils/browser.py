"""Headless Chromium for the console's browser tests: Debian's `chromium` driven by
Playwright's Python package (its own browser download cannot work here).

There is no skip: without /usr/bin/chromium the tests that need it fail, naming
the packages to install (`.ci/run` installs them as root)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags Chromium floods the closed network with refused
# connections (DESIGN §11).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"


@contextmanager
def chromium(user_data_dir: Path) -> Iterator[BrowserContext]:
    """A browser with a fresh profile in `user_data_dir`, desktop-sized, in China time."""
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: install Debian's browser and CJK fonts as root "
            "(apt-get install -y chromium fonts-noto-cjk; .ci/run does it)"
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=DESKTOP,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        try:
            yield context
        finally:
            context.close()


def screenshot_path(name: str) -> Path:
    """Where a test keeps a screenshot (test-artifacts/console/, gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"
