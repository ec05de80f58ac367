"""The console's files ship with the package and reference only each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from api.console import STATIC, sign_in_link
from api.dev_pages import GRAPHIQL_TEMPLATE

ROOT = Path(__file__).resolve().parents[2]


def test_every_console_file_is_package_data() -> None:
    """As setuptools reads the patterns: globs from the package, `*` stays in its folder."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["api"]
    package = STATIC.parent.parent
    shipped = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    files = {p for p in STATIC.rglob("*") if p.is_file()} | {GRAPHIQL_TEMPLATE}

    left_out = sorted(p.relative_to(package).as_posix() for p in files - shipped)

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


def test_graphiql_loads_only_vendored_files_that_exist() -> None:
    page = GRAPHIQL_TEMPLATE.read_text(encoding="utf-8")
    linked = re.findall(r'(?:src|href)="\{\{root\}\}/([^"]+)"', page)

    assert len(linked) == 7  # react, react-dom, graphiql (js, css), explorer (js, css), ours
    assert [name for name in linked if not (STATIC / name).is_file()] == []
    assert re.findall(r'(?:src|href)="(https?:[^"]*)"', page) == []


def test_a_sign_in_link_keeps_the_token_in_the_fragment() -> None:
    assert sign_in_link("http://127.0.0.1:8000/", "a.b.c") == "http://127.0.0.1:8000/#token=a.b.c"
