"""The console (联动协商驾驶舱): static pages served at `/` that speak only GraphQL.

The pages are plain ES modules with Apache ECharts vendored beside them
(`static/vendor/`), shipped as package data: no Node build, no network at run
time. They keep the bearer token in the tab's sessionStorage; a sign-in link
carries it in the URL fragment, which browsers never send to the server.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
# The pages load only their own files and talk only to this origin; ECharts sets
# element styles, hence 'unsafe-inline' for styles (never for scripts).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ConsoleFiles(StaticFiles):
    """The console's files, with headers that keep its pages to their own origin."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def mount_console(app: FastAPI) -> None:
    """Serve the console at `/`; mounted last, so every API route keeps its path."""
    app.mount("/", ConsoleFiles(directory=STATIC, html=True), name="console")


def sign_in_link(base_url: str, token: str) -> str:
    """A link that signs the console in with `token` (in the fragment: not sent, not logged)."""
    return f"{base_url.rstrip('/')}/#token={token}"
