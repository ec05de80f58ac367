"""The console's files ship with the package and reference only each other."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from api.console import STATIC, sign_in_link

ROOT = Path(__file__).resolve().parents[2]


def test_every_console_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["api"]
    files = [
        p.relative_to(STATIC.parent.parent).as_posix() for p in STATIC.rglob("*") if p.is_file()
    ]

    left_out = [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)]

    assert len(files) > 10
    assert left_out == []


def test_the_pages_load_only_files_that_exist() -> None:
    index = (STATIC / "index.html").read_text(encoding="utf-8")
    linked = re.findall(r'(?:src|href)="([^"#:]+)"', index)
    scripts = STATIC / "js"
    imported = [
        (scripts / name).resolve()
        for script in scripts.glob("*.js")
        for name in re.findall(r"from '(\./[\w.]+)'", script.read_text(encoding="utf-8"))
    ]

    assert {"app.css", "vendor/echarts.common.min.js", "js/app.js"} <= set(linked)
    assert [p for p in [STATIC / name for name in linked] + imported if not p.is_file()] == []


def test_a_sign_in_link_keeps_the_token_in_the_fragment() -> None:
    assert sign_in_link("http://127.0.0.1:8000/", "a.b.c") == "http://127.0.0.1:8000/#token=a.b.c"
